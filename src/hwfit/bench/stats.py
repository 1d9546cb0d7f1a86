"""Statistics of latency samples: percentiles, the CI of the median, noise flags (pure)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from hwfit.records import LatencyStats

__all__ = ["median_ci", "noise_flags", "quiet_latency", "summarize"]

Z95 = 1.959963984540054


def median_ci(samples: Sequence[float], confidence: float = 0.95) -> tuple[float, float]:
    """Distribution-free confidence interval of the median (binomial order statistics).

    The interval is ``[x_(j), x_(k)]`` with ``j, k`` chosen so that the number of samples below
    the true median, Binomial(n, 1/2), falls between them with at least ``confidence``.

    Example:
        >>> median_ci([float(i) for i in range(1, 101)])
        (40.0, 61.0)
    """
    xs = sorted(samples)
    n = len(xs)
    if n == 0:
        raise ValueError("median_ci needs at least one sample")
    if n < 6:  # too few for any 95% interval: the whole range is the honest answer
        return xs[0], xs[-1]
    alpha = 1.0 - confidence
    if n <= 1000:
        # Largest j with P(B <= j-1) <= alpha/2, from the exact binomial CDF.
        cdf, j = 0.0, 0
        for i in range(n + 1):
            cdf += math.comb(n, i) / 2.0**n
            if cdf > alpha / 2:
                break
            j = i + 1
        j = max(j, 1)
    else:
        j = max(1, math.floor(n / 2 - Z95 * math.sqrt(n) / 2))
    k = n - j + 1
    return xs[j - 1], xs[k - 1]


def noise_flags(samples: Sequence[float], ci_rel: float, target_ci_rel: float) -> tuple[str, ...]:
    """Reasons not to trust a measurement blindly: wide CI, two modes, drift, heavy tail."""
    flags: list[str] = []
    xs = np.asarray(samples, dtype=float)
    n = len(xs)
    median = float(np.median(xs))
    if ci_rel > target_ci_rel:
        flags.append(f"wide CI: median +-{ci_rel:.1%} (target +-{target_ci_rel:.0%})")
    if n >= 20 and _bimodal(xs):
        flags.append("bimodal: latencies fall in two separate groups")
    if n >= 30:
        third = n // 3
        first, last = float(np.median(xs[:third])), float(np.median(xs[-third:]))
        drift = (last - first) / first
        if abs(drift) > 0.05:
            flags.append(f"drift: last third {drift:+.0%} vs first third")
    if n >= 20:
        p99 = float(np.percentile(xs, 99))
        if p99 > 2.0 * median:
            flags.append(f"heavy tail: p99 is {p99 / median:.1f}x the median")
    return tuple(flags)


def _bimodal(xs: np.ndarray) -> bool:
    """Return True for two groups of latencies.

    Both tests must agree: Sarle's bimodality coefficient is above 5/9 (the value of a uniform
    distribution), and a 1-D two-means split finds two groups that each hold >= 20% of the
    samples, separated by more than 10% of the median and by more than three times their own
    spread. A long tail alone (a few slow calls) does not count: that is the tail flag's job.
    """
    s = np.sort(xs)
    n = len(s)
    if n < 20:
        return False
    d = s - s.mean()
    m2, m3, m4 = (float(np.mean(d**k)) for k in (2, 3, 4))
    if m2 <= 0:
        return False
    skew, kurt = m3 / m2**1.5, m4 / m2**2 - 3
    bc = (skew**2 + 1) / (kurt + 3 * (n - 1) ** 2 / ((n - 2) * (n - 3)))
    if bc <= 5 / 9:
        return False
    smallest = max(2, n // 5)
    csum, csum2 = np.cumsum(s), np.cumsum(s * s)
    total, total2 = csum[-1], csum2[-1]
    best_split, best_cost = 0, math.inf
    for i in range(smallest, n - smallest + 1):
        left_var = csum2[i - 1] - csum[i - 1] ** 2 / i
        right_var = (total2 - csum2[i - 1]) - (total - csum[i - 1]) ** 2 / (n - i)
        if left_var + right_var < best_cost:
            best_split, best_cost = i, left_var + right_var
    if best_split == 0:
        return False
    left, right = s[:best_split], s[best_split:]
    gap = float(np.median(right) - np.median(left))
    spread = float(max(_mad(left), _mad(right)))
    return gap > 0.10 * float(np.median(s)) and gap > 3.0 * 1.4826 * spread


def _mad(x: np.ndarray) -> float:
    return float(np.median(np.abs(x - np.median(x))))


def summarize(
    samples_ms: Sequence[float], *, warmup_runs: int, timed_s: float, target_ci_rel: float = 0.02
) -> LatencyStats:
    """Summarize timed latencies (ms) into :class:`LatencyStats` with noise flags."""
    xs = np.asarray(samples_ms, dtype=float)
    p50, p90, p99 = (float(v) for v in np.percentile(xs, [50, 90, 99]))
    low, high = median_ci(list(xs))
    ci_rel = max(p50 - low, high - p50) / p50 if p50 > 0 else math.inf
    return LatencyStats(
        n=len(xs),
        p50_ms=p50,
        p90_ms=p90,
        p99_ms=p99,
        mean_ms=float(xs.mean()),
        std_ms=float(xs.std(ddof=1)) if len(xs) > 1 else 0.0,
        min_ms=float(xs.min()),
        max_ms=float(xs.max()),
        ci_low_ms=float(low),
        ci_high_ms=float(high),
        ci_rel=float(ci_rel),
        warmup_runs=warmup_runs,
        timed_s=timed_s,
        noise=noise_flags(list(xs), ci_rel, target_ci_rel),
    )


def quiet_latency(
    samples_ms: Sequence[float], *, window_ms: float = 50.0, min_runs: int = 10
) -> float:
    """The latency of the quietest stretch of a timed loop: the lowest median of its windows.

    ``samples_ms`` (in the order they were taken) are cut into consecutive windows of at
    least ``window_ms`` of inference time and ``min_runs`` runs each; the result is the
    smallest window median. On a shared machine another process only ever adds time, so the
    quietest window estimates what the model costs when it has the cores to itself; it repeats
    better than the loop's median (``benchmarks/latency_predictor.py --repeat`` prints both),
    though not as well as a ratio to a reference model timed in alternating windows
    (:class:`hwfit.nas.latency.LatencyMeasurer` with ``reference=``). A loop too short for
    two windows gives its median.

    Args:
        samples_ms: Latencies of consecutive runs, in order.
        window_ms: Least inference time in one window.
        min_runs: Least runs in one window.

    Returns:
        The quiet latency in ms (NaN for no samples).
    """
    xs = np.asarray(samples_ms, dtype=float)
    if xs.size == 0:
        return math.nan
    medians: list[float] = []
    start, total = 0, 0.0
    for i, x in enumerate(xs):
        total += x
        if total >= window_ms and i + 1 - start >= min_runs:
            medians.append(float(np.median(xs[start : i + 1])))
            start, total = i + 1, 0.0
    if len(medians) < 2:
        return float(np.median(xs))
    return min(medians)
