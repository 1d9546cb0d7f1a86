"""PyTorch -> ONNX -> OpenVINO IR conversion, cached by content hash and input shape.

Converted files are written under a temporary name and renamed into place, so a conversion
that crashes half-way never leaves a corrupt file in the cache.
"""

from __future__ import annotations

import contextlib
import io
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

from hwfit._paths import cache_dir
from hwfit.errors import UnsupportedModelError, first_line

if TYPE_CHECKING:
    from hwfit.models.artifact import ModelArtifact
    from hwfit.records import InputSpec

__all__ = ["file_size", "to_onnx", "to_openvino"]

ONNX_OPSET = 18


def _cached(artifact: ModelArtifact, spec: InputSpec, suffix: str) -> Path:
    folder = cache_dir() / "models"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{artifact.info.content_hash[:24]}_{spec.shape_str}{suffix}"


def to_onnx(artifact: ModelArtifact, spec: InputSpec) -> tuple[Path, float]:
    """Return an ONNX file of the model for input ``spec``, and the seconds spent converting.

    ONNX sources are returned as they are. PyTorch models are exported with static shapes
    (what a deployment runs) by ``torch.onnx.export`` and cached.

    Raises:
        UnsupportedModelError: The source cannot become ONNX (OpenVINO IR) or the export failed;
            the message carries the exporter's reason (usually the unsupported operator).
    """
    if artifact.info.kind == "onnx":
        return Path(artifact.info.path or artifact.info.source), 0.0
    if artifact.info.kind != "torch":
        raise UnsupportedModelError(
            f"Model {artifact.info.source!r} is an OpenVINO IR; it cannot be turned into ONNX."
        )
    target = _cached(artifact, spec, ".onnx")
    if target.exists():
        return target, 0.0
    import torch

    start = time.perf_counter()
    tmp = target.with_name(f"{target.stem}.{os.getpid()}.tmp.onnx")
    example = torch.zeros(spec.shape)
    try:
        # The dynamo exporter reports progress on stdout; keep the worker's output clean.
        with contextlib.redirect_stdout(io.StringIO()):
            torch.onnx.export(
                artifact.torch_module(),
                (example,),
                str(tmp),
                dynamo=True,
                opset_version=ONNX_OPSET,
                input_names=[spec.name],
                output_names=["output"],
                external_data=False,
                verbose=False,
            )
    except Exception as exc:
        tmp.unlink(missing_ok=True)
        raise UnsupportedModelError(
            f"PyTorch -> ONNX export of {artifact.info.source!r} failed: {first_line(exc)}"
        ) from exc
    tmp.replace(target)
    return target, time.perf_counter() - start


def to_openvino(artifact: ModelArtifact, spec: InputSpec) -> tuple[Path, float]:
    """Return an OpenVINO IR (``.xml``) of the model for ``spec``, and the seconds converting.

    IR sources are returned as they are; ONNX and PyTorch models go through ONNX and
    ``openvino.convert_model``. Weights are saved in FP32 (``compress_to_fp16=False``):
    OpenVINO's default would store them in FP16, which is not what an FP32 benchmark asks for.

    Raises:
        UnsupportedModelError: The conversion failed (the message names the reason).
    """
    if artifact.info.kind == "openvino":
        return Path(artifact.info.path or artifact.info.source), 0.0
    target = _cached(artifact, spec, ".xml")
    if target.exists() and target.with_suffix(".bin").exists():
        return target, 0.0
    onnx_path, onnx_s = to_onnx(artifact, spec)
    import openvino as ov

    start = time.perf_counter()
    tmp = target.with_name(f"{target.stem}.{os.getpid()}.tmp.xml")
    try:
        model = ov.convert_model(str(onnx_path))
        if artifact.info.kind == "onnx" and not artifact.info.batch_fixed:
            model.reshape({model.inputs[0]: list(spec.shape)})
        ov.save_model(model, str(tmp), compress_to_fp16=False)
    except Exception as exc:
        tmp.unlink(missing_ok=True)
        tmp.with_suffix(".bin").unlink(missing_ok=True)
        raise UnsupportedModelError(
            f"ONNX -> OpenVINO conversion of {artifact.info.source!r} failed: {first_line(exc)}"
        ) from exc
    tmp.with_suffix(".bin").replace(target.with_suffix(".bin"))
    tmp.replace(target)
    return target, onnx_s + time.perf_counter() - start


def file_size(path: Path) -> int:
    """Size of a model file on disk, with its IR ``.bin`` when it has one."""
    size = path.stat().st_size
    if path.suffix == ".xml" and path.with_suffix(".bin").exists():
        size += path.with_suffix(".bin").stat().st_size
    return size
