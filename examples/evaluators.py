"""Evaluators for ``hwfit optimize --metric evaluators:NAME`` (run with ``PYTHONPATH=examples``).

An evaluator is any function ``fn(predict, data)``: ``predict(x)`` runs the candidate being
judged (as it will be deployed), ``data.x`` holds the preprocessed validation inputs, ``data.y``
their labels (or None), ``data.reference`` the FP32 model's outputs (None while the FP32 model
itself is scored), ``data.path`` the ``--data`` given. It returns a number, a
``hwfit.accuracy.Score`` (``higher_is_better=False`` for errors), or a dict of them.
"""

import numpy as np

from hwfit.accuracy import Score


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=1, keepdims=True)


def kl_divergence(predict, data):
    """Label-free: how far the candidate's class probabilities moved from the FP32 model's.

    Returns the mean KL divergence KL(FP32 || candidate) in nats (lower is better; 0 for the
    FP32 model itself) and the share of inputs whose top class stayed the same.
    """
    logits = predict(data.x)
    reference = logits if data.reference is None else data.reference
    p, q = _softmax(reference.astype(np.float64)), _softmax(logits.astype(np.float64))
    kl = np.sum(p * (np.log(p + 1e-12) - np.log(q + 1e-12)), axis=1)
    same = np.mean(reference.argmax(axis=1) == logits.argmax(axis=1)) * 100
    return {"kl": Score(float(np.mean(kl)), higher_is_better=False), "same_top1": float(same)}


def balanced_accuracy(predict, data):
    """With labels: the mean of the per-class recalls (robust to unbalanced classes), percent."""
    if data.y is None:
        raise ValueError("balanced_accuracy needs labelled data")
    predicted = predict(data.x).argmax(axis=1)
    recalls = [np.mean(predicted[data.y == c] == c) for c in np.unique(data.y)]
    return float(np.mean(recalls) * 100)
