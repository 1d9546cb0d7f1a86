"""Run one precision recipe from a job description, inside a worker process.

Quantizers are large native libraries: running them in a worker (see
:func:`hwfit.bench.spawn_worker`) means a crash or a hang fails one candidate, and a time
budget can end them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hwfit.errors import HwfitError
from hwfit.precisions import Precision
from hwfit.precisions.base import PrecisionRecipe, QuantData
from hwfit.records import InputSpec, ModelInfo, from_dict
from hwfit.registry import import_path

__all__ = ["run_prepare", "write_quant_data"]


def write_quant_data(
    path: Path,
    *,
    calibration: np.ndarray,
    validation: np.ndarray,
    labels: np.ndarray | None,
    reference: np.ndarray | None,
) -> None:
    """Store what a recipe may need (arrays) for :func:`run_prepare` to read."""
    arrays = {"calibration": calibration, "validation": validation}
    if labels is not None:
        arrays["labels"] = labels
    if reference is not None:
        arrays["reference"] = reference
    np.savez(path, **arrays)  # type: ignore[arg-type]


def _quant_data(job: dict[str, Any]) -> QuantData:
    from hwfit.accuracy.metrics import fidelity, topk_accuracy

    data = np.load(job["data"])
    labels = data.get("labels", None)
    reference = data.get("reference", None)

    def metric(logits: np.ndarray) -> float:
        if job["metric"] == "top1" and labels is not None:
            return topk_accuracy(logits, labels)["top1"]
        if reference is None:
            raise HwfitError("No FP32 reference outputs to compare with.")
        return fidelity(reference, logits).top1_agreement

    return QuantData(
        calibration=data["calibration"],
        validation=data["validation"],
        metric=metric,
        max_drop=float(job["max_drop"]),
    )


def run_prepare(job: dict[str, Any]) -> dict[str, Any]:
    """Prepare one candidate's model; return the PreparedModel fields or the error."""
    from hwfit.models.artifact import ModelArtifact

    try:
        # By path, so a recipe registered in the parent process is found here too.
        recipe_cls: type[PrecisionRecipe] = import_path(job["recipe_path"])
        recipe = recipe_cls(job["runtime"], Precision(job["precision"]))
        artifact = ModelArtifact.from_info(
            from_dict(ModelInfo, job["model"]), trust_model=bool(job.get("trust_model", False))
        )
        spec = from_dict(InputSpec, job["spec"])
        prepared = recipe.prepare(artifact, spec, Path(job["out_dir"]), _quant_data(job))
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
