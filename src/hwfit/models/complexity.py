"""Parameters and multiply-accumulates of ONNX and OpenVINO IR graphs, read from the graph.

Parameters are the elements of the weight tensors (ONNX initializers and ``Constant`` nodes,
IR ``Constant`` ops), without the integer tensors that hold shapes and indices. MACs are those
of one batch-1 forward pass through the layers that do nearly all the arithmetic of a vision
model: convolutions (and their transposes) and matrix products (``Gemm``, ``MatMul`` and their
quantized forms), sized by shape inference (``onnx.shape_inference``) or by the shapes OpenVINO
propagates. Where a size cannot be known, there is no MAC count but the reason for it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from hwfit.errors import first_line

if TYPE_CHECKING:
    import onnx
    import openvino as ov

__all__ = ["Complexity", "onnx_complexity", "openvino_complexity"]

Complexity = tuple[int, int | None, str | None]
"""``(params, macs, why_no_macs)``: ``macs`` is None exactly when the reason is given."""

# onnx.TensorProto data types that hold shapes, indices or flags rather than weights.
_NOT_WEIGHTS = frozenset({6, 7, 8, 9, 12, 13})  # INT32 INT64 STRING BOOL UINT32 UINT64

# ONNX convolution -> the index of its weight input.
_ONNX_CONV = {"Conv": 1, "ConvInteger": 1, "QLinearConv": 3}
# ONNX matrix product -> the index of its input A (out = A x B).
_ONNX_MATMUL = {"Gemm": 0, "MatMul": 0, "MatMulInteger": 0, "QLinearMatMul": 0}
_CONTROL_FLOW = frozenset({"If", "Loop", "Scan"})


def _prod(dims: Sequence[int]) -> int:
    out = 1
    for d in dims:
        out *= int(d)
    return out


def onnx_complexity(proto: onnx.ModelProto, input_name: str, shape: Sequence[int]) -> Complexity:
    """Parameters and batch-1 MACs of an ONNX model whose input ``input_name`` has ``shape``.

    Args:
        proto: The ``onnx.ModelProto`` (left unchanged).
        input_name: Its graph input.
        shape: The input shape, batch first; MACs are counted at it and given per sample.
    """
    params = sum(_prod(t.dims) for t in _onnx_weights(proto.graph))
    try:
        macs, why = _onnx_macs(proto, input_name, shape)
    except Exception as exc:  # shape inference of an exotic graph: no count, say why
        macs, why = None, f"shape inference failed: {first_line(exc, 120)}"
    return params, macs, why


def _onnx_weights(graph: onnx.GraphProto) -> Iterator[onnx.TensorProto]:
    """Weight tensors of a graph and its subgraphs: initializers and Constant node values."""
    for tensor in graph.initializer:
        if tensor.data_type not in _NOT_WEIGHTS:
            yield tensor
    for node in graph.node:
        for attr in node.attribute:
            is_value = node.op_type == "Constant" and attr.name == "value"
            if is_value and attr.t.data_type not in _NOT_WEIGHTS:
                yield attr.t
            if attr.type == attr.GRAPH:
                yield from _onnx_weights(attr.g)
            for sub in attr.graphs:
                yield from _onnx_weights(sub)


def _onnx_macs(
    proto: onnx.ModelProto, input_name: str, shape: Sequence[int]
) -> tuple[int | None, str | None]:
    import onnx

    model = onnx.ModelProto()
    model.CopyFrom(proto)
    graph = model.graph
    if any(node.op_type in _CONTROL_FLOW for node in graph.node):
        return None, "the graph has control flow (If/Loop/Scan) that shape inference cannot size"
    for value in graph.input:
        if value.name == input_name:
            dims = value.type.tensor_type.shape.dim
            for dim, size in zip(dims, shape, strict=False):
                dim.ClearField("dim_param")
                dim.dim_value = size
    inferred = onnx.shape_inference.infer_shapes(model, data_prop=True)
    shapes: dict[str, list[int | None]] = {}
    for value in (*inferred.graph.input, *inferred.graph.value_info, *inferred.graph.output):
        if value.type.HasField("tensor_type") and value.type.tensor_type.HasField("shape"):
            shapes[value.name] = [
                d.dim_value if d.HasField("dim_value") else None
                for d in value.type.tensor_type.shape.dim
            ]
    for tensor in inferred.graph.initializer:
        shapes[tensor.name] = list(tensor.dims)
    for node in inferred.graph.node:
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value":
                    shapes[node.output[0]] = list(attr.t.dims)

    def known(name: str) -> list[int] | None:
        dims = shapes.get(name)
        if dims is None or any(d is None for d in dims):
            return None
        return [int(d) for d in dims if d is not None]

    total, counted = 0, 0
    for node in inferred.graph.node:
        op = node.op_type
        if op not in _ONNX_CONV and op not in _ONNX_MATMUL and op != "ConvTranspose":
            continue
        out = known(node.output[0])
        if op in _ONNX_CONV:
            weight = known(node.input[_ONNX_CONV[op]])
            if out is None or weight is None:
                return None, _unsized(node)
            total += _prod(out) * _prod(weight[1:])
        elif op == "ConvTranspose":  # each input element meets C_out/groups x kernel weights
            data, weight = known(node.input[0]), known(node.input[1])
            if data is None or weight is None:
                return None, _unsized(node)
            total += _prod(data) * _prod(weight[1:])
        else:
            a = known(node.input[_ONNX_MATMUL[op]])
            if out is None or a is None or not a:
                return None, _unsized(node)
            trans_a = op == "Gemm" and any(
                attr.name == "transA" and attr.i for attr in node.attribute
            )
            total += _prod(out) * (a[0] if trans_a else a[-1])  # A is [..., M, K] ([K, M])
        counted += 1
    if not counted:
        return None, "no Conv, Gemm or MatMul layer to count"
    return total // max(1, int(shape[0])), None


def _unsized(node: onnx.NodeProto) -> str:
    name = f" {node.name!r}" if node.name else ""
    return f"shape inference could not size {node.op_type}{name}"


def openvino_complexity(model: ov.Model, shape: Sequence[int]) -> Complexity:
    """Parameters and batch-1 MACs of an OpenVINO ``ov.Model`` whose input has ``shape``.

    Args:
        model: The model (reshaped on a clone when its input is not already ``shape``).
        shape: The input shape, batch first; MACs are counted at it and given per sample.
    """
    params = 0
    for op in model.get_ops():
        if op.get_type_name() == "Constant":
            kind = op.get_element_type()
            if kind.is_real() or kind.get_type_name() in ("i8", "u8", "i4", "u4"):
                params += _prod(op.get_output_shape(0))
    try:
        macs, why = _openvino_macs(model, shape)
    except Exception as exc:
        macs, why = None, f"OpenVINO could not size the graph: {first_line(exc, 120)}"
    return params, macs, why


def _openvino_macs(model: ov.Model, shape: Sequence[int]) -> tuple[int | None, str | None]:
    wanted = [int(d) for d in shape]
    if list(model.inputs[0].get_partial_shape()) != wanted:
        model = model.clone()
        model.reshape({model.inputs[0]: wanted})

    def static(partial: ov.PartialShape) -> list[int] | None:
        return [int(d.get_length()) for d in partial] if partial.is_static else None

    total, counted = 0, 0
    for op in model.get_ordered_ops():
        kind = op.get_type_name()
        if kind not in (
            "Convolution",
            "GroupConvolution",
            "ConvolutionBackpropData",
            "GroupConvolutionBackpropData",
            "MatMul",
        ):
            continue
        data = static(op.get_input_partial_shape(0))
        other = static(op.get_input_partial_shape(1))
        out = static(op.get_output_partial_shape(0))
        if data is None or other is None or out is None:
            return None, f"OpenVINO could not size {kind} {op.get_friendly_name()!r}"
        if kind == "Convolution":
            total += _prod(out) * _prod(other[1:])
        elif kind == "GroupConvolution":
            total += _prod(out) * _prod(other[2:])
        elif kind == "ConvolutionBackpropData":
            total += _prod(data) * _prod(other[1:])
        elif kind == "GroupConvolutionBackpropData":
            total += _prod(data) * _prod(other[2:])
        else:
            transpose_a = bool(op.get_attributes().get("transpose_a", False))
            inner = data[-2] if transpose_a and len(data) > 1 else data[-1]  # A: [..., M, K]
            total += _prod(out) * inner
        counted += 1
    if not counted:
        return None, "no convolution or MatMul layer to count"
    return total // max(1, wanted[0]), None
