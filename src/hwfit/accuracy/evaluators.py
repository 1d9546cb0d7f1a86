"""Metrics as plug-ins: what ``optimize`` guards with its accuracy budget.

A :class:`Metric` scores one model on the evaluation data and returns named numbers, each with
its direction (:class:`Score`). The built-in metrics (``top1``, ``top5``, ``agreement``) score
the outputs the measuring worker already computed; a user's evaluator, a function named
``module:function`` on the command line or passed as a callable to the API, gets a *predictor*
instead, the candidate as it will run (:class:`Predict`), and the data, so it can score any task:
detection, segmentation, regression, a business metric.

A user's evaluator::

    # myeval.py
    from hwfit.accuracy import Score

    def score(predict, data):
        outputs = predict(data.x)          # the candidate, on the validation inputs
        error = my_error(outputs, data.y)  # data.y: labels, or None
        return {"quality": my_quality(outputs), "error": Score(error, higher_is_better=False)}

``hwfit optimize MODEL --data DIR --metric myeval:score@quality`` then applies the budget to
``quality``; ``--metric myeval:score`` is enough when the function returns one number.
"""

from __future__ import annotations

import abc
import dataclasses
import importlib
import math
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import numpy as np
import numpy.typing as npt

from hwfit.accuracy.metrics import fidelity, topk_accuracy
from hwfit.errors import UserError, first_line
from hwfit.models.detection import class_axis
from hwfit.registry import Registry

if TYPE_CHECKING:
    from hwfit.models.detection import DetectionDecoder

__all__ = [
    "METRICS",
    "EvalData",
    "EvaluatorError",
    "FunctionMetric",
    "Metric",
    "Predict",
    "Score",
    "resolve_metric",
]


@dataclasses.dataclass(frozen=True)
class Score:
    """One number a metric returns, and which way is better.

    Attributes:
        value: The number, in the metric's own units (percent for the built-ins).
        higher_is_better: False for errors and losses (WER, MSE): a rise is then a drop.
    """

    value: float
    higher_is_better: bool = True


@dataclasses.dataclass(frozen=True)
class EvalData:
    """What a metric scores a model on: the run's validation split.

    Attributes:
        x: Validation inputs ``(N, C, H, W)`` float32, preprocessed as the model expects.
        y: Their class indices, or None when the data has no labels.
        classes: Class names by index (image-folder names), or ``()``.
        path: The data as the user gave it (``--data``), for evaluators that read their own
            annotations; ``x`` is a subset of it (calibration samples are held out).
        reference: The FP32 reference's outputs on ``x`` (a tuple, in the model's order, when
            the model has several outputs); None while the reference itself is scored.
        image_ids: COCO data: each sample's image id in ``annotations``.
        image_sizes: COCO data: each sample's original ``(height, width)``.
        annotations: COCO data: the annotation file with the boxes to find.
        decoder: For a detector hwfit knows: its post-processing, raw outputs to boxes
            (``decoder.decode(outputs, image_sizes)``).
        masks: Segmentation data: each sample's class per pixel ``(N, H, W)`` (255: ignored).
    """

    x: npt.NDArray[np.float32]
    y: npt.NDArray[np.int64] | None
    classes: tuple[str, ...] = ()
    path: Path | None = None
    reference: npt.NDArray[np.float32] | tuple[npt.NDArray[Any], ...] | None = None
    image_ids: tuple[int, ...] = ()
    image_sizes: tuple[tuple[int, int], ...] = ()
    annotations: Path | None = None
    decoder: DetectionDecoder | None = None
    masks: npt.NDArray[np.int64] | None = None


class Predict(Protocol):
    """A candidate as a function: preprocessed inputs ``(N, C, H, W)`` in, outputs out.

    A model with one output gives an array; one with several (a detector's boxes and scores)
    a tuple of arrays in the model's order. It also says what it runs (``runtime``,
    ``precision``, ``batch``, ``label``), for logging.
    """

    runtime: str
    precision: str
    batch: int
    label: str

    def __call__(self, x: npt.ArrayLike) -> npt.NDArray[np.float32] | tuple[npt.NDArray[Any], ...]:
        """The model's outputs for any number of samples."""
        ...


