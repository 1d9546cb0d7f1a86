import pytest

from hwfit.errors import UnknownNameError, UserError
from hwfit.records import (
    BenchResult,
    Candidate,
    InputSpec,
    LatencyStats,
    ModelInfo,
    Outcome,
    RowState,
    RunConfig,
)
from hwfit.tune.select import select
from hwfit.tune.space import candidate_space
from hwfit.tune.strategy import GridStrategy, OptunaStrategy

INFO = ModelInfo("timm:x", "torch", "h", InputSpec("input", (1, 3, 8, 8)))


def _outcome(runtime, precision, p50, size=1000, state=RowState.COMPLETE, tput=None):
    stats = LatencyStats(10, p50, p50, p50, p50, 0, p50, p50, p50, p50, 0.0, 0, 1.0)
    bench = BenchResult(
        INFO, RunConfig(runtime), RowState.COMPLETE, latency=stats, throughput=tput or 1000 / p50
    )
    return Outcome(Candidate(runtime, precision), state, bench=bench, artifact_size_bytes=size)


def test_fastest_within_budget_wins_and_losers_say_why():
    fast_rejected = _outcome("openvino", "int8", 1.0, state=RowState.REJECTED)
    mid = _outcome("openvino", "bf16", 2.0)
    slow = _outcome("onnxruntime", "fp32", 4.0)
    winner, explained = select([fast_rejected, mid, slow])
    assert winner is mid
    assert explained[0] is fast_rejected  # rejected ones keep their accuracy reason
    assert explained[2].reason == "2.00x slower than the winner"


def test_ties_go_to_the_smaller_artifact():
    big = _outcome("openvino", "fp32", 2.00, size=4000)
    small = _outcome("openvino", "int8", 2.03, size=1000)
    winner, explained = select([big, small])
    assert winner is small
    assert "tied with the winner" in explained[0].reason


def test_throughput_objective_prefers_more_samples_per_second():
    a = _outcome("openvino", "fp32", 2.0, tput=100)
    b = _outcome("onnxruntime", "fp32", 1.0, tput=50)
    winner, _ = select([a, b], objective="throughput")
    assert winner is a


def test_no_complete_candidate_means_no_winner():
    assert select([_outcome("openvino", "int8", 1.0, state=RowState.REJECTED)])[0] is None


def test_space_has_only_pairs_with_recipes():
    labels = {(c.runtime, c.precision) for c in candidate_space(["onnxruntime", "openvino"])}
    assert ("onnxruntime", "int8") in labels
    assert ("openvino", "int8-mixed") in labels
    assert ("onnxruntime", "bf16") not in labels  # ORT's CPU EP has no BF16 recipe
    with pytest.raises(UnknownNameError, match="Unknown precision 'int4'"):
        candidate_space(["openvino"], ["int4"])
    with pytest.raises(UserError, match="optimize ships ONNX or OpenVINO"):
        candidate_space(["torch"])


def test_grid_strategy_asks_each_candidate_once():
    cands = candidate_space(["onnxruntime"], ["fp32", "int8"], threads=[1, 2])
    strat = GridStrategy(cands)
    asked = []
    while (c := strat.ask()) is not None:
        asked.append(c)
        strat.tell(c, Outcome(c, RowState.SKIPPED))
    assert asked == cands


def test_optuna_strategy_visits_distinct_candidates_and_stops():
    cands = candidate_space(["onnxruntime", "openvino"], ["fp32", "int8"])
    strat = OptunaStrategy(cands, n_trials=3)
    asked = []
    while (c := strat.ask()) is not None:
        asked.append(c)
        strat.tell(c, _outcome(c.runtime, c.precision, 1.0 + len(asked)))
    assert len(asked) == 3
    assert len(set(asked)) == 3
