"""A user's evaluator function: what it may return, and how its mistakes are reported."""

import math
import re

import numpy as np
import pytest

from hwfit.accuracy import EvalData, Score
from hwfit.accuracy.evaluators import (
    METRICS,
    AgreementMetric,
    EvaluatorError,
    FunctionMetric,
    MeanIoUMetric,
    Top5Metric,
    TopKMetric,
    resolve_metric,
)
from hwfit.errors import UnknownNameError, UserError

DATA = EvalData(x=np.zeros((2, 3, 2, 2), np.float32), y=np.array([0, 1]))


def _predict(x):
    return np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)


def _metric(returned, key=None):
    return FunctionMetric(lambda predict, data: returned, "mod:fn", key)


def test_one_plain_number_is_named_after_the_function_and_higher_is_better():
    metric = _metric(0.75)
    assert metric.evaluate(_predict, DATA) == {"fn": Score(0.75)}
    assert metric.key == "fn"


def test_numpy_scalars_and_scores_keep_their_direction():
    returned = {"wer": Score(np.float32(0.25), higher_is_better=False), "acc": np.float64(90)}
    metric = _metric(returned, key="wer")
    assert metric.evaluate(_predict, DATA) == {
        "wer": Score(0.25, higher_is_better=False),
        "acc": Score(90.0),
    }
    assert metric.spec == "mod:fn@wer"


def test_several_numbers_need_the_key_named():
    with pytest.raises(UserError, match=r"returned 2 numbers \(a, b\)") as info:
        _metric({"a": 1, "b": 2}).evaluate(_predict, DATA)
    assert "--metric mod:fn@a" in info.value.hint
    with pytest.raises(UserError, match="returned a, b, not 'c'"):
        _metric({"a": 1, "b": 2}, key="c").evaluate(_predict, DATA)


@pytest.mark.parametrize(
    ("returned", "message"),
    [
        ("high", "returned str 'high' for 'fn'"),
        (True, "returned bool 'True' for 'fn'"),
        ({"a": [1, 2]}, "returned list '[1, 2]' for 'a'"),
        (math.inf, "returned inf for 'fn'"),
        ({}, "returned no numbers"),
    ],
)
def test_what_is_not_a_number_fails_that_model(returned, message):
    with pytest.raises(EvaluatorError, match=re.escape(message)):
        _metric(returned).evaluate(_predict, DATA)


def test_nan_is_a_score_that_fails_the_budget_later():
    assert math.isnan(_metric(float("nan")).evaluate(_predict, DATA)["fn"].value)


def test_an_exception_in_the_evaluator_becomes_its_first_line():
    def broken(predict, data):
        raise ValueError("no image_id in the annotations\nmore")

    metric = FunctionMetric(broken, "coco:evaluate")
    with pytest.raises(EvaluatorError) as info:
        metric.evaluate(_predict, DATA)
    assert str(info.value) == (
        "the evaluator coco:evaluate raised ValueError: no image_id in the annotations"
    )


def test_resolve_builtins_user_functions_and_callables():
    assert resolve_metric(None) is None
    assert isinstance(resolve_metric("top1"), TopKMetric)
    top5 = resolve_metric("top5")
    assert isinstance(top5, Top5Metric)
    assert top5.key == "top5"
    assert isinstance(resolve_metric(" agreement "), AgreementMetric)
    metric = resolve_metric("math:dist@d")
    assert isinstance(metric, FunctionMetric)
    assert metric.fn is math.dist
    assert metric.key == "d"

    def mine(predict, data):
        return 1.0

    from_api = resolve_metric("score", evaluate=mine)
    assert from_api.fn is mine
    assert from_api.key == "score"
    assert from_api.name.endswith("mine")


@pytest.mark.parametrize(
    ("spec", "error", "message"),
    [
        ("top2", UnknownNameError, "Unknown metric 'top2'. Did you mean 'top5' or 'top1'?"),
        (":fn", UserError, "Cannot read --metric ':fn'"),
        ("math:", UserError, "Cannot read --metric 'math:'"),
        ("no_such_module_xyz:f", UserError, "Cannot import 'no_such_module_xyz'"),
        ("math:nothing", UserError, "'math' has no function 'nothing'"),
        ("math:pi", UserError, "'math' has no function 'pi'"),
    ],
)
def test_bad_metric_specs_are_one_line_errors(spec, error, message):
    with pytest.raises(error) as info:
        resolve_metric(spec)
    assert str(info.value.message).startswith(message)


def test_evaluate_must_be_callable():
    with pytest.raises(UserError, match="evaluate= must be a function"):
        resolve_metric(None, evaluate="top1")  # type: ignore[arg-type]


# -- mean IoU ----------------------------------------------------------------------------


def _scores_for(classes_per_pixel, classes=3):
    """Per-pixel class scores whose argmax is ``classes_per_pixel`` (N, H, W)."""
    found = np.asarray(classes_per_pixel)
    return np.moveaxis(np.eye(classes, dtype=np.float32)[found], -1, 1)


def test_mean_iou_against_masks_by_hand():
    truth = np.array([[[0, 0, 1, 1], [2, 2, 2, 255]]])  # 255: ignored
    found = np.array([[[0, 1, 1, 1], [2, 2, 0, 0]]])
    scores = MeanIoUMetric().score(
        _scores_for(found), EvalData(x=np.zeros((1, 3, 2, 4), np.float32), y=None, masks=truth)
    )
    # class 0: 1 / (2 + 2 - 1) = 1/3; class 1: 2 / (2 + 3 - 2) = 2/3; class 2: 2 / 3
    assert scores["miou"].value == pytest.approx(100 * (1 / 3 + 2 / 3 + 2 / 3) / 3)
    assert scores["pixel_accuracy"].value == pytest.approx(100 * 5 / 7)
    assert scores["miou"].higher_is_better


def test_mean_iou_is_label_free_against_the_reference_without_masks():
    reference = _scores_for([[[0, 1], [2, 2]]])
    data = EvalData(x=np.zeros((1, 3, 2, 2), np.float32), y=None, reference=reference)
    assert MeanIoUMetric().score(reference, data)["miou"].value == 100.0
    moved = _scores_for([[[0, 1], [2, 1]]])
    # class 1: 1 / 2, class 2: 1 / 2, class 0: 1
    assert MeanIoUMetric().score(moved, data)["miou"].value == pytest.approx(100 * 2 / 3)
    assert METRICS.load("miou") is MeanIoUMetric


@pytest.mark.parametrize(
    ("outputs", "masks", "message"),
    [
        (np.zeros((1, 3)), None, r"class scores per pixel \(N, classes, H, W\)"),
        (np.zeros((1, 3, 2, 2)), np.zeros((1, 4, 4), np.int64), "The masks are 4x4"),
        (np.zeros((1, 3, 2, 2)), np.full((1, 2, 2), 7), "classes outside 0-2"),
    ],
    ids=["not-a-map", "mask-size", "mask-classes"],
)
def test_mean_iou_refuses_what_it_cannot_score(outputs, masks, message):
    data = EvalData(x=np.zeros((1, 3, 2, 2), np.float32), y=None, masks=masks)
    with pytest.raises(UserError, match=message):
        MeanIoUMetric().score(outputs, data)
