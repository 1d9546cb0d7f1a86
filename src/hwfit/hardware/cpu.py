"""The CPU: vendor, model, cores, caches and the ISA features that decide inference speed.

On Linux everything comes from the kernel (``/proc/cpuinfo``, ``/sys/devices/system/cpu``),
whose feature flags are the ones the OS has enabled; py-cpuinfo (slow: it runs a subprocess)
fills in only what the kernel did not say, and is the main source on macOS and Windows.
"""

from __future__ import annotations

import functools
import logging
import os
import platform
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import psutil

from hwfit.records.hardware import ISA_FEATURES, CpuInfo

__all__ = ["features_from_flags", "normalize_arch", "probe_cpu", "total_memory_bytes"]

logger = logging.getLogger(__name__)

_PROC_CPUINFO = Path("/proc/cpuinfo")
_SYS_CACHE = Path("/sys/devices/system/cpu/cpu0/cache")

_ARCH_ALIASES: dict[str, str] = {
    "amd64": "x86_64",
    "x64": "x86_64",
    "x86-64": "x86_64",
    "arm64": "aarch64",
    "armv8": "aarch64",
    "i386": "x86",
    "i686": "x86",
}

# Flag spellings that differ from ours beyond underscores (which are ignored when matching).
_FLAG_ALIASES: dict[str, str] = {
    "asimd": "neon",  # Linux on AArch64 calls NEON "asimd"
    "sve2": "sve",
}

_X86_VENDORS: dict[str, str] = {
    "authenticamd": "AMD",
    "genuineintel": "Intel",
    "hygongenuine": "Hygon",
    "centaurhauls": "Centaur",
}

# "CPU implementer" codes of /proc/cpuinfo on ARM (from the Arm ARM MIDR_EL1 table).
_ARM_IMPLEMENTERS: dict[str, str] = {
    "0x41": "ARM",
    "0x42": "Broadcom",
    "0x46": "Fujitsu",
    "0x48": "HiSilicon",
    "0x4e": "NVIDIA",
    "0x51": "Qualcomm",
    "0x61": "Apple",
    "0xc0": "Ampere",
}

_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMG]?)(?:I?B)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3}


def probe_cpu() -> CpuInfo:
    """Describe this machine's CPU.

    Never raises for missing information: unknown sizes and frequencies are None, an unknown
    brand is "unknown".

    Example:
        >>> cpu = probe_cpu()
        >>> cpu.logical_threads >= cpu.physical_cores >= 1
        True
    """
    proc = _proc_cpuinfo()
    arch = normalize_arch(platform.machine())
    logical = int(psutil.cpu_count(logical=True) or os.cpu_count() or 1)
    physical = min(int(psutil.cpu_count(logical=False) or logical), logical)
    l1d, l2, l3 = _sysfs_caches()
    if l1d is None or l2 is None or l3 is None:
        info = _py_cpuinfo()
        l1d = l1d or _parse_size(info.get("l1_data_cache_size"))
        l2 = l2 or _parse_size(info.get("l2_cache_size"))
        l3 = l3 or _parse_size(info.get("l3_cache_size"))
    return CpuInfo(
        vendor=_vendor(proc),
        brand=_brand(proc),
        arch=arch,
        physical_cores=physical,
        logical_threads=logical,
        usable_threads=_usable_threads(logical),
        features=features_from_flags(_flags(proc), arch),
        l1d_cache_bytes=l1d,
        l2_cache_bytes=l2,
        l3_cache_bytes=l3,
        frequency_mhz=_frequency_mhz(proc),
    )


def total_memory_bytes() -> int:
    """Return the machine's total physical memory in bytes."""
    return int(psutil.virtual_memory().total)


def normalize_arch(machine: str) -> str:
    """Return one spelling per architecture ("AMD64" -> "x86_64", "arm64" -> "aarch64").

    Args:
        machine: What ``platform.machine()`` returned.

    Example:
        >>> normalize_arch("AMD64"), normalize_arch("arm64")
        ('x86_64', 'aarch64')
    """
    name = machine.strip().lower()
    return _ARCH_ALIASES.get(name, name) or "unknown"


def features_from_flags(flags: Iterable[str], arch: str) -> tuple[str, ...]:
    """Map raw CPU flags to the sorted subset of :data:`ISA_FEATURES` they imply.

    Accepts both the Linux spellings (``avx512_vnni``) and py-cpuinfo's CPUID spellings
    (``avx512vnni``): underscores, dashes and case are ignored when matching.

    Args:
        flags: Flags from ``/proc/cpuinfo`` or ``cpuinfo.get_cpu_info()["flags"]``.
        arch: The normalized architecture; on ``aarch64`` NEON is mandatory and always listed.

    Example:
        >>> features_from_flags(["avx2", "avx512vnni", "sse4_2"], "x86_64")
        ('avx2', 'avx512_vnni')
    """
    by_key = {_flag_key(name): name for name in ISA_FEATURES}
    found: set[str] = set()
    for flag in flags:
        key = _flag_key(flag)
        if key in by_key:
            found.add(by_key[key])
        elif key in _FLAG_ALIASES:
            found.add(_FLAG_ALIASES[key])
    if arch == "aarch64":
        found.add("neon")
    return tuple(sorted(found))


