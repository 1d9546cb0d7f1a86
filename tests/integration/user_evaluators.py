"""Evaluators as a user writes them (``--metric user_evaluators:NAME``), for the plug-in tests.

Each takes ``(predict, data)`` and returns numbers; they exercise what users' evaluators do:
run the candidate, read the labels or the FP32 outputs, return errors as lower-is-better.
"""

import numpy as np

from hwfit.accuracy import Score

SEEN: list[str] = []  # the candidates an evaluator ran, in this process


def max_error(predict, data):
    """Largest absolute difference from the FP32 outputs: an error, lower is better."""
    outputs = predict(data.x)
    SEEN.append(predict.label)
    reference = outputs if data.reference is None else data.reference
    return {
        "max_error": Score(float(np.max(np.abs(outputs - reference))), higher_is_better=False),
        "accuracy": float(np.mean(outputs.argmax(axis=1) == data.y)) * 100,
    }


def fails_on_onnxruntime(predict, data):
    """Correct on every runtime but ONNX Runtime, where it raises (a user's bug)."""
    if predict.runtime == "onnxruntime":
        raise RuntimeError("no boxes in this output\nsecond line")
    return float(np.mean(predict(data.x).argmax(axis=1) == data.y)) * 100


def two_numbers(predict, data):
    """Returns two numbers: the budget needs to be told which one it guards."""
    return {"a": 1.0, "b": 2.0}


def not_a_number(predict, data):
    return {"score": "high"}


def always_raises(predict, data):
    raise ValueError("cannot read the annotations")


def feature_error(predict, data):
    """For a two-output model: the mean squared error of the second output against FP32."""
    outputs = predict(data.x)
    assert isinstance(outputs, tuple), type(outputs)
    assert len(outputs) == 2
    reference = outputs if data.reference is None else data.reference
    assert isinstance(reference, tuple)
    assert len(reference) == 2
    error = float(np.mean((outputs[1] - reference[1]) ** 2))
    return Score(error, higher_is_better=False)
