"""Frozen records of what this machine is: CPU, memory, GPUs and the runtimes it can run.

They hold JSON-friendly values only (tuples, str, int, float, bool, None), so a profile
round-trips through :meth:`HardwareProfile.to_dict` / :meth:`HardwareProfile.from_dict`, the
database and the report footer. :func:`hwfit.hardware.probe` fills them in.
"""

from __future__ import annotations

import dataclasses
import difflib

from hwfit.errors import UnknownNameError
from hwfit.records.core import Availability, Record

__all__ = ["ISA_FEATURES", "CpuInfo", "GpuInfo", "HardwareProfile"]

#: The instruction-set features that decide inference speed, in hwfit's own names, ordered
#: from the oldest to the newest extension of each family.
ISA_FEATURES: tuple[str, ...] = (
    "avx2",
    "fma",
    "f16c",
    "avx512f",
    "avx512_vnni",
    "avx_vnni",
    "avx512_bf16",
    "avx512_fp16",
    "amx_bf16",
    "amx_int8",
    "amx_fp16",
    "neon",
    "sve",
)

_FEATURE_LABELS: dict[str, str] = {
    "avx2": "AVX2",
    "fma": "FMA",
    "f16c": "F16C",
    "avx512f": "AVX-512",
    "avx512_vnni": "AVX512-VNNI",
    "avx_vnni": "AVX-VNNI",
    "avx512_bf16": "AVX512-BF16",
    "avx512_fp16": "AVX512-FP16",
    "amx_bf16": "AMX-BF16",
    "amx_int8": "AMX-INT8",
    "amx_fp16": "AMX-FP16",
    "neon": "NEON",
    "sve": "SVE",
}


def _check_feature(feature: str) -> None:
    # A typo ("avx512vnni") would otherwise read as "this CPU lacks it" and silently skip work.
    if feature in ISA_FEATURES:
        return
    close = difflib.get_close_matches(feature, ISA_FEATURES, n=3, cutoff=0.5)
    suggestion = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    raise UnknownNameError(
        f"Unknown ISA feature {feature!r}.{suggestion}",
        hint=f"Known: {', '.join(ISA_FEATURES)}.",
    )


@dataclasses.dataclass(frozen=True)
class CpuInfo:
    """The CPU: identity, topology, cache sizes and the ISA features hwfit cares about.

    Attributes:
        vendor: "AMD", "Intel", "Apple", "ARM", ... or the raw vendor id; "unknown" if none.
        brand: The model name as the OS reports it (e.g. "AMD EPYC 9R14").
        arch: Normalized machine architecture: "x86_64", "aarch64", ...
        physical_cores: Physical cores of the machine (not of this process's affinity).
        logical_threads: Hardware threads of the machine (>= physical_cores).
        usable_threads: Hardware threads this process may run on (CPU affinity).
        features: Sorted names out of :data:`ISA_FEATURES` that this CPU (and OS) supports.
        l1d_cache_bytes: L1 data cache of one core, if known.
        l2_cache_bytes: L2 cache of one instance (usually per core), if known.
        l3_cache_bytes: L3 cache of one instance (per socket or core complex), if known.
        frequency_mhz: Maximum (or, failing that, nominal) clock frequency, if known.
    """

    vendor: str
    brand: str
    arch: str
    physical_cores: int
    logical_threads: int
    usable_threads: int
    features: tuple[str, ...] = ()
    l1d_cache_bytes: int | None = None
    l2_cache_bytes: int | None = None
    l3_cache_bytes: int | None = None
    frequency_mhz: float | None = None

    def has(self, feature: str) -> bool:
        """Return True when this CPU supports ``feature``.

        Args:
            feature: A name out of :data:`ISA_FEATURES`, e.g. ``"avx512_vnni"``.

        Raises:
            UnknownNameError: ``feature`` is not one of :data:`ISA_FEATURES`.
        """
        _check_feature(feature)
        return feature in self.features


@dataclasses.dataclass(frozen=True)
class GpuInfo:
    """One GPU: its name, memory and driver.

    Attributes:
        name: The product name, e.g. "NVIDIA H100 80GB HBM3".
        memory_bytes: Total device memory, if reported.
        driver_version: The driver version, if reported.
        vendor: Who made it ("NVIDIA").
    """

    name: str
    memory_bytes: int | None = None
    driver_version: str | None = None
    vendor: str = "NVIDIA"


@dataclasses.dataclass(frozen=True)
class HardwareProfile(Record):
    """Everything about this machine that decides how fast a model runs on it.

    Attributes:
        fingerprint: Stable 16-hex id of the performance-relevant hardware; results are keyed
            by it (see :func:`hwfit.hardware.fingerprint`).
        cpu: The CPU.
        memory_bytes: Total physical memory.
        os: The operating system, as ``platform.platform()`` writes it.
        python: The Python version, e.g. "3.11.7".
        gpus: The GPUs found (empty without any).
        runtimes: Whether each registered runtime can run here, and why not.

    Example:
        >>> from hwfit.hardware import probe
        >>> profile = probe(include_runtimes=False)
        >>> HardwareProfile.from_dict(profile.to_dict()) == profile
        True
    """

    fingerprint: str
    cpu: CpuInfo
    memory_bytes: int
    os: str
    python: str
    gpus: tuple[GpuInfo, ...] = ()
    runtimes: tuple[Availability, ...] = ()

    def has(self, feature: str) -> bool:
        """Return True when the CPU supports ``feature`` (a name out of :data:`ISA_FEATURES`).

        Raises:
            UnknownNameError: ``feature`` is not one of :data:`ISA_FEATURES`.
        """
        return self.cpu.has(feature)

    @property
    def isa_summary(self) -> str:
        """The CPU's features as readable labels, e.g. "AVX2 FMA F16C AVX-512 AVX512-VNNI"."""
        labels = [_FEATURE_LABELS[f] for f in ISA_FEATURES if f in self.cpu.features]
        return " ".join(labels) if labels else "none"
