"""Model files with their graph inside: ONNX (``.onnx``) and OpenVINO IR (``.xml`` + ``.bin``).

Each is read with its framework (imported inside the function), its one input found and its
shape merged with the user's; the content hash is that of the files.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from hwfit.errors import ModelSourceError, UserError, first_line
from hwfit.models.complexity import onnx_complexity, openvino_complexity
from hwfit.models.shapes import merge_shape
from hwfit.records import InputSpec, ModelInfo

__all__ = ["describe_onnx", "describe_openvino"]


def describe_onnx(path: str, user: tuple[int, ...] | None) -> ModelInfo:
    import onnx

    try:
        onnx.checker.check_model(path)
        proto = onnx.load(path)
    except Exception as exc:
        raise ModelSourceError(
            f"Cannot read ONNX model {path!r}: {first_line(exc, 300)}",
            hint="The file is not a valid ONNX model; export it again.",
        ) from exc
    initializers = {i.name for i in proto.graph.initializer}
    inputs = [i for i in proto.graph.input if i.name not in initializers]
    if len(inputs) != 1:
        raise UserError(
            f"Model {path!r} has {len(inputs)} inputs; hwfit benchmarks single-input models."
        )
    tensor_type = inputs[0].type.tensor_type
    native = [
        d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None
        for d in tensor_type.shape.dim
    ]
    shape = merge_shape(path, native, user)
    dtype = onnx.helper.tensor_dtype_to_np_dtype(tensor_type.elem_type).name
    params, macs, macs_note = onnx_complexity(proto, inputs[0].name, shape)
    return ModelInfo(
        source=path,
        kind="onnx",
        content_hash=_hash_files(Path(path)),
        input=InputSpec(inputs[0].name, shape, dtype),
        params=params,
        macs=macs,
        macs_note=macs_note,
        path=str(Path(path).resolve()),
        batch_fixed=native[0] is not None,
    )


def describe_openvino(path: str, user: tuple[int, ...] | None) -> ModelInfo:
    import openvino as ov

    bin_path = Path(path).with_suffix(".bin")
    try:
        model = ov.Core().read_model(path)
    except Exception as exc:
        raise ModelSourceError(
            f"Cannot read OpenVINO IR {path!r}: {first_line(exc, 300)}",
            hint=f"An IR is a .xml with its .bin ({bin_path.name}) beside it; convert it again.",
        ) from exc
    if len(model.inputs) != 1:
        raise UserError(
            f"Model {path!r} has {len(model.inputs)} inputs; hwfit benchmarks single-input models."
        )
    port = model.inputs[0]
    pshape = port.get_partial_shape()
    native = [d.get_length() if d.is_static else None for d in pshape]
    shape = merge_shape(path, native, user)
    params, macs, macs_note = openvino_complexity(model, shape)
    files = [Path(path)] + ([bin_path] if bin_path.exists() else [])
    return ModelInfo(
        source=path,
        kind="openvino",
        content_hash=_hash_files(*files),
        input=InputSpec(port.get_any_name(), shape, port.get_element_type().to_dtype().name),
        params=params,
        macs=macs,
        macs_note=macs_note,
        path=str(Path(path).resolve()),
        batch_fixed=native[0] is not None,
    )


def _hash_files(*paths: Path) -> str:
    digest = hashlib.sha256()
    for path in paths:
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()
