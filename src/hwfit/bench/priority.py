"""Measure ahead of other work: raise the measuring worker's CPU scheduling priority.

A latency measured while another process competes for the cores is the latency of a shared
machine, not of the model, and it shifts speed-ups too: with a 2-thread runtime on 2 cores and
one busy neighbour, PyTorch eager (a barrier per operator) slows down far more than OpenVINO,
and a 1.8x speed-up reads 4x. Retrying only helps against bursts; a neighbour that stays busy
stays in every retry.

So a worker that measures asks the kernel to run it first: on Linux its *autogroup* (the
scheduling group of its session: a worker starts its own session, and with
``kernel.sched_autogroup_enabled`` the kernel shares the CPU between sessions before it looks at
nice values) and the process itself get nice -20. Under the CFS scheduler a nice -20 group
weighs about 87 times a nice 0 one, so a busy neighbour gets about 1% of a core while the worker
runs and the rest of the time as usual (nothing is starved for longer than a measurement).
Lowering a nice value needs root or ``CAP_SYS_NICE``; without them the priority stays as it was,
the measurement says so, and contention is then only detected and marked
(:mod:`hwfit.bench.contention`). ``HWFIT_PRIORITY=normal`` turns it off.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

__all__ = ["ENV_VAR", "NICE", "raise_priority"]

ENV_VAR = "HWFIT_PRIORITY"
NICE = -20
_AUTOGROUP = Path("/proc/self/autogroup")


def raise_priority() -> str:
    """Give this process (and the threads it starts later) nice -20; say what was done.

    Call it first thing in a worker, before a runtime starts its thread pool: threads inherit
    the nice value they are created with.

    Returns:
        ``"raised"`` when the process runs at nice -20 (and its autogroup too, where the
        kernel has autogroups), ``"normal"`` when turned off with ``HWFIT_PRIORITY=normal``,
        or ``"normal (not permitted: ...)"`` when the system refused.
    """
    if os.environ.get(ENV_VAR, "").strip().lower() == "normal":
        return "normal"
    if not hasattr(os, "nice"):
        return "normal (not supported on this OS)"
    try:
        os.setpriority(os.PRIO_PROCESS, 0, NICE)
    except OSError as exc:
        return f"normal (not permitted: {exc.strerror}; run as root or grant CAP_SYS_NICE)"
    if _AUTOGROUP.exists():
        # The session's group is what competes with other sessions; its nice is set apart.
        with contextlib.suppress(OSError):
            _AUTOGROUP.write_text(str(NICE))
    return "raised"
