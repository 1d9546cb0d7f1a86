import numpy as np
import pytest

from hwfit.bench.stats import median_ci, noise_flags, quiet_latency, summarize


@pytest.mark.parametrize(
    ("n", "ranks"),
    [(20, (6, 15)), (50, (18, 33)), (100, (40, 61))],  # published binomial order-statistic tables
    ids=["n20", "n50", "n100"],
)
def test_median_ci_matches_published_ranks(n, ranks):
    assert median_ci([float(i) for i in range(1, n + 1)]) == (float(ranks[0]), float(ranks[1]))


def test_median_ci_is_whole_range_when_too_few_samples():
    assert median_ci([3.0, 1.0, 2.0]) == (1.0, 3.0)


def test_median_ci_covers_true_median_about_95_percent():
    rng = np.random.default_rng(1)
    hits = sum(
        lo <= 0.0 <= hi
        for lo, hi in (median_ci(list(rng.standard_normal(40))) for _ in range(2000))
    )
    assert 0.93 <= hits / 2000 <= 0.99


def test_summarize_percentiles_and_ci():
    xs = list(np.linspace(1.0, 2.0, 101))
    stats = summarize(xs, warmup_runs=5, timed_s=1.0)
    assert stats.n == 101
    assert stats.p50_ms == pytest.approx(1.5)
    assert stats.p90_ms == pytest.approx(1.9)
    assert stats.min_ms == 1.0
    assert stats.max_ms == 2.0
    assert stats.ci_low_ms < 1.5 < stats.ci_high_ms
    assert stats.ci_rel == pytest.approx(max(1.5 - stats.ci_low_ms, stats.ci_high_ms - 1.5) / 1.5)


def test_noise_flags_quiet_for_tight_unimodal_samples():
    rng = np.random.default_rng(0)
    xs = list(10 + rng.normal(0, 0.05, 200))
    assert noise_flags(xs, ci_rel=0.005, target_ci_rel=0.02) == ()


def test_noise_flags_bimodal():
    rng = np.random.default_rng(0)
    xs = list(np.concatenate([10 + rng.normal(0, 0.05, 100), 14 + rng.normal(0, 0.05, 100)]))
    rng.shuffle(xs)
    assert any(f.startswith("bimodal") for f in noise_flags(xs, 0.01, 0.02))


def test_noise_flags_drift_and_wide_ci_and_tail():
    xs = list(np.linspace(10, 13, 90))
    flags = noise_flags(xs, ci_rel=0.05, target_ci_rel=0.02)
    assert any(f.startswith("drift: last third +") for f in flags)
    assert any(f.startswith("wide CI") for f in flags)
    tail = [1.0] * 97 + [5.0] * 3
    assert any(f.startswith("heavy tail") for f in noise_flags(tail, 0.0, 0.02))


def test_noise_flags_a_long_tail_is_not_bimodal():
    rng = np.random.default_rng(0)
    xs = list(np.concatenate([1.0 + rng.normal(0, 0.01, 900), 1.1 + rng.exponential(0.2, 100)]))
    assert not any(f.startswith("bimodal") for f in noise_flags(xs, 0.01, 0.02))


def test_quiet_latency_is_the_quietest_windows_median():
    # 1 ms runs (a busy spell), then 0.5 ms (quiet), then 2 ms: windows of >= 50 ms, >= 10 runs.
    samples = [1.0] * 100 + [0.5] * 200 + [2.0] * 50
    assert quiet_latency(samples) == 0.5
    # One outlier-fast run inside a window does not decide: each window gives its median.
    assert quiet_latency([1.0] * 99 + [0.01] + [1.2] * 100) == 1.0


def test_quiet_latency_of_short_loops_is_their_median():
    assert quiet_latency([3.0, 1.0, 2.0]) == 2.0  # under two windows
    assert np.isnan(quiet_latency([]))
