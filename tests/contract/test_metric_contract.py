"""The Metric contract, run against every registered metric (and a user's function)."""

import numpy as np
import pytest

from hwfit.accuracy import METRICS, EvalData, Metric, Score
from hwfit.accuracy.evaluators import FunctionMetric
from hwfit.errors import UserError
from hwfit.models.detection import DetectionDecoder

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


# A detector's raw outputs: 4 default boxes, 3 classes (0 the background), 32x32 input.
ANCHORS = np.array([[0, 0, 16, 16], [16, 0, 32, 16], [0, 16, 16, 32], [16, 16, 32, 32]], "f4")
DECODER = DetectionDecoder(anchors=ANCHORS, size=(32, 32), score_thresh=0.05)
CLS = np.tile(np.array([[0.0, 4.0, 1.0]], np.float32), (12, 4, 1)) + RNG.normal(
    scale=0.3, size=(12, 4, 3)
).astype(np.float32)
REG = RNG.normal(scale=0.1, size=(12, 4, 4)).astype(np.float32)


class _Detector(_Predict):
    def __call__(self, x):
        assert np.asarray(x).shape == X.shape
        return CLS + self.shift, REG + self.shift / 10


# A segmenter's outputs: 3 classes per pixel of 4x4 maps; a shift moves some pixels' class.
MAP = RNG.normal(size=(12, 3, 4, 4)).astype(np.float32)
MAP_NOISE = RNG.normal(size=(12, 3, 4, 4)).astype(np.float32)


class _Segmenter(_Predict):
    def __call__(self, x):
        assert np.asarray(x).shape == X.shape
        return MAP + self.shift * MAP_NOISE


def _data(metric, reference: bool) -> tuple[EvalData, type]:
    """Data and a model of the kind ``metric`` scores."""
    if metric.needs_map:
        return EvalData(x=X, y=None, reference=MAP if reference else None), _Segmenter
    if metric.needs_detector:
        ref = (CLS, REG) if reference else None
        return EvalData(x=X, y=None, reference=ref, decoder=DECODER), _Detector
    return EvalData(x=X, y=Y, reference=REFERENCE if reference else None), _Predict


def _user_accuracy(predict, data):
    return float(np.mean(predict(data.x).argmax(1) == data.y) * 100)


def _metrics() -> list[Metric]:
    builtin = [METRICS.load(name)() for name in METRICS.names()]
    return [*builtin, FunctionMetric(_user_accuracy, "tests:_user_accuracy")]


@pytest.mark.parametrize("metric", _metrics(), ids=lambda m: m.spec)
def test_returns_its_key_as_a_finite_score_and_is_deterministic(metric):
    data, model = _data(metric, reference=True)
    first = metric.evaluate(model(0.5), data)
    assert metric.key in first
    assert all(isinstance(s, Score) and np.isfinite(s.value) for s in first.values())
    assert metric.evaluate(model(0.5), data) == first


@pytest.mark.parametrize("metric", _metrics(), ids=lambda m: m.spec)
def test_scores_the_reference_itself_without_reference_outputs(metric):
    data, model = _data(metric, reference=False)
    scores = metric.evaluate(model(0.0), data)
    assert metric.key in scores


@pytest.mark.parametrize(
    "name", [n for n in METRICS.names() if not METRICS.load(n).needs_labels and n != "top5"]
)
def test_a_label_free_metric_scores_the_reference_best(name):
    """Against the reference's own outputs, nothing scores higher than the reference."""
    metric = METRICS.load(name)()
    data, model = _data(metric, reference=True)
    same = metric.evaluate(model(0.0), data)[metric.key].value
    moved = metric.evaluate(model(1.5), data)[metric.key].value
    assert same >= moved


@pytest.mark.parametrize("name", METRICS.names())
def test_builtins_score_outputs_as_they_score_a_predictor(name):
    metric = METRICS.load(name)()
    data, model = _data(metric, reference=True)
    assert metric.from_outputs
    outputs = model(0.7)(X)
    assert metric.score(outputs, data) == metric.evaluate(model(0.7), data)


@pytest.mark.parametrize("name", [n for n in METRICS.names() if METRICS.load(n).needs_labels])
def test_a_metric_that_needs_labels_refuses_unlabelled_data(name):
    with pytest.raises(UserError, match="needs labelled data"):
        METRICS.load(name)().score(REFERENCE, EvalData(x=X, y=None, reference=REFERENCE))