class EvaluatorError(Exception):
    """A metric failed on one model; the message is the evaluator's first error line."""


class Metric(abc.ABC):
    """A way to score a model; the accuracy budget applies to one of its numbers.

    Contract:
        * :meth:`evaluate` returns at least :attr:`key` among its names, and only finite or NaN
          numbers (NaN fails the budget).
        * A metric with ``from_outputs`` True scores the outputs alone (:meth:`score`):
          ``optimize`` then gives it the outputs its measuring worker computed instead of
          running the model again.
        * The same model and data give the same scores (no sampling).

    Attributes:
        name: How the user names it (``--metric``).
        key: The number the budget applies to.
        needs_labels: It cannot score unlabelled data.
        needs_detector: It scores a detector's outputs through ``data.decoder``.
        needs_map: It scores class scores per pixel, ``(N, classes, H, W)`` (a segmenter's).
    """

    name: ClassVar[str]
    needs_labels: ClassVar[bool] = False
    needs_detector: ClassVar[bool] = False
    needs_map: ClassVar[bool] = False
    from_outputs: ClassVar[bool] = True

    def __init__(self, key: str | None = None) -> None:
        self.key = key or self.name

    def evaluate(self, predict: Predict, data: EvalData) -> dict[str, Score]:
        """Score the model ``predict`` runs on ``data``.

        Raises:
            EvaluatorError: The metric failed on this model.
        """
        return self.score(predict(data.x), data)

    def score(
        self, outputs: np.ndarray | tuple[np.ndarray, ...], data: EvalData
    ) -> dict[str, Score]:
        """Score a model's outputs on ``data.x`` (metrics with ``from_outputs``).

        ``outputs`` is one array for a model with one output, else a tuple in its order.

        Raises:
            UserError: Outputs or labels that the metric cannot score.
        """
        raise NotImplementedError(f"The metric {self.name!r} scores a predictor, not outputs.")

    @property
    def spec(self) -> str:
        """How the user named it, with the key when it is not the metric's only number."""
        return self.name if self.key == self.name else f"{self.name}@{self.key}"


class TopKMetric(Metric):
    """Top-1 and top-5 accuracy in percent (``top1`` guards the first, ``top5`` the second)."""

    name: ClassVar[str] = "top1"
    needs_labels: ClassVar[bool] = True

    def score(
        self, outputs: np.ndarray | tuple[np.ndarray, ...], data: EvalData
    ) -> dict[str, Score]:
        if data.y is None:
            raise UserError(f"The metric {self.key} needs labelled data.")
        return {k: Score(v) for k, v in topk_accuracy(_first(outputs), data.y).items()}


class Top5Metric(TopKMetric):
    """Top-5 accuracy guarded (the top-1 figure is reported too)."""

    name: ClassVar[str] = "top5"


class AgreementMetric(Metric):
    """Fidelity to the FP32 reference: top-1 agreement (percent), cosine, max abs error.

    The label-free guard: what a model computes compared with what it computed before it was
    optimized, with no labels needed.
    """

    name: ClassVar[str] = "agreement"

    def score(
        self, outputs: np.ndarray | tuple[np.ndarray, ...], data: EvalData
    ) -> dict[str, Score]:
        if data.reference is None:  # the reference itself
            return {
                "agreement": Score(100.0),
                "cosine": Score(1.0),
                "max_abs_error": Score(0.0, higher_is_better=False),
            }
        axis = class_axis(data.decoder)  # an SSD's: the last axis
        if axis is None:
            raise UserError(
                f"The metric {self.key} compares class scores, and this detector's first "
                "output holds boxes.",
                hint="Guard it with --metric map (label-free against the FP32 boxes).",
            )
        fid = fidelity(_first(data.reference), _first(outputs), axis)
        return {
            "agreement": Score(fid.top1_agreement),
            "cosine": Score(fid.cosine),
            "max_abs_error": Score(fid.max_abs_error, higher_is_better=False),
        }


