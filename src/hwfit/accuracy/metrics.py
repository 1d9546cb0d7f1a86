"""Accuracy metrics on model outputs: top-k accuracy and fidelity to a reference (pure numpy)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from hwfit.errors import UserError

__all__ = ["Fidelity", "fidelity", "outputs_fidelity", "topk_accuracy"]


@dataclasses.dataclass(frozen=True)
class Fidelity:
    """How closely a model's outputs follow a reference's (typically its FP32 self).

    Attributes:
        n: Samples compared.
        top1_agreement: Percent (0-100) of samples whose top-1 class is the reference's.
        cosine: Mean over samples of the cosine similarity of the two output rows.
        max_abs_error: Largest absolute difference of any output value.
    """

    n: int
    top1_agreement: float
    cosine: float
    max_abs_error: float

    def to_dict(self) -> dict[str, float | int]:
        """Return the fields as a JSON-friendly dict."""
        return dataclasses.asdict(self)


def topk_accuracy(
    logits: npt.ArrayLike, labels: npt.ArrayLike, k: Sequence[int] = (1, 5)
) -> dict[str, float]:
    """Percent (0-100) of samples whose label is among the ``k`` highest outputs.

    Ties are broken like ``numpy.argmax`` (the lower class index ranks first), so top-1 always
    equals ``argmax == label``. A row holding NaN counts as wrong. A ``k`` at or above the number
    of classes counts every sample as right.

    Args:
        logits: ``(N, classes)`` scores (logits or probabilities).
        labels: ``(N,)`` integer class indices.
        k: The cut-offs to report.

    Returns:
        ``{"top1": ..., "top5": ...}``, one key ``top{k}`` per cut-off.

    Raises:
        UserError: Shapes that do not fit, no samples, or labels outside the model's classes.

    Example:
        >>> scores = [[0.1, 0.7, 0.2], [0.5, 0.3, 0.2], [0.2, 0.3, 0.5], [0.6, 0.1, 0.3]]
        >>> topk_accuracy(scores, [1, 1, 2, 2], k=(1, 2))
        {'top1': 50.0, 'top2': 100.0}
    """
    scores = _as_2d("logits", logits)
    y = np.asarray(labels)
    n, classes = scores.shape
    if y.ndim != 1 or len(y) != n:
        raise UserError(
            f"Got {n} rows of model outputs but labels shaped {y.shape}.",
            hint="Give one integer label per output row.",
        )
    if not (np.issubdtype(y.dtype, np.integer) or n == 0):
        raise UserError(f"Labels must be integer class indices, got {y.dtype}.")
    if n == 0:
        raise UserError("No samples to measure accuracy on.", hint="Give a non-empty dataset.")
    cuts = [int(c) for c in k]
    if not cuts or any(c < 1 for c in cuts):
        raise UserError(f"Top-k cut-offs must be positive integers, got {tuple(k)!r}.")
    low, high = int(y.min()), int(y.max())
    if low < 0 or high >= classes:
        raise UserError(
            f"Labels range {low}..{high}, but the model outputs {classes} classes "
            f"(0..{classes - 1}).",
            hint="The dataset's class indices must be the model's: use a model trained on these "
            "classes, or relabel the data (e.g. name class folders so that their sorted order "
            "matches the model's class order).",
        )
    rows = np.arange(n)
    mine = scores[rows, y][:, None]
    index = np.arange(classes)[None, :]
    rank = np.sum(scores > mine, axis=1) + np.sum((scores == mine) & (index < y[:, None]), axis=1)
    valid = ~np.isnan(scores).any(axis=1)
    return {f"top{c}": float(100.0 * np.mean((rank < c) & valid)) for c in cuts}


def fidelity(
    reference_logits: npt.ArrayLike, logits: npt.ArrayLike, class_axis: int = 1
) -> Fidelity:
    """Compare a model's outputs with a reference's on the same inputs.

    Outputs are ``(N, classes)`` scores, or any ``(N, C, ...)`` map of class scores per position
    (a segmenter's): agreement is then the share of positions whose top class is the
    reference's. Cosine similarity is per sample over all its values; it is 1 when both are
    zero and 0 when only one is. Computed in float64.

    Args:
        reference_logits: Outputs of the reference (e.g. FP32) model.
        logits: Outputs of the model under test, shaped the same.
        class_axis: The axis of the class scores (a detector's ``(N, boxes, classes)``: -1).

    Raises:
        UserError: The two are shaped differently, there are no samples, or the outputs have no
            class axis (axis 1 with two or more entries) to agree on.

    Example:
        >>> f = fidelity([[1.0, 2.0], [3.0, 1.0]], [[1.0, 2.5], [1.0, 3.0]])
        >>> f.top1_agreement, round(f.cosine, 3), f.max_abs_error
        (50.0, 0.798, 2.0)
    """
    ref, out = _paired_outputs(reference_logits, logits)
    if ref.ndim < 2 or ref.shape[class_axis] < 2:
        raise UserError(
            f"Model outputs shaped {ref.shape} have no class axis to agree on.",
            hint="Guard this model with your own metric: --metric module:function.",
        )
    agree = np.argmax(ref, axis=class_axis) == np.argmax(out, axis=class_axis)
    cosine, max_abs = _closeness(ref, out)
    return Fidelity(
        n=int(ref.shape[0]),
        top1_agreement=float(100.0 * np.mean(agree)),
        cosine=cosine,
        max_abs_error=max_abs,
    )


def outputs_fidelity(
    reference: Sequence[npt.ArrayLike],
    outputs: Sequence[npt.ArrayLike],
    class_axis: int | None = 1,
) -> dict[str, float]:
    """Fidelity of every output of a model to the reference's: the label-free guard.

    Returns:
        ``agreement`` (percent, from the first output: :func:`fidelity`; left out when that
        output has no class axis), ``cosine`` (the lowest over the outputs) and
        ``max_abs_error`` (the largest); with several outputs also ``cosine_<i>`` and
        ``max_abs_error_<i>`` per output, counted from 0.

    Raises:
        UserError: The outputs differ in number or shape.

    Example:
        >>> ref = ([[1.0, 2.0]], [[0.5, 0.5, 1.0]])
        >>> got = outputs_fidelity(ref, ([[1.0, 2.0]], [[0.5, 0.5, 0.0]]))
        >>> got["agreement"], round(got["cosine_0"], 3), round(got["cosine_1"], 3)
        (100.0, 1.0, 0.577)
        >>> got["cosine"] == got["cosine_1"], got["max_abs_error"]
        (True, 1.0)
    """
    if len(reference) != len(outputs) or not outputs:
        raise UserError(
            f"The model gives {len(outputs)} outputs, the reference {len(reference)}.",
            hint="Compare models with the same outputs.",
        )
    result: dict[str, float] = {}
    first = np.asarray(reference[0])
    if class_axis is not None and first.ndim >= 2 and first.shape[class_axis] >= 2:
        result["agreement"] = fidelity(first, outputs[0], class_axis).top1_agreement
    per_output = [
        _closeness(*_paired_outputs(r, o)) for r, o in zip(reference, outputs, strict=True)
    ]
    result["cosine"] = min(c for c, _ in per_output)
    result["max_abs_error"] = max(m for _, m in per_output)
    if len(per_output) > 1:
        for index, (cosine, max_abs) in enumerate(per_output):
            result[f"cosine_{index}"] = cosine
            result[f"max_abs_error_{index}"] = max_abs
    return result


def _paired_outputs(
    reference: npt.ArrayLike, outputs: npt.ArrayLike
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    ref = np.asarray(reference, dtype=np.float64)
    out = np.asarray(outputs, dtype=np.float64)
    if ref.shape != out.shape:
        raise UserError(
            f"Outputs shaped {out.shape} cannot be compared with reference outputs {ref.shape}.",
            hint="Run both models on the same inputs.",
        )
    if ref.ndim == 0 or ref.shape[0] == 0:
        raise UserError("No samples to compare outputs on.", hint="Give a non-empty dataset.")
    return ref, out


def _closeness(ref: npt.NDArray[np.float64], out: npt.NDArray[np.float64]) -> tuple[float, float]:
    """Mean per-sample cosine similarity and the largest absolute difference."""
    a, b = ref.reshape(len(ref), -1), out.reshape(len(out), -1)
    dot = np.sum(a * b, axis=1)
    norm_a, norm_b = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
    norms = norm_a * norm_b
    with np.errstate(divide="ignore", invalid="ignore"):
        cosine = np.where(norms > 0, dot / np.where(norms > 0, norms, 1.0), 0.0)
    cosine = np.where((norm_a == 0) & (norm_b == 0), 1.0, cosine)
    max_abs = float(np.max(np.abs(a - b))) if a.size else 0.0
    return float(np.mean(cosine)), max_abs


def _as_2d(name: str, values: npt.ArrayLike) -> npt.NDArray[np.float64]:
    arr: npt.NDArray[Any] = np.asarray(values, dtype=np.float64)
    if arr.ndim > 2 and all(d == 1 for d in arr.shape[2:]):
        arr = arr.reshape(arr.shape[:2])  # (N, classes, 1, 1) from a conv head
    if arr.ndim != 2:
        raise UserError(
            f"Model {name} are shaped {arr.shape}; accuracy needs (N, classes) scores.",
            hint="Use a classification model whose output is one score per class.",
        )
    return arr