def _flag_key(flag: str) -> str:
    return flag.strip().lower().replace("_", "").replace("-", "")


def _proc_cpuinfo() -> dict[str, str]:
    """Return the first value of every key in ``/proc/cpuinfo`` (empty off Linux)."""
    try:
        text = _PROC_CPUINFO.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return {}
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields.setdefault(key.strip().lower(), value.strip())
    return fields


@functools.cache
def _py_cpuinfo() -> dict[str, Any]:
    """Return py-cpuinfo's description, computed once per process ({} if it fails)."""
    try:
        import cpuinfo

        info = cpuinfo.get_cpu_info()
    except Exception:  # py-cpuinfo runs a subprocess and parses OS tools; it can fail oddly
        logger.debug("py-cpuinfo failed", exc_info=True)
        return {}
    return dict(info) if isinstance(info, dict) else {}


def _flags(proc: dict[str, str]) -> list[str]:
    # The kernel's list is authoritative: CPUID may report features the OS has not enabled
    # (AMX, AVX-512 under some hypervisors), which would crash or trap when used.
    raw = proc.get("flags") or proc.get("features")
    if raw:
        return raw.split()
    flags = _py_cpuinfo().get("flags") or []
    return [str(f) for f in flags]


def _brand(proc: dict[str, str]) -> str:
    candidates: list[object] = [proc.get("model name")]
    if not proc.get("model name"):  # ARM Linux, macOS, Windows
        candidates += [_py_cpuinfo().get("brand_raw"), proc.get("hardware"), platform.processor()]
    for candidate in candidates:
        if isinstance(candidate, str) and candidate.strip():
            return " ".join(candidate.split())
    return "unknown"


def _vendor(proc: dict[str, str]) -> str:
    raw = proc.get("vendor_id")
    if raw:
        return _X86_VENDORS.get(raw.lower(), raw)
    implementer = proc.get("cpu implementer")
    if implementer:
        return _ARM_IMPLEMENTERS.get(implementer.lower(), implementer)
    raw = str(_py_cpuinfo().get("vendor_id_raw") or "").strip()
    if raw:
        return _X86_VENDORS.get(raw.lower(), raw)
    brand = str(_py_cpuinfo().get("brand_raw") or "")
    return "Apple" if brand.startswith("Apple") else "unknown"


def _usable_threads(logical: int) -> int:
    if hasattr(os, "sched_getaffinity"):
        return max(1, min(len(os.sched_getaffinity(0)), logical))
    return logical


def _frequency_mhz(proc: dict[str, str]) -> float | None:
    try:
        freq = psutil.cpu_freq()
    except Exception:  # psutil raises various OS errors where cpufreq is not exposed
        freq = None
    if freq is not None and freq.max and freq.max > 0:
        return float(freq.max)
    mhz = proc.get("cpu mhz")
    if mhz:
        try:
            return round(float(mhz), 1)
        except ValueError:
            pass
    hz = _py_cpuinfo().get("hz_advertised")
    if isinstance(hz, list | tuple) and hz and isinstance(hz[0], int) and hz[0] > 0:
        return round(hz[0] / 1e6, 1)
    return None


def _sysfs_caches() -> tuple[int | None, int | None, int | None]:
    """Return (L1d, L2, L3) sizes of cpu0's caches from sysfs (Nones off Linux)."""
    sizes: dict[tuple[int, str], int] = {}
    try:
        indexes = sorted(_SYS_CACHE.glob("index*"))
    except OSError:
        return None, None, None
    for index in indexes:
        try:
            level = int((index / "level").read_text().strip())
            kind = (index / "type").read_text().strip().lower()
            size = _parse_size((index / "size").read_text())
        except (OSError, ValueError):
            continue
        if size is not None:
            sizes.setdefault((level, kind), size)
    l1d = sizes.get((1, "data"), sizes.get((1, "unified")))
    l2 = sizes.get((2, "unified"), sizes.get((2, "data")))
    l3 = sizes.get((3, "unified"), sizes.get((3, "data")))
    return l1d, l2, l3


def _parse_size(value: object) -> int | None:
    """Parse ``32K``, ``1024 KB``, ``1 MiB`` or a byte count; None when absent or malformed."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value if value > 0 else None
    match = _SIZE_RE.match(str(value))
    if not match:
        return None
    size = int(float(match.group(1)) * _SIZE_UNITS[match.group(2).upper()])
    return size if size > 0 else None
