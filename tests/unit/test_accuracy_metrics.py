"""Accuracy metrics and budgets on known values (pure numpy, no model)."""

import math

import numpy as np
import pytest

from hwfit.accuracy import AccuracyBudget, BudgetCheck, Fidelity, fidelity, topk_accuracy
from hwfit.errors import UserError

# --- topk_accuracy ---------------------------------------------------------------------------


def test_topk_known_values():
    logits = np.array(
        [
            [0.1, 0.9, 0.0, 0.0],  # label 1: top-1
            [0.5, 0.4, 0.3, 0.2],  # label 1: second
            [0.5, 0.4, 0.3, 0.2],  # label 3: fourth
            [0.0, 0.1, 0.2, 0.3],  # label 0: fourth
        ]
    )
    labels = np.array([1, 1, 3, 0])
    assert topk_accuracy(logits, labels, k=(1, 2, 3, 4)) == {
        "top1": 25.0,
        "top2": 50.0,
        "top3": 50.0,
        "top4": 100.0,
    }


def test_topk_defaults_to_top1_and_top5_in_percent():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(200, 10))
    labels = rng.integers(0, 10, size=200)
    out = topk_accuracy(logits, labels)
    assert set(out) == {"top1", "top5"}
    assert out["top1"] == pytest.approx(100.0 * np.mean(logits.argmax(1) == labels))
    top5 = np.argsort(-logits, axis=1)[:, :5]
    assert out["top5"] == pytest.approx(100.0 * np.mean((top5 == labels[:, None]).any(1)))
    assert 0.0 <= out["top1"] <= out["top5"] <= 100.0


def test_topk_ties_rank_like_argmax():
    logits = np.zeros((4, 3))  # all tied: argmax is class 0
    labels = np.array([0, 1, 2, 2])
    assert topk_accuracy(logits, labels, k=(1, 2)) == {"top1": 25.0, "top2": 50.0}


def test_topk_nan_row_is_wrong_and_k_above_classes_is_everything():
    logits = np.array([[np.nan, 1.0, 0.0], [0.0, 1.0, 0.0]])
    assert topk_accuracy(logits, [1, 1], k=(1, 5)) == {"top1": 50.0, "top5": 50.0}
    assert topk_accuracy([[0.0, 1.0, 0.0]], [2], k=(3, 10)) == {"top3": 100.0, "top10": 100.0}


def test_topk_accepts_conv_head_outputs_and_lists():
    logits = np.array([[1.0, 0.0], [0.0, 1.0]]).reshape(2, 2, 1, 1)
    assert topk_accuracy(logits, [0, 0], k=(1,)) == {"top1": 50.0}


def test_topk_labels_outside_the_models_classes_are_refused():
    with pytest.raises(UserError, match=r"Labels range 0\.\.12, but the model outputs 10") as e:
        topk_accuracy(np.zeros((2, 10)), [0, 12])
    assert "class indices" in (e.value.hint or "")
    with pytest.raises(UserError, match="Labels range -1"):
        topk_accuracy(np.zeros((2, 10)), [-1, 3])


@pytest.mark.parametrize(
    ("logits", "labels", "match"),
    [
        (np.zeros((3, 4)), [0, 1], "labels shaped"),
        (np.zeros((0, 4)), np.zeros(0, dtype=int), "No samples"),
        (np.zeros((2, 4)), [0.5, 1.0], "integer class indices"),
        (np.zeros((2, 4, 3)), [0, 1], r"accuracy needs \(N, classes\)"),
    ],
)
def test_topk_bad_inputs(logits, labels, match):
    with pytest.raises(UserError, match=match):
        topk_accuracy(logits, labels)


def test_topk_bad_cutoffs():
    with pytest.raises(UserError, match="cut-offs"):
        topk_accuracy(np.zeros((1, 4)), [0], k=(0,))


# --- fidelity --------------------------------------------------------------------------------


def test_fidelity_identical_outputs():
    ref = np.random.default_rng(1).normal(size=(16, 100)).astype(np.float32)
    f = fidelity(ref, ref.copy())
    assert f == Fidelity(n=16, top1_agreement=100.0, cosine=pytest.approx(1.0), max_abs_error=0.0)


