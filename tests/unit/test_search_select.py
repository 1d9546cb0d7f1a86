"""How the search picks what to screen and what to train fully (``hwfit.nas.search.select``)."""

from __future__ import annotations

from hwfit.nas.search.select import best, finalists, pareto, screen_candidates, seeds
from hwfit.nas.space import Arch
from hwfit.records.search import ArchResult, TrialRecord


def _arch(i: int) -> Arch:
    return Arch("demo", (("i", i),))


A, B, C, D, E = (_arch(i) for i in range(5))


def test_screen_candidates_take_the_front_first_then_other_trials_by_estimate() -> None:
    estimated = {A.key: 30.0, B.key: 20.0, C.key: 50.0, D.key: 40.0, E.key: 10.0}
    chosen = screen_candidates([B, A], [C, A, D, E], estimated=estimated, n=4)
    # The front's best estimate first, then the others' best; A is not taken twice.
    assert chosen == [A, B, C, D]
    assert screen_candidates([B, A], [C], estimated=estimated, n=1) == [A]


def test_finalists_are_the_best_screened_at_the_latency_goal() -> None:
    measured = {A.key: 0.30, B.key: 0.34, C.key: 0.45, D.key: 0.29}
    screened = {A.key: 30.0, B.key: 36.0, C.key: 40.0, D.key: 20.0}
    # Goal 0.33 ms: A and D meet it, B misses it by 3% (within the 5% tolerance: at the goal),
    # C misses it; E was never measured. At the goal by screening top-1, then the rest.
    order = finalists([A, B, C, D, E], measured=measured, screened=screened, goal_ms=0.33, k=4)
    assert order == [B, A, D, C]
    assert finalists([A, B, C, D], measured=measured, screened=screened, goal_ms=0.33, k=1) == [B]


def test_finalists_without_a_goal_rank_by_screening_then_latency() -> None:
    measured = {A.key: 0.30, B.key: 0.31, C.key: 0.45, D.key: 0.20}
    screened = {A.key: 30.0, C.key: 40.0, D.key: 30.0}  # B's screening failed: last
    order = finalists([A, B, C, D], measured=measured, screened=screened, goal_ms=None, k=4)
    assert order == [C, D, A, B]


def _result(key: str, ms: float | None, top1: float | None) -> ArchResult:
    return ArchResult(key, "found", "", {}, None, ms, None, top1, None)


def test_best_is_the_fastest_found_at_the_baselines_trained_accuracy() -> None:
    base = _result("base", 0.5, 40.0)
    found = [_result("a", 0.2, 39.9), _result("b", 0.3, 40.0), _result("c", 0.25, 41.0)]
    chosen = best(found, base)
    assert chosen is not None
    assert chosen.key == "c"
    assert best([_result("a", 0.2, 30.0)], base) is None
    assert best(found, _result("base", 0.5, None)) is None


def test_seeds_are_the_baseline_compound_scaled_down_to_lower_resolutions() -> None:
    from hwfit.nas.spaces import space_for

    space = space_for("timm:mobilenetv2_100", num_classes=10, resolution=64)
    base = space.baseline()
    labelled = seeds(space, [("baseline", base), ("scaled w0.5 d1", space.scaled(0.5, 1.0))])
    assert labelled[0] == ("baseline", base)
    starts = [a for _, a in labelled]
    assert len({a.key for a in starts}) == len(starts)
    resolutions = {space.resolution(a) for a in starts}
    assert resolutions == {32, 40, 48, 56, 64}  # never above the baseline's 64 (80 is a choice)
    # The baseline itself at a lower resolution is a seed; so is half depth at 48 px.
    assert space.scaled(1.0, 1.0, 48) in starts
    half = space.scaled(1.0, 0.5, 48)
    assert half in starts
    assert space.resolution(half) == 48
    assert ("baseline scaled w1 d0.5 at 48 px", half) in labelled
    assert half.value("s3_depth") == 2  # the baseline's 4 halved
    # A space of one fixed resolution ignores the resolution.
    nb201 = space_for("nb201", num_classes=10)
    assert seeds(nb201, [("baseline", nb201.baseline())]) == [("baseline", nb201.baseline())]


def test_pareto_keeps_the_trade_off_of_accuracy_up_and_latency_down() -> None:
    def trial(number: int, key: str, top1: float, ms: float) -> TrialRecord:
        return TrialRecord(number, key, {}, ms, top1, feasible=True)

    trials = [
        trial(0, "fast", 20.0, 0.2),
        trial(1, "good", 30.0, 0.4),
        trial(2, "worse", 19.0, 0.3),  # beaten by "fast"
        trial(3, "tie", 20.0, 0.2),  # equal: both stay
        trial(4, "broken", float("nan"), 0.1),
    ]
    assert [t.key for t in pareto(trials)] == ["fast", "good", "tie"]
    assert pareto([]) == []
