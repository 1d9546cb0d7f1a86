"""What this machine is: CPU, memory, GPUs, available runtimes and a stable fingerprint.

Importing this package imports no framework; :func:`probe` imports them (through
:func:`hwfit.runtimes.probe_all`) only when asked for the runtimes.
"""

from __future__ import annotations

import platform

from hwfit.hardware.cpu import probe_cpu, total_memory_bytes
from hwfit.hardware.fingerprint import fingerprint

# `fingerprint` names both a submodule and the function re-exported here; importing the
# submodule again under another name (pytest's doctest collection does) rebinds the package
# attribute to the module, so probe() calls the function through a private alias.
from hwfit.hardware.fingerprint import fingerprint as _fingerprint
from hwfit.hardware.gpu import probe_gpus
from hwfit.records import Availability
from hwfit.records.hardware import ISA_FEATURES, CpuInfo, GpuInfo, HardwareProfile

__all__ = [
    "ISA_FEATURES",
    "CpuInfo",
    "GpuInfo",
    "HardwareProfile",
    "fingerprint",
    "probe",
    "probe_cpu",
    "probe_gpus",
    "total_memory_bytes",
]


def probe(include_runtimes: bool = True) -> HardwareProfile:
    """Describe this machine.

    Args:
        include_runtimes: Also probe every registered runtime (imports the frameworks, which
            takes a few seconds); False leaves ``runtimes`` empty.

    Returns:
        The profile; missing information is None or empty, never an error.

    Example:
        >>> profile = probe(include_runtimes=False)
        >>> profile.cpu.physical_cores >= 1 and len(profile.fingerprint) == 16
        True
    """
    cpu = probe_cpu()
    memory = total_memory_bytes()
    gpus = probe_gpus()
    runtimes: tuple[Availability, ...] = ()
    if include_runtimes:
        from hwfit.runtimes import probe_all  # imported late: runtimes may refer to hardware

        runtimes = tuple(probe_all())
    return HardwareProfile(
        fingerprint=_fingerprint(cpu, memory, gpus),
        cpu=cpu,
        memory_bytes=memory,
        os=platform.platform(),
        python=platform.python_version(),
        gpus=gpus,
        runtimes=runtimes,
    )