class MapMetric(Metric):
    """A detector's COCO mAP@[.5:.95] and mAP@.5, in percent (``COCOeval``, faster-coco-eval).

    With COCO annotations (``data.annotations``) the boxes to find are the annotated ones, the
    detections scaled to each image's original size. Without, the label-free guard: the boxes
    to find are the FP32 model's own confident detections (score >= 0.3,
    :func:`~hwfit.accuracy.coco.pseudo_ground_truth`), so the FP32 model scores 100 and a
    candidate loses what it misses or moves. Needs the detector's post-processing
    (``data.decoder``).
    """

    name: ClassVar[str] = "map"
    needs_detector: ClassVar[bool] = True

    def __init__(self, key: str | None = None) -> None:
        super().__init__(key)
        # The FP32 detector's own boxes (label-free), kept with the output they came from.
        self._truth: tuple[np.ndarray, dict[str, Any]] | None = None

    def score(
        self, outputs: np.ndarray | tuple[np.ndarray, ...], data: EvalData
    ) -> dict[str, Score]:
        from hwfit.accuracy.coco import coco_map, ground_truth, pseudo_ground_truth

        decoder = data.decoder
        if decoder is None:
            raise UserError(
                f"The metric {self.key} needs a detector hwfit knows "
                "(hwfit.models.detection.DETECTORS).",
                hint="Guard other detectors with your own metric: --metric module:function.",
            )
        outputs = outputs if isinstance(outputs, tuple) else (outputs,)
        if len(outputs) != decoder.outputs:
            raise UserError(
                f"The metric {self.key} needs the detector's {decoder.outputs} outputs, "
                f"not {len(outputs)}."
            )
        if data.annotations is not None:
            found = decoder.decode(outputs, data.image_sizes)
            truth = ground_truth(data.annotations, data.image_ids)
            scores = coco_map(truth, found, data.image_ids)
        else:
            found = decoder.decode(outputs)
            given = data.reference
            reference: tuple[np.ndarray, ...] = (
                outputs if given is None else given if isinstance(given, tuple) else (given,)
            )
            cached = self._truth
            if cached is None or cached[0] is not reference[0]:  # decoded once per reference
                ref_found = decoder.decode(reference)
                cached = self._truth = (
                    reference[0],
                    pseudo_ground_truth(ref_found, decoder.size, decoder.num_classes),
                )
            truth = cached[1]
            if not truth["annotations"]:
                raise UserError(
                    "The FP32 detector finds no object scoring 0.3 or more in these images, so "
                    "the label-free mAP has nothing to compare (random weights?).",
                    hint="Pass --weights with trained weights, or COCO data with annotations "
                    "(instances.json).",
                )
            scores = coco_map(truth, found, list(range(len(found))))
        return {k: Score(v) for k, v in scores.items()}


class Map50Metric(MapMetric):
    """mAP@.5 guarded (mAP@[.5:.95] is reported too)."""

    name: ClassVar[str] = "map50"


