"""How much of the CPU others took while we measured: other processes and the hypervisor.

A latency measured while another process (or, on a VM, another guest: *steal* time) uses the
cores is not the model's latency. With a 2-thread runtime on 2 cores, one busy neighbour makes
every parallel region wait for a descheduled thread, and sub-millisecond models get 10-20x
slower for as long as it lasts. Nothing in the timings alone tells that apart from a slow model,
so the measurement watches the machine: Linux's ``/proc/stat`` counts every CPU's busy and
stolen time, the process's own CPU time (all threads) is subtracted, and what is left is
contention, as a share of the machine's capacity over the measured interval.

Where ``/proc/stat`` does not exist (macOS, Windows) the probe says NaN: unknown, not zero.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ContentionProbe", "cpu_ticks"]

_PROC_STAT = Path("/proc/stat")


@dataclass(frozen=True)
class _Ticks:
    busy_s: float  # user + nice + system + irq + softirq, all CPUs, seconds
    steal_s: float
    own_s: float  # this process's CPU time, all threads
    wall_s: float


def cpu_ticks() -> tuple[float, float] | None:
    """Busy and stolen CPU seconds of the whole machine since boot, or None off Linux."""
    try:
        first = _PROC_STAT.read_text().split("\n", 1)[0].split()
    except OSError:
        return None
    if not first or first[0] != "cpu":
        return None
    values = [int(v) for v in first[1:]]
    hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    user, nice, system, _idle, _iowait, irq, softirq = values[:7]
    steal = values[7] if len(values) > 7 else 0
    return (user + nice + system + irq + softirq) / hz, steal / hz


def _now() -> _Ticks | None:
    ticks = cpu_ticks()
    if ticks is None:
        return None
    return _Ticks(ticks[0], ticks[1], time.process_time(), time.perf_counter())


class ContentionProbe:
    """Measures the share of the CPU taken by others between :meth:`start` and :meth:`stop`.

    Example::

        probe = ContentionProbe().start()
        run_the_timed_loop()
        share = probe.stop()   # 0.0 quiet machine, 0.5 one of two cores busy elsewhere

    The result counts other processes' CPU time and hypervisor steal, divided by the
    interval's wall time times the CPU count; it is clipped to [0, 1]. Resolution is the
    kernel tick (10 ms per CPU), so intervals under ~1 s give coarse answers.
    """

    def __init__(self) -> None:
        self._start: _Ticks | None = None
        self.cpus = os.cpu_count() or 1

    def start(self) -> ContentionProbe:
        """Start the interval (returns self)."""
        self._start = _now()
        return self

    def stop(self) -> float:
        """The share of the machine others used since :meth:`start`; NaN off Linux."""
        begin, end = self._start, _now()
        if begin is None or end is None:
            return math.nan
        wall = end.wall_s - begin.wall_s
        if wall <= 0:
            return math.nan
        others = (end.busy_s - begin.busy_s) - (end.own_s - begin.own_s)
        steal = end.steal_s - begin.steal_s
        share = (max(0.0, others) + max(0.0, steal)) / (wall * self.cpus)
        return min(1.0, share)
