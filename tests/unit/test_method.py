import time

from hwfit.bench.method import timed_loop, warm_up


def test_timed_loop_stops_once_ci_is_narrow():
    samples, elapsed = timed_loop(
        lambda: time.sleep(0.002), duration_s=30, min_runs=10, max_runs=10_000, target_ci_rel=0.5
    )
    assert 10 <= len(samples) < 100
    assert elapsed < 5


def test_timed_loop_respects_time_limit_when_ci_stays_wide():
    state = {"i": 0}

    def alternating():
        state["i"] += 1
        time.sleep(0.001 if state["i"] % 2 else 0.004)

    samples, elapsed = timed_loop(
        alternating, duration_s=0.5, min_runs=5, max_runs=100_000, target_ci_rel=0.0001
    )
    assert 0.5 <= elapsed < 1.5
    assert len(samples) > 20


def test_timed_loop_makes_min_runs_even_past_the_time_limit():
    samples, _ = timed_loop(
        lambda: time.sleep(0.01), duration_s=0.01, min_runs=7, max_runs=100, target_ci_rel=0.0
    )
    assert len(samples) == 7


def test_warm_up_waits_for_latency_to_settle():
    state = {"i": 0}

    def slow_start():  # first calls slow (caches, JIT), then steady
        state["i"] += 1
        time.sleep({1: 0.05, 2: 0.03, 3: 0.02, 4: 0.01}.get(state["i"], 0.002))

    runs = warm_up(slow_start, max_s=10)
    assert runs == 15  # window 1 (median 20 ms) != window 2 (2 ms) == window 3
    assert state["i"] == runs


def test_warm_up_gives_up_after_its_time_limit():
    state = {"i": 0}

    def ever_slower():
        state["i"] += 1
        time.sleep(0.001 * state["i"])

    start = time.perf_counter()
    warm_up(ever_slower, max_s=0.3)
    assert time.perf_counter() - start < 1.5


def test_timed_loop_runs_at_least_min_time_even_when_ci_is_narrow():
    _, elapsed = timed_loop(
        lambda: time.sleep(0.001),
        duration_s=5,
        min_runs=5,
        max_runs=100_000,
        target_ci_rel=0.5,
        min_time_s=0.4,
    )
    assert 0.4 <= elapsed < 1.5
