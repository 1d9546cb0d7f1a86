"""Run one precision recipe from a job description, inside a worker process.

Quantizers are large native libraries: running them in a worker (see
:func:`hwfit.bench.spawn_worker`) means a crash or a hang fails one candidate, and a time
budget can end them.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from hwfit.accuracy.metrics import fidelity, topk_accuracy
from hwfit.errors import HwfitError
from hwfit.models.artifact import ModelArtifact
from hwfit.precisions import Precision
from hwfit.precisions.base import PrecisionRecipe, PreparedModel, QuantData
from hwfit.records import InputSpec, ModelInfo, from_dict
from hwfit.registry import import_path

__all__ = [
    "QUANTIZER_METRICS",
    "PrepareJob",
    "prepared_from_worker",
    "run_prepare",
    "write_quant_data",
]

#: The metrics a quantizer's accuracy control computes itself in the worker (from outputs,
#: labels, COCO boxes: :func:`_quant_data`'s ``metric``); any other metric (a user's) cannot
#: run there.
QUANTIZER_METRICS = frozenset({"agreement", "map", "map50", "top1", "top5"})


@dataclasses.dataclass(frozen=True)
class PrepareJob:
    """One candidate's preparation, as the worker receives it (JSON through ``to_dict``).

    Attributes:
        recipe_path: The recipe's ``"module:Class"`` (a recipe registered in the parent process
            is found by path in the worker too).
        data: The ``.npz`` :func:`write_quant_data` wrote.
        metric: ``"top1"``/``"top5"`` (labels), ``"map"``/``"map50"`` (a detector's COCO mAP,
            against ``annotations`` or, label-free, the FP32 detector's own boxes), or
            ``"agreement"`` (with the FP32 reference outputs).
        max_drop: The largest drop of ``metric`` allowed, in its own units.
        class_axis: The axis of the class scores in the model's output (an SSD's: -1; None:
            its first output holds no class scores, as a YOLO's).
        annotations: A COCO annotation file the validation images are in, for ``map``.
    """

    recipe_path: str
    model: ModelInfo
    runtime: str
    precision: str
    spec: InputSpec
    out_dir: str
    data: str
    metric: str
    max_drop: float
    trust_model: bool = False
    class_axis: int | None = 1
    annotations: str | None = None


def write_quant_data(
    path: Path,
    *,
    calibration: np.ndarray,
    validation: np.ndarray,
    labels: np.ndarray | None,
    reference: np.ndarray | tuple[np.ndarray, ...] | None,
    image_ids: tuple[int, ...] = (),
    image_sizes: tuple[tuple[int, int], ...] = (),
) -> None:
    """Store what a recipe may need (arrays) for :func:`run_prepare` to read.

    ``reference`` is the FP32 model's outputs on the validation inputs, every output of it;
    ``image_ids``/``image_sizes`` are a COCO validation set's (a detector's mAP needs them).
    """
    arrays: dict[str, np.ndarray] = {"calibration": calibration, "validation": validation}
    if labels is not None:
        arrays["labels"] = labels
    outputs = reference if isinstance(reference, tuple) else (reference,)
    for index, output in enumerate(o for o in outputs if o is not None):
        arrays["reference" if index == 0 else f"reference_{index}"] = output
    if image_ids:
        arrays["image_ids"] = np.asarray(image_ids, np.int64)
        arrays["image_sizes"] = np.asarray(image_sizes, np.int64).reshape(-1, 2)
    np.savez(path, **arrays)  # type: ignore[arg-type]


def _quant_data(job: PrepareJob) -> QuantData:
    data = np.load(job.data)
    labels = data.get("labels", None)
    extra = sorted((k for k in data.files if k.startswith("reference_")), key=_index)
    reference = (data["reference"], *(data[k] for k in extra)) if "reference" in data else None

    if job.metric not in QUANTIZER_METRICS:
        raise HwfitError(f"A quantizer cannot compute the metric {job.metric!r} itself.")

    def metric(outputs: tuple[np.ndarray, ...]) -> float:
        if job.metric in ("top1", "top5") and labels is not None:
            return topk_accuracy(outputs[0], labels)[job.metric]
        if reference is None:
            raise HwfitError("No FP32 reference outputs to compare with.")
        if job.metric in ("map", "map50"):
            return detection_map(outputs)
        if job.class_axis is None:
            raise HwfitError("The model's first output holds no class scores to agree on.")
        return fidelity(reference[0], outputs[0], job.class_axis).top1_agreement

    def detection_map(outputs: tuple[np.ndarray, ...]) -> float:
        """The run's own mAP metric (:class:`~hwfit.accuracy.evaluators.MapMetric`)."""
        from hwfit.accuracy.evaluators import METRICS, EvalData
        from hwfit.models.detection import detection_decoder

        if not detector:  # built on the first call: the decoder, the metric and its data
            annotations = Path(job.annotations) if job.annotations else None
            detector["metric"] = METRICS.load(job.metric)()
            detector["data"] = EvalData(
                x=data["validation"],
                y=None,
                reference=reference,
                image_ids=tuple(int(i) for i in data.get("image_ids", ())),
                image_sizes=tuple((int(h), int(w)) for h, w in data.get("image_sizes", ())),
                annotations=annotations,
                decoder=detection_decoder(job.model.source),
            )
        scores = detector["metric"].score(tuple(outputs), detector["data"])
        return float(scores[job.metric].value)

    detector: dict[str, Any] = {}
    return QuantData(
        calibration=data["calibration"],
        validation=data["validation"],
        metric=metric,
        max_drop=float(job.max_drop),
    )


def _index(key: str) -> int:
    return int(key.rsplit("_", 1)[1])


def run_prepare(job: dict[str, Any]) -> dict[str, Any]:
    """The ``prepare`` task of the worker, JSON in and out: the PreparedModel or the error."""
    try:
        request = from_dict(PrepareJob, job)
        recipe_cls: type[PrecisionRecipe] = import_path(request.recipe_path)
        recipe = recipe_cls(request.runtime, Precision(request.precision))
        artifact = ModelArtifact.from_info(request.model, trust_model=request.trust_model)
        prepared = recipe.prepare(
            artifact, request.spec, Path(request.out_dir), _quant_data(request)
        )
    except HwfitError as exc:
        return {"ok": False, "error": exc.message}
    except Exception as exc:  # a quantizer's own error fails this candidate only
        text = str(exc).strip().splitlines()[0][:400] if str(exc).strip() else ""
        return {"ok": False, "error": f"{type(exc).__name__}: {text}"}
    return {
        "ok": True,
        "path": str(prepared.path) if prepared.path else None,
        "kind": prepared.kind,
        "seconds": prepared.seconds,
        "details": prepared.details,
    }


def prepared_from_worker(result: dict[str, object]) -> PreparedModel | str:
    """The :class:`PreparedModel` a :func:`run_prepare` worker returned; str: its error."""
    if not result["ok"]:
        return str(result["error"])
    seconds, details = result["seconds"], result["details"]
    return PreparedModel(
        path=Path(str(result["path"])) if result["path"] else None,
        kind=str(result["kind"]),
        seconds=float(seconds) if isinstance(seconds, int | float) else 0.0,
        details={str(k): str(v) for k, v in details.items()} if isinstance(details, dict) else {},
    )
