"""Accuracy: evaluation data, metrics, and the budget an optimization must stay within.

Nothing here imports a framework at module level: preprocessing is PIL + numpy, metrics are
numpy, so a deployed predictor can reuse them without PyTorch.
"""

from __future__ import annotations

from hwfit.accuracy.data import (
    Dataset,
    Preprocess,
    count_samples,
    load_dataset,
    load_image,
    preprocess_for,
    skipped_text,
    split,
)
from hwfit.accuracy.guard import AccuracyBudget, BudgetCheck
from hwfit.accuracy.metrics import Fidelity, fidelity, topk_accuracy

__all__ = [
    "AccuracyBudget",
    "BudgetCheck",
    "Dataset",
    "Fidelity",
    "Preprocess",
    "count_samples",
    "fidelity",
    "load_dataset",
    "load_image",
    "preprocess_for",
    "skipped_text",
    "split",
    "topk_accuracy",
]
