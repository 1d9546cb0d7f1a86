"""PyTorch -> ONNX -> OpenVINO IR conversion: the one exporter and the one IR converter.

:func:`export_module_onnx` and :func:`onnx_to_openvino` are the conversions every part of hwfit
uses (benchmark rows, precision recipes, the architecture search's latency measurements).
:func:`to_onnx` and :func:`to_openvino` put them behind a cache keyed by content hash and input
shape: converted files are written under a temporary name and renamed into place, so a
conversion that crashes half-way never leaves a corrupt file in the cache.
"""

from __future__ import annotations

import contextlib
import io
import os
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from hwfit._paths import cache_dir
from hwfit.errors import UnsupportedModelError, first_line

if TYPE_CHECKING:
    from torch import nn

    from hwfit.models.artifact import ModelArtifact
    from hwfit.records import InputSpec

__all__ = [
    "ONNX_OPSET",
    "Exporter",
    "export_module_onnx",
    "file_size",
    "onnx_to_openvino",
    "to_onnx",
    "to_openvino",
]

ONNX_OPSET = 18

Exporter = Literal["fast", "dynamo"]
"""``fast``: TorchScript exporter, dynamo as fallback; ``dynamo``: the dynamo exporter only."""


#: The exporter policy of the cached files, in their names: a change never reuses old graphs.
_GRAPH: Exporter = "fast"


def _cached(artifact: ModelArtifact, spec: InputSpec, suffix: str) -> Path:
    folder = cache_dir() / "models"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{artifact.info.content_hash[:24]}_{spec.shape_str}_{_GRAPH}{suffix}"


def export_module_onnx(
    module: nn.Module,
    shape: Sequence[int],
    path: Path,
    *,
    exporter: Exporter = "fast",
    input_name: str = "input",
    name: str | None = None,
) -> None:
    """Export a PyTorch module to an ONNX file with the static input ``shape``.

    ``fast`` uses the TorchScript exporter (about 0.3 s for a MobileNetV2, against 3-5 s for
    the dynamo exporter), and the dynamo exporter when it fails on a model whose forward pass
    runs; the two can write different (equivalent) graphs. ``dynamo`` uses the dynamo exporter
    only. The module is put in eval mode for the export and given back in its former mode.

    Args:
        module: The ``torch.nn.Module``.
        shape: Its input shape, batch first.
        path: The ONNX file to write.
        exporter: Which exporter (see :data:`Exporter`).
        input_name: Name of the graph input (the output is ``output``).
        name: The model's name in error messages.

    Raises:
        UnsupportedModelError: The model cannot be exported (names the exporter's first error,
            or the forward pass's when the model does not even run).
    """
    import torch

    what = f"PyTorch -> ONNX export of {name!r}" if name else "PyTorch -> ONNX export"
    example = torch.zeros(tuple(int(d) for d in shape))
    was_training = module.training
    module.eval()
    try:
        if exporter == "fast":
            try:
                with warnings.catch_warnings(), torch.no_grad():
                    # The TorchScript exporter is deprecated (still shipped by the pinned torch).
                    warnings.simplefilter("ignore", DeprecationWarning)
                    torch.onnx.export(
                        module,
                        (example,),
                        str(path),
                        dynamo=False,
                        opset_version=ONNX_OPSET,
                        input_names=[input_name],
                        output_names=["output"],
                    )
                return
            except Exception as exc:
                first_error: Exception | None = exc
            try:  # a model that cannot even run is not worth the slow second exporter
                with torch.no_grad():
                    module(example)
            except Exception as exc:
                raise UnsupportedModelError(
                    f"{what} failed: the forward pass raised {first_line(exc)}"
                ) from exc
        else:
            first_error = None
        try:
            # The dynamo exporter reports progress on stdout; keep the worker's output clean.
            with contextlib.redirect_stdout(io.StringIO()):
                torch.onnx.export(
                    module,
                    (example,),
                    str(path),
                    dynamo=True,
                    opset_version=ONNX_OPSET,
                    input_names=[input_name],
                    output_names=["output"],
                    external_data=False,
                    verbose=False,
                )
        except Exception as exc:
            cause = first_error or exc
            raise UnsupportedModelError(f"{what} failed: {first_line(cause)}") from cause
    finally:
        module.train(was_training)


