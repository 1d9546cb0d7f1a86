"""The stable machine id that results are keyed by.

The id hashes only what decides performance, so two runs on the same machine (or on two
identical machines) share it, while a different CPU, memory size or GPU gets a new one.
Hostname, clock, load, current frequency and CPU affinity are deliberately left out.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable

from hwfit.records.hardware import CpuInfo, GpuInfo

__all__ = ["fingerprint"]

# Bump when the hashed fields change, so old and new ids never collide by accident.
_SCHEMA = 1
_GIB = 1024**3


def fingerprint(cpu: CpuInfo, memory_bytes: int, gpus: Iterable[GpuInfo] = ()) -> str:
    """Return a 16-hex-digit id of the hardware that decides performance.

    Hashes the architecture, CPU brand, physical cores, logical threads, sorted ISA features,
    memory rounded to whole GiB and the sorted GPU names.

    Args:
        cpu: The CPU.
        memory_bytes: Total physical memory.
        gpus: The GPUs; their order does not matter.

    Example:
        >>> cpu = CpuInfo("AMD", "AMD EPYC", "x86_64", 2, 4, 4, ("avx2", "fma"))
        >>> fingerprint(cpu, 8 * 1024**3) == fingerprint(cpu, 8 * 1024**3 + 12345)
        True
        >>> len(fingerprint(cpu, 8 * 1024**3))
        16
    """
    payload = {
        "schema": _SCHEMA,
        "arch": cpu.arch,
        "brand": " ".join(cpu.brand.split()),
        "physical_cores": cpu.physical_cores,
        "logical_threads": cpu.logical_threads,
        "features": sorted(set(cpu.features)),
        "memory_gib": round(memory_bytes / _GIB),
        "gpus": sorted(gpu.name for gpu in gpus),
    }
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]
