"""Measure ahead of other work: timed loops at real-time CPU priority where the system allows.

A latency measured while another process competes for the cores is the latency of a shared
machine, not of the model, and it distorts speed-ups as well: a 2-thread runtime on 2 cores
with one busy neighbour waits, at every barrier, for its descheduled thread to get the core
back, which the scheduler grants a slice (milliseconds) later. Measured here: PyTorch eager
resnet18 goes from 23 ms to 900 ms, OpenVINO from 12 to 20 ms, and a 1.8x speed-up reads 40x.
Retrying only helps against bursts, and a nice value does not help at all: the kernel's EEVDF
scheduler lets the running task finish its slice whatever the waiting task's weight.

So during its timed loops (and only then) a measuring worker moves every one of its threads to
the real-time class, ``SCHED_FIFO`` at priority 1, the lowest real-time priority: the
scheduler then runs them the moment they are runnable, ahead of every ordinary task, and the
loop sees the machine as a quiet one would (measured: 21 ms with the neighbour busy). The
kernel's real-time throttling (``kernel.sched_rt_runtime_us``: 95% of each second by default)
keeps the rest of the system running, the loops are bounded (seconds), and the parent, an
ordinary process, still enforces its time-out. After the loop every thread goes back to the
normal class.

It needs root, ``CAP_SYS_NICE`` or an ``RLIMIT_RTPRIO`` above 0. Without them the loop runs at
normal priority, the measurement says so, and contention is only detected and marked
(:mod:`hwfit.bench.contention`). ``HWFIT_PRIORITY=normal`` turns it off.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

__all__ = ["ENV_VAR", "RAISED", "ahead_of_others", "can_raise"]

ENV_VAR = "HWFIT_PRIORITY"
RAISED = "real-time"
_TASKS = Path("/proc/self/task")
_RT_PRIORITY = 1  # the lowest real-time priority: ahead of ordinary tasks, behind the kernel's


def _threads() -> list[int]:
    try:
        return [int(p.name) for p in _TASKS.iterdir()]
    except OSError:
        return [0]


def _set(policy: int, priority: int, threads: list[int]) -> None:
    for tid in threads:
        with contextlib.suppress(ProcessLookupError):  # a thread that ended meanwhile
            os.sched_setscheduler(tid, policy, os.sched_param(priority))


def can_raise() -> str:
    """Return :data:`RAISED` when timed loops can run at real-time priority, else why not.

    Example:
        >>> can_raise() == RAISED or can_raise().startswith("normal")
        True
    """
    if os.environ.get(ENV_VAR, "").strip().lower() == "normal":
        return f"normal ({ENV_VAR}=normal)"
    if not hasattr(os, "sched_setscheduler"):
        return "normal (no real-time scheduling on this OS)"
    try:
        _set(os.SCHED_FIFO, _RT_PRIORITY, [0])
    except OSError as exc:
        return f"normal (not permitted: {exc.strerror}; run as root or grant CAP_SYS_NICE)"
    _set(os.SCHED_OTHER, 0, [0])
    return RAISED


@contextlib.contextmanager
def ahead_of_others() -> Iterator[str]:
    """Run the block with every thread of this process at real-time priority, if allowed.

    Threads that start inside the block inherit it; on exit every thread returns to the
    normal class (nice values are left as they were).

    Yields:
        :data:`RAISED`, or ``"normal (...)"`` with the reason the priority stayed as it was.
    """
    said = can_raise()
    if said != RAISED:
        yield said
        return
    _set(os.SCHED_FIFO, _RT_PRIORITY, _threads())
    try:
        yield said
    finally:
        _set(os.SCHED_OTHER, 0, _threads())