def onnx_to_openvino(
    onnx_path: Path,
    xml_path: Path,
    *,
    shape: Sequence[int] | None = None,
    name: str | None = None,
) -> Path:
    """Convert an ONNX file to an FP32 OpenVINO IR (``xml_path`` and its ``.bin``).

    Weights are saved in FP32 (``compress_to_fp16=False``): OpenVINO's default would store
    them in FP16, which is not what an FP32 benchmark asks for.

    Args:
        onnx_path: The ONNX file.
        xml_path: The IR to write.
        shape: Reshape the model's first input to this static shape (for dynamic ONNX files).
        name: The model's name in error messages.

    Returns:
        ``xml_path``.

    Raises:
        UnsupportedModelError: The conversion failed (the message names the reason).
    """
    import openvino as ov

    try:
        model = ov.convert_model(str(onnx_path))
        if shape is not None:
            model.reshape({model.inputs[0]: [int(d) for d in shape]})
        ov.save_model(model, str(xml_path), compress_to_fp16=False)
    except Exception as exc:
        of = f" of {name!r}" if name else ""
        raise UnsupportedModelError(
            f"ONNX -> OpenVINO conversion{of} failed: {first_line(exc)}"
        ) from exc
    return xml_path


def to_onnx(artifact: ModelArtifact, spec: InputSpec) -> tuple[Path, float]:
    """Return an ONNX file of the model for input ``spec``, and the seconds spent converting.

    ONNX sources are returned as they are. PyTorch models are exported with static shapes
    (what a deployment runs) by :func:`export_module_onnx` and cached. The exporter is the
    TorchScript one (``fast``; dynamo where it fails): measured paired on resnet18,
    efficientnet_b0 and mobilenetv3_large_100 (AMD EPYC, AVX-512 BF16, 2 threads), OpenVINO
    ran its graph 1.1-2.4% faster in FP32 than the dynamo exporter's, ONNX Runtime ran both
    alike (within +-2%), and it exports in a tenth of the time. It is also the graph a plain
    ``torch.onnx.export(..., dynamo=False)`` gives, the peers' way.

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
    start = time.perf_counter()
    tmp = target.with_name(f"{target.stem}.{os.getpid()}.tmp.onnx")
    try:
        export_module_onnx(
            artifact.torch_module(),
            spec.shape,
            tmp,
            exporter=_GRAPH,
            input_name=spec.name,
            name=artifact.info.source,
        )
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(target)
    return target, time.perf_counter() - start


def to_openvino(artifact: ModelArtifact, spec: InputSpec) -> tuple[Path, float]:
    """Return an OpenVINO IR (``.xml``) of the model for ``spec``, and the seconds converting.

    IR sources are returned as they are; ONNX and PyTorch models go through ONNX and
    :func:`onnx_to_openvino` (FP32 weights).

    Raises:
        UnsupportedModelError: The conversion failed (the message names the reason).
    """
    if artifact.info.kind == "openvino":
        return Path(artifact.info.path or artifact.info.source), 0.0
    target = _cached(artifact, spec, ".xml")
    if target.exists() and target.with_suffix(".bin").exists():
        return target, 0.0
    onnx_path, onnx_s = to_onnx(artifact, spec)
    start = time.perf_counter()
    tmp = target.with_name(f"{target.stem}.{os.getpid()}.tmp.xml")
    dynamic = artifact.info.kind == "onnx" and not artifact.info.batch_fixed
    try:
        onnx_to_openvino(
            onnx_path, tmp, shape=spec.shape if dynamic else None, name=artifact.info.source
        )
    except BaseException:
        tmp.unlink(missing_ok=True)
        tmp.with_suffix(".bin").unlink(missing_ok=True)
        raise
    tmp.with_suffix(".bin").replace(target.with_suffix(".bin"))
    tmp.replace(target)
    return target, onnx_s + time.perf_counter() - start


def file_size(path: Path) -> int:
    """Size of a model file on disk, with its IR ``.bin`` when it has one."""
    size = path.stat().st_size
    if path.suffix == ".xml" and path.with_suffix(".bin").exists():
        size += path.with_suffix(".bin").stat().st_size
    return size
