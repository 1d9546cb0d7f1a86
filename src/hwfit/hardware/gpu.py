"""GPUs: name, memory and driver when present; an empty tuple when absent.

Only NVIDIA GPUs are found today, through ``nvidia-smi``, so that probing never imports a
framework (importing torch to ask CUDA takes seconds and gigabytes).
"""

from __future__ import annotations

import logging
import shutil
import subprocess

from hwfit.records.hardware import GpuInfo

__all__ = ["parse_nvidia_smi", "probe_gpus"]

logger = logging.getLogger(__name__)

_NVIDIA_SMI_QUERY = (
    "--query-gpu=name,memory.total,driver_version",
    "--format=csv,noheader,nounits",
)
_MIB = 1024 * 1024


def probe_gpus(timeout_s: float = 10.0) -> tuple[GpuInfo, ...]:
    """Return the NVIDIA GPUs that ``nvidia-smi`` lists; never raises.

    Args:
        timeout_s: How long ``nvidia-smi`` may take; a hung driver counts as no GPU.

    Returns:
        One record per GPU, in ``nvidia-smi`` order; empty when the tool is missing, fails,
        times out or prints nothing it understands.

    Example:
        >>> isinstance(probe_gpus(), tuple)
        True
    """
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return ()
    try:
        done = subprocess.run(
            [exe, *_NVIDIA_SMI_QUERY],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        logger.debug("nvidia-smi could not run: %s", exc)
        return ()
    if done.returncode != 0:
        logger.debug("nvidia-smi exited with %d: %s", done.returncode, done.stderr.strip())
        return ()
    return parse_nvidia_smi(done.stdout)


def parse_nvidia_smi(text: str) -> tuple[GpuInfo, ...]:
    """Parse ``nvidia-smi --query-gpu=name,memory.total,driver_version`` CSV output.

    Args:
        text: Its stdout with ``--format=csv,noheader,nounits`` (memory in MiB).

    Returns:
        One record per well-formed line; malformed lines are skipped.

    Example:
        >>> parse_nvidia_smi("NVIDIA H100 80GB HBM3, 81559, 550.54.15")[0].memory_bytes
        85520809984
    """
    gpus = []
    for line in text.splitlines():
        parts = [p.strip() for p in line.rsplit(",", 2)]
        if len(parts) != 3 or not parts[0]:
            continue
        name, memory, driver = parts
        gpus.append(
            GpuInfo(
                name=name,
                memory_bytes=int(memory) * _MIB if memory.isdigit() else None,
                driver_version=driver if driver and not driver.startswith("[") else None,
            )
        )
    return tuple(gpus)
