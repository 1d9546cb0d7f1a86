"""The paired A/B method: window ratios, their interval, and what marks a figure noisy."""

from __future__ import annotations

import time

import pytest

from hwfit.bench.paired import PairedWindows, measure_paired, paired_windows, ratio_of


def _spin(seconds: float):
    def run() -> None:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            pass

    return run


def test_ratio_of_cancels_a_drift_that_moves_both_sides():
    # The machine slows down by 3x over the loop; B costs half of A all along.
    a = tuple(10.0 * (1 + 0.1 * i) for i in range(31))
    b = tuple(5.0 * (1 + 0.1 * (i + 0.5)) for i in range(30))
    figure = ratio_of(PairedWindows(a, b, 3.0, 0.0))
    assert figure.speedup == pytest.approx(2.0, rel=0.01)
    assert figure.ci_low <= figure.speedup <= figure.ci_high
    assert figure.ci_rel < 0.02
    assert not figure.noisy
    # A measured in the first half and B in the second would have said about 1.1x.
    apart = sorted(a[:15])[7] / sorted(b[15:])[7]
    assert apart < 1.2


def test_ratio_of_marks_a_contended_loop_and_a_wide_interval():
    a = tuple([10.0] * 13)
    b = tuple(5.0 if i % 2 else 2.5 for i in range(12))
    figure = ratio_of(PairedWindows(a, b, 1.0, 0.4))
    assert figure.contention == pytest.approx(0.4)
    assert any("busy machine" in n and "40%" in n for n in figure.noise)
    assert any("wide CI" in n for n in figure.noise)
    assert figure.text().startswith("~")


def test_ratio_of_keeps_unknown_contention_as_none():
    figure = ratio_of(PairedWindows((2.0,) * 13, (1.0,) * 12, 1.0, float("nan")))
    assert figure.contention is None
    assert not figure.noisy


def test_paired_windows_alternate_and_measure_a_known_ratio():
    windows = paired_windows(
        _spin(0.002), _spin(0.001), min_time_s=0.5, max_time_s=1.0, window_ms=10
    )
    assert len(windows.a) == len(windows.b) + 1  # A B A ... B A
    assert len(windows.b) >= 12
    figure = ratio_of(windows)
    assert figure.speedup == pytest.approx(2.0, rel=0.15)
    assert figure.a_ms == pytest.approx(2.0, rel=0.3)


def test_measure_paired_retries_a_noisy_loop_and_says_how_many_loops_ran():
    calls = {"n": 0}

    def erratic() -> None:  # alternately 1 ms and 4 ms: no narrow interval is possible
        calls["n"] += 1
        _spin(0.001 if calls["n"] % 7 < 3 else 0.004)()

    pauses: list[float] = []
    figure = measure_paired(
        _spin(0.002),
        erratic,
        min_time_s=0.2,
        max_time_s=2.0,  # each loop keeps to its time: all three fit in 3 x 2 s
        attempts=3,
        window_ms=5,
        sleep=pauses.append,
    )
    assert figure.attempts == 3
    assert len(pauses) == 2
    assert figure.noisy
    assert not any("not retried" in n for n in figure.noise)


def test_a_loop_that_overran_a_short_time_is_not_retried_and_says_so():
    calls = {"n": 0}

    def erratic() -> None:
        calls["n"] += 1
        _spin(0.001 if calls["n"] % 7 < 3 else 0.004)()

    pauses: list[float] = []
    figure = measure_paired(
        _spin(0.002),
        erratic,
        min_time_s=0.1,
        max_time_s=0.2,  # 12 pairs with their pauses take over 1 s: past 3 x 0.2 s
        attempts=3,
        window_ms=5,
        sleep=pauses.append,
    )
    assert figure.attempts == 1
    assert pauses == []
    assert figure.noisy
    assert any("not retried: 1 loop took" in n and "3 x 0.2 s" in n for n in figure.noise)


def test_measure_paired_needs_at_least_one_attempt():
    with pytest.raises(ValueError, match="attempts"):
        measure_paired(_spin(0.001), _spin(0.001), attempts=0)


def test_a_per_sample_figure_compares_calls_of_different_batch_sizes():
    from hwfit.bench.pair_job import per_sample_figure

    # A: 1 sample in 2 ms; B: 8 samples in 8 ms per call, so 1 ms a sample: 2x per sample,
    # though a B call takes 4x as long as an A call.
    a = tuple(2.0 for _ in range(21))
    b = tuple(8.0 for _ in range(20))
    calls = ratio_of(PairedWindows(a, b, 1.0, 0.0))
    assert calls.speedup == pytest.approx(0.25)
    figure = per_sample_figure(calls, a_samples=1, b_samples=8)
    assert figure.speedup == pytest.approx(2.0)
    assert figure.ci_low == pytest.approx(2.0)
    assert figure.ci_high == pytest.approx(2.0)
    assert (figure.a_ms, figure.b_ms) == (pytest.approx(2.0), pytest.approx(1.0))
    assert figure.pairs == calls.pairs
