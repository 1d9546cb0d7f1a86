"""Accuracy: evaluation data, metrics, and the budget an optimization must stay within.

Nothing here imports a framework at module level: preprocessing is PIL + numpy, metrics are
numpy, so a deployed predictor can reuse them without PyTorch.

* :mod:`~hwfit.accuracy.preprocess`: :class:`Preprocess` (timm's evaluation transform).
* :mod:`~hwfit.accuracy.datasets`: image folders and ``.npz`` files as a :class:`Dataset`.
* :mod:`~hwfit.accuracy.npz`: the one ``.npz`` reader (the search's training data uses it too).
* :mod:`~hwfit.accuracy.split`: seeded class-proportional subsets and splits.
* :mod:`~hwfit.accuracy.metrics`, :mod:`~hwfit.accuracy.guard`: top-k, fidelity, the budget.
* :mod:`~hwfit.accuracy.evaluators`: metrics as plug-ins (:data:`METRICS`), a user's
  evaluator ``fn(predict, data)``, and :class:`Score` (a number and its direction).
"""

from __future__ import annotations

from hwfit.accuracy._model_config import preprocess_for
from hwfit.accuracy.datasets import (
    IMAGE_EXTENSIONS,
    Dataset,
    check_dataset_path,
    count_samples,
    load_dataset,
    load_image,
    skipped_text,
)
from hwfit.accuracy.evaluators import METRICS, EvalData, Metric, Predict, Score
from hwfit.accuracy.guard import AccuracyBudget, BudgetCheck
from hwfit.accuracy.metrics import Fidelity, fidelity, topk_accuracy
from hwfit.accuracy.npz import npz_shape, read_npz
from hwfit.accuracy.preprocess import IMAGENET_MEAN, IMAGENET_STD, Preprocess
from hwfit.accuracy.split import split

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "IMAGE_EXTENSIONS",
    "METRICS",
    "AccuracyBudget",
    "BudgetCheck",
    "Dataset",
    "EvalData",
    "Fidelity",
    "Metric",
    "Predict",
    "Preprocess",
    "Score",
    "check_dataset_path",
    "count_samples",
    "fidelity",
    "load_dataset",
    "load_image",
    "npz_shape",
    "preprocess_for",
    "read_npz",
    "skipped_text",
    "split",
    "topk_accuracy",
]