def test_fidelity_known_values():
    ref = np.array([[1.0, 0.0], [0.0, 2.0], [3.0, 4.0], [1.0, 1.0]])
    out = np.array([[0.0, 1.0], [0.0, 4.0], [3.0, 4.5], [-1.0, -1.0]])
    f = fidelity(ref, out)
    assert f.n == 4
    assert f.top1_agreement == 75.0  # only the first row disagrees (ties: argmax is 0)
    expected_cos = [0.0, 1.0, (9 + 18) / (5 * math.hypot(3, 4.5)), -1.0]
    assert f.cosine == pytest.approx(np.mean(expected_cos))
    assert f.max_abs_error == 2.0
    assert f.to_dict()["top1_agreement"] == 75.0


def test_fidelity_zero_rows():
    f = fidelity(np.zeros((2, 3)), np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]]))
    assert f.cosine == pytest.approx(0.5)  # both zero -> 1, one zero -> 0


def test_fidelity_shape_mismatch_and_empty():
    with pytest.raises(UserError, match="cannot be compared"):
        fidelity(np.zeros((2, 3)), np.zeros((2, 4)))
    with pytest.raises(UserError, match="No samples"):
        fidelity(np.zeros((0, 3)), np.zeros((0, 3)))


# --- AccuracyBudget --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value", "relative"),
    [
        ("1", 1.0, False),
        ("1.0", 1.0, False),
        (" 0.25 ", 0.25, False),
        ("0", 0.0, False),
        (".5", 0.5, False),
        ("2 points", 2.0, False),
        ("1pp", 1.0, False),
        ("0.5%", 0.5, True),
        ("2 %", 2.0, True),
        ("1e-1%", 0.1, True),
    ],
)
def test_budget_parse(text, value, relative):
    assert AccuracyBudget.parse(text) == AccuracyBudget(value, relative)


@pytest.mark.parametrize("text", ["", "abc", "-1", "1%%", "%", "nan", "inf", "1,5", "150", "200%"])
def test_budget_parse_refuses_bad_text(text):
    with pytest.raises(UserError) as e:
        AccuracyBudget.parse(text)
    assert e.value.hint
    assert "0.5%" in e.value.hint


@pytest.mark.parametrize("budget", [AccuracyBudget(1.0), AccuracyBudget(0.5, relative=True)])
def test_budget_text_round_trips(budget):
    assert AccuracyBudget.parse(str(budget)) == budget


def test_budget_absolute_check():
    budget = AccuracyBudget.parse("1")
    assert budget.allowed_drop(76.13) == 1.0
    ok = budget.check(76.1, 75.1)  # exactly 1 point, up to float noise: accepted
    assert ok.ok
    assert ok.reason is None
    assert ok.drop == pytest.approx(1.0)
    assert budget.check(76.1, 80.0) == BudgetCheck(ok=True, drop=pytest.approx(-3.9), allowed=1.0)
    bad = budget.check(76.1, 74.6)
    assert not bad.ok
    assert bad.drop == pytest.approx(1.5)
    assert bad.allowed == 1.0
    assert bad.reason == (
        "accuracy fell 1.50 points (76.10 -> 74.60); the budget allows 1.00 (1 point)"
    )


def test_budget_relative_check():
    budget = AccuracyBudget.parse("1%")
    assert budget.allowed_drop(80.0) == pytest.approx(0.8)
    assert budget.check(80.0, 79.3).ok
    bad = budget.check(80.0, 79.1)
    assert not bad.ok
    assert bad.allowed == pytest.approx(0.8)
    assert "allows 0.80 (1%)" in (bad.reason or "")


def test_budget_zero_and_nan():
    assert AccuracyBudget(0.0).check(50.0, 50.0).ok
    assert not AccuracyBudget(0.0).check(50.0, 49.99).ok
    nan = AccuracyBudget(5.0).check(50.0, float("nan"))
    assert not nan.ok
    assert "not a number" in (nan.reason or "")


def test_budget_constructor_validates():
    with pytest.raises(UserError, match="must be a number >= 0"):
        AccuracyBudget(-0.1)
    with pytest.raises(UserError, match="more than 100"):
        AccuracyBudget(101.0, relative=True)