class MeanIoUMetric(Metric):
    """A segmenter's mean intersection-over-union over classes, in percent; pixel accuracy too.

    The first output holds class scores per pixel ``(N, classes, H, W)``; each pixel's class
    is its argmax. Against ``data.masks`` (255 ignored) when the data has them; label-free,
    against the FP32 model's own per-pixel classes, otherwise (the FP32 model scores 100).
    Intersections and unions are summed over the whole split, and classes absent from both
    prediction and truth do not count.
    """

    name: ClassVar[str] = "miou"
    needs_map: ClassVar[bool] = True
    ignore_index: ClassVar[int] = 255

    def score(
        self, outputs: np.ndarray | tuple[np.ndarray, ...], data: EvalData
    ) -> dict[str, Score]:
        scores = np.asarray(_first(outputs))
        if scores.ndim != 4 or scores.shape[1] < 2:
            raise UserError(
                f"The metric {self.key} needs class scores per pixel (N, classes, H, W); the "
                f"model's first output is shaped {scores.shape}.",
                hint="Guard this model with agreement or your own --metric module:function.",
            )
        found = scores.argmax(axis=1)
        if data.masks is not None:
            truth = data.masks
            if truth.shape != found.shape:
                raise UserError(
                    f"The masks are {truth.shape[1]}x{truth.shape[2]} per image, the model's "
                    f"output {found.shape[1]}x{found.shape[2]}.",
                    hint="Save the masks at the model output's size.",
                )
        elif data.reference is not None:
            truth = np.asarray(_first(data.reference)).argmax(axis=1)
        else:
            truth = found  # the reference itself
        classes = scores.shape[1]
        keep = truth != self.ignore_index
        if np.any(truth[keep] >= classes) or np.any(truth[keep] < 0):
            raise UserError(
                f"The masks hold classes outside 0-{classes - 1} (the model's {classes}).",
                hint="Label pixels 0..classes-1, and 255 for pixels to ignore.",
            )
        pairs = truth[keep] * classes + found[keep]
        confusion = np.bincount(pairs, minlength=classes * classes).reshape(classes, classes)
        inter = np.diag(confusion).astype(np.float64)
        union = confusion.sum(0) + confusion.sum(1) - inter
        present = union > 0
        miou = float(np.mean(inter[present] / union[present])) * 100 if present.any() else 0.0
        pixels = float(inter.sum() / max(int(confusion.sum()), 1)) * 100
        return {"miou": Score(miou), "pixel_accuracy": Score(pixels)}


#: The built-in metrics; register your own ``Metric`` subclass with ``METRICS.register``.
METRICS: Registry[Metric] = Registry(
    kind="metric",
    builtins={
        "agreement": "hwfit.accuracy.evaluators:AgreementMetric",
        "map": "hwfit.accuracy.evaluators:MapMetric",
        "map50": "hwfit.accuracy.evaluators:Map50Metric",
        "miou": "hwfit.accuracy.evaluators:MeanIoUMetric",
        "top1": "hwfit.accuracy.evaluators:TopKMetric",
        "top5": "hwfit.accuracy.evaluators:Top5Metric",
    },
)


def _first(outputs: Any) -> Any:
    """The first output of a model (the only one, or the first of a tuple)."""
    return outputs[0] if isinstance(outputs, tuple) else outputs


Evaluate = Callable[[Predict, EvalData], Any]


class FunctionMetric(Metric):
    """A user's evaluator function as a metric: ``fn(predict, data)`` returns its numbers.

    The function may return one number (its name is the function's), a :class:`Score`, or a
    mapping of names to numbers or Scores; plain numbers are higher-is-better. An exception in
    it becomes :class:`EvaluatorError` with its first line, so it fails one candidate only.

    Args:
        fn: The function.
        name: How it was named (``module:function``, or its qualified name).
        key: The number the budget applies to (default: the only one it returns).
    """

    from_outputs: ClassVar[bool] = False

    def __init__(self, fn: Evaluate, name: str, key: str | None = None) -> None:
        self.fn = fn
        self.name = name  # type: ignore[misc]  # per instance: the user's function
        self.key = key or ""  # known once the function returned its names
        self._given_key = key

    @property
    def spec(self) -> str:  # noqa: D102
        return f"{self.name}@{self._given_key}" if self._given_key else self.name

    def evaluate(self, predict: Predict, data: EvalData) -> dict[str, Score]:  # noqa: D102
        try:
            returned = self.fn(predict, data)
        except Exception as exc:  # the user's code: its error fails this model only
            raise EvaluatorError(
                f"the evaluator {self.name} raised {type(exc).__name__}: {first_line(exc, 300)}"
            ) from exc
        scores = self._scores(returned)
        if not self.key:
            if len(scores) != 1:
                names = ", ".join(scores)
                raise UserError(
                    f"The evaluator {self.name} returned {len(scores)} numbers ({names}); the "
                    "accuracy budget needs one.",
                    hint=f"Name the one it applies to: --metric {self.name}@"
                    f"{next(iter(scores), 'NAME')}.",
                )
            self.key = next(iter(scores))
        if self.key not in scores:
            raise UserError(
                f"The evaluator {self.name} returned {', '.join(scores) or 'nothing'}, not "
                f"{self.key!r}.",
                hint=f"Name one of the numbers it returns: --metric {self.name}@NAME.",
            )
        return scores

    def _scores(self, returned: object) -> dict[str, Score]:
        short = self.name.rpartition(":")[2].rpartition(".")[2] or "score"
        items: Mapping[object, object] = (
            returned if isinstance(returned, Mapping) else {short: returned}
        )
        scores: dict[str, Score] = {}
        for name, value in items.items():
            if isinstance(value, Score):
                score = Score(_number(self.name, name, value.value), bool(value.higher_is_better))
            else:
                score = Score(_number(self.name, name, value))
            scores[str(name)] = score
        if not scores:
            raise EvaluatorError(f"the evaluator {self.name} returned no numbers")
        return scores


