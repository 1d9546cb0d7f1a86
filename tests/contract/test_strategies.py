"""The SearchStrategy contract, run against every registered strategy."""

import pytest

from hwfit.records import Candidate, Outcome, RowState
from hwfit.tune.strategy import STRATEGIES, SearchStrategy

ALL = STRATEGIES.names()
SPACE = [Candidate("onnxruntime", p, t) for p in ("fp32", "int8") for t in (None, 2)]


def _drain(strategy: SearchStrategy, fail: bool = False) -> list[Candidate]:
    asked = []
    while (candidate := strategy.ask()) is not None:
        asked.append(candidate)
        state = RowState.FAILED if fail else RowState.COMPLETE
        strategy.tell(candidate, Outcome(candidate, state, "told back"))
        assert len(asked) <= 10 * len(SPACE), "ask() must end"
    return asked


@pytest.mark.parametrize("name", ALL)
def test_hands_out_each_candidate_once_and_then_none(name):
    strategy = STRATEGIES.load(name)(SPACE, None)
    asked = _drain(strategy)
    assert len(asked) == len(set(asked))
    assert set(asked) == set(SPACE)  # without a trial budget the whole space is covered
    assert strategy.ask() is None


@pytest.mark.parametrize("name", ALL)
def test_failed_candidates_are_told_and_the_run_ends(name):
    asked = _drain(STRATEGIES.load(name)(SPACE, None), fail=True)
    assert set(asked) <= set(SPACE)
    assert len(asked) == len(set(asked))


def test_unknown_strategy_names_the_known_ones():
    from hwfit.errors import UnknownNameError

    with pytest.raises(UnknownNameError, match="Known: grid, optuna"):
        STRATEGIES.load("gird")
