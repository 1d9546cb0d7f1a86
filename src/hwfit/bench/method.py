"""The measuring method: warm-up until latency settles, then timed runs.

Timed runs go on until the 95% CI of the median is narrow enough or the time limit is reached.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

from hwfit.bench.stats import median_ci

__all__ = ["time_ms", "timed_loop", "warm_up"]

WARMUP_WINDOW = 5  # runs per window; warm-up ends when two windows' medians agree
WARMUP_TOLERANCE = 0.05


def time_ms(fn: Callable[[], None]) -> float:
    """Run ``fn`` once; its wall time in ms."""
    start = time.perf_counter_ns()
    fn()
    return (time.perf_counter_ns() - start) / 1e6


def warm_up(fn: Callable[[], None], max_s: float) -> int:
    """Run ``fn`` until its latency settles; return the number of warm-up runs.

    Latency has settled when the medians of two consecutive windows of runs differ by less
    than 5%. Gives up after ``max_s`` seconds (at least two runs are always made).
    """
    start = time.perf_counter()
    previous: float | None = None
    runs = 0
    while True:
        window = [time_ms(fn) for _ in range(WARMUP_WINDOW)]
        runs += len(window)
        current = statistics.median(window)
        if previous is not None and abs(current - previous) <= WARMUP_TOLERANCE * previous:
            return runs
        if time.perf_counter() - start >= max_s:
            return runs
        previous = current


def timed_loop(
    fn: Callable[[], None],
    *,
    duration_s: float,
    min_runs: int,
    min_time_s: float = 0.0,
    max_runs: int,
    target_ci_rel: float,
) -> tuple[list[float], float]:
    """Time ``fn`` repeatedly; return the latencies (ms) and the wall time of the loop.

    Stops when at least ``min_runs`` were made and ``min_time_s`` has passed, and either the
    95% CI of the median is within ``+-target_ci_rel`` of it or ``duration_s`` has passed; never
    beyond ``max_runs``. The time floor keeps a quiet spell of a few milliseconds from deciding
    the number: transient slow-downs (another process, frequency changes) get a chance to show.
    """
    min_time_s = min(min_time_s, duration_s)
    samples: list[float] = []
    start = time.perf_counter()
    next_check = max(min_runs, 10)
    while len(samples) < max_runs:
        samples.append(time_ms(fn))
        n = len(samples)
        if n < min_runs:
            continue
        elapsed = time.perf_counter() - start
        if elapsed >= duration_s:
            break
        if elapsed < min_time_s:
            continue
        if n >= next_check:
            low, high = median_ci(samples)
            median = statistics.median(samples)
            if max(median - low, high - median) <= target_ci_rel * median:
                break
            next_check = n + max(5, n // 10)  # checking is O(n log n): not after every run
    return samples, time.perf_counter() - start
