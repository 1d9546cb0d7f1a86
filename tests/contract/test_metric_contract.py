"""The Metric contract, run against every registered metric (and a user's function)."""

import numpy as np
import pytest

from hwfit.accuracy import METRICS, EvalData, Metric, Score
from hwfit.accuracy.evaluators import FunctionMetric
from hwfit.errors import UserError

RNG = np.random.default_rng(0)
X = RNG.normal(size=(12, 3, 4, 4)).astype(np.float32)
Y = RNG.integers(0, 6, size=12)
REFERENCE = RNG.normal(size=(12, 6)).astype(np.float32)


class _Predict:
    """A fixed 'model': the reference outputs plus a known shift."""

    runtime, precision, batch, label = "test", "fp32", 1, "test fp32"

    def __init__(self, shift: float) -> None:
        self.shift = shift

    def __call__(self, x):
        assert np.asarray(x).shape == X.shape
        return REFERENCE + self.shift


def _user_accuracy(predict, data):
    return float(np.mean(predict(data.x).argmax(1) == data.y) * 100)


def _metrics() -> list[Metric]:
    builtin = [METRICS.load(name)() for name in METRICS.names()]
    return [*builtin, FunctionMetric(_user_accuracy, "tests:_user_accuracy")]


@pytest.mark.parametrize("metric", _metrics(), ids=lambda m: m.spec)
def test_returns_its_key_as_a_finite_score_and_is_deterministic(metric):
    data = EvalData(x=X, y=Y, reference=REFERENCE)
    first = metric.evaluate(_Predict(0.5), data)
    assert metric.key in first
    assert all(isinstance(s, Score) and np.isfinite(s.value) for s in first.values())
    assert metric.evaluate(_Predict(0.5), data) == first


@pytest.mark.parametrize("metric", _metrics(), ids=lambda m: m.spec)
def test_scores_the_reference_itself_without_reference_outputs(metric):
    scores = metric.evaluate(_Predict(0.0), EvalData(x=X, y=Y, reference=None))
    assert metric.key in scores


@pytest.mark.parametrize("name", METRICS.names())
def test_builtins_score_outputs_as_they_score_a_predictor(name):
    metric = METRICS.load(name)()
    data = EvalData(x=X, y=Y, reference=REFERENCE)
    assert metric.from_outputs
    assert metric.score(REFERENCE * 2, data) == metric.evaluate(lambda x: REFERENCE * 2, data)


@pytest.mark.parametrize("name", [n for n in METRICS.names() if METRICS.load(n).needs_labels])
def test_a_metric_that_needs_labels_refuses_unlabelled_data(name):
    with pytest.raises(UserError, match="needs labelled data"):
        METRICS.load(name)().score(REFERENCE, EvalData(x=X, y=None, reference=REFERENCE))