def _number(fn_name: str, name: object, value: object) -> float:
    """``value`` as a float, or the evaluator's error naming what it returned."""
    scalar = isinstance(value, int | float | np.number) or (
        isinstance(value, np.ndarray) and value.size == 1
    )
    if isinstance(value, bool) or not scalar:
        raise EvaluatorError(
            f"the evaluator {fn_name} returned {type(value).__name__} {str(value)[:40]!r} "
            f"for {name!r}; return numbers, or hwfit.accuracy.Score"
        )
    number = float(value)  # type: ignore[arg-type]
    if math.isinf(number):
        raise EvaluatorError(f"the evaluator {fn_name} returned {number} for {name!r}")
    return number


def resolve_metric(spec: str | None = None, evaluate: Evaluate | None = None) -> Metric | None:
    """The metric a run guards with: a built-in name, ``module:function[@key]``, or a callable.

    Args:
        spec: ``--metric``: a :data:`METRICS` name, or ``module:function`` optionally followed by
            ``@key``, the number the budget applies to. With ``evaluate``, only the key.
        evaluate: A callable evaluator (the API's ``evaluate=``).

    Returns:
        The metric, or None for the default (top-1 with labels, else agreement).

    Raises:
        UserError: An unknown name, a module that cannot be imported, or no such function.
    """
    if evaluate is not None:
        if not callable(evaluate):
            raise UserError(f"evaluate= must be a function, got {type(evaluate).__name__}.")
        name = f"{getattr(evaluate, '__module__', '?')}:{getattr(evaluate, '__qualname__', '?')}"
        return FunctionMetric(evaluate, name, spec or None)
    if spec is None or not spec.strip():
        return None
    spec = spec.strip()
    if ":" not in spec:
        return METRICS.load(spec)()
    target, _, key = spec.partition("@")
    module_name, _, attr = target.partition(":")
    fn = _import_function(module_name, attr, spec)
    return FunctionMetric(fn, target, key or None)


def _import_function(module_name: str, attr: str, spec: str) -> Evaluate:
    """Import the user's evaluator; the current folder is searched too, as ``python -m`` does."""
    if not module_name or not attr:
        raise UserError(
            f"Cannot read --metric {spec!r}.",
            hint="Name a built-in metric (" + ", ".join(METRICS.names()) + ") or your "
            "evaluator as module:function (optionally @name of the number to guard).",
        )
    cwd = str(Path.cwd())
    if cwd not in sys.path:
        sys.path.append(cwd)
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # not found, or the user's module raised while importing
        raise UserError(
            f"Cannot import {module_name!r} for --metric {spec!r}: {first_line(exc, 200)}",
            hint="Make the module importable: run from its folder, install it, or add its "
            "folder to PYTHONPATH.",
        ) from exc
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise UserError(
            f"{module_name!r} has no function {attr!r} (--metric {spec!r}).",
            hint="--metric module:function names a function fn(predict, data) that returns "
            "numbers.",
        )
    return fn  # type: ignore[no-any-return]
