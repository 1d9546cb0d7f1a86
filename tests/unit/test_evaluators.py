"""A user's evaluator function: what it may return, and how its mistakes are reported."""

import math
import re

import numpy as np
import pytest

from hwfit.accuracy import EvalData, Score
from hwfit.accuracy.evaluators import (
    AgreementMetric,
    EvaluatorError,
    FunctionMetric,
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
