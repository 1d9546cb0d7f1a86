"""The README's example evaluators (examples/evaluators.py) on known values."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from hwfit.accuracy import EvalData, Score

PATH = Path(__file__).parents[2] / "examples" / "evaluators.py"


@pytest.fixture(scope="module")
def examples():
    spec = importlib.util.spec_from_file_location("example_evaluators", PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


X = np.zeros((4, 3, 2, 2), np.float32)
REFERENCE = np.array([[2.0, 0.0], [0.0, 2.0], [1.0, 0.0], [0.0, 1.0]], np.float32)


def test_kl_is_zero_for_the_reference_and_grows_as_outputs_move(examples):
    same = examples.kl_divergence(lambda x: REFERENCE, EvalData(x=X, y=None, reference=None))
    assert same == {"kl": Score(0.0, higher_is_better=False), "same_top1": 100.0}
    moved = REFERENCE.copy()
    moved[0] = [0.0, 2.0]  # one input's top class flips
    data = EvalData(x=X, y=None, reference=REFERENCE)
    scores = examples.kl_divergence(lambda x: moved, data)
    p = np.exp([2.0, 0.0]) / np.exp([2.0, 0.0]).sum()
    expected = float(np.sum(p * np.log(p / p[::-1]))) / 4  # KL of the flipped row, averaged
    assert scores["kl"].value == pytest.approx(expected, rel=1e-6)
    assert scores["kl"].higher_is_better is False
    assert scores["same_top1"] == 75.0


def test_balanced_accuracy_weighs_classes_equally(examples):
    y = np.array([0, 0, 0, 1])
    outputs = np.array([[1, 0], [1, 0], [1, 0], [1, 0]], np.float32)  # always class 0
    assert examples.balanced_accuracy(lambda x: outputs, EvalData(x=X, y=y)) == 50.0
    with pytest.raises(ValueError, match="needs labelled data"):
        examples.balanced_accuracy(lambda x: outputs, EvalData(x=X, y=None))
