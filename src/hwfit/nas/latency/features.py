"""Per-layer features of a built model: what a latency predictor learns from.

One forward pass with hooks on the leaf layers records, per layer kind, how many layers there
are, their multiply-accumulates (MACs), weights and the bytes of their input and output
activations. On a CPU, INT8 inference time is roughly a fixed cost per layer plus compute
(MACs, at a rate that differs between 1x1, depthwise and dense convolutions) plus memory
traffic (activation bytes, which dominate depthwise layers); these sums are the features.

Layer kinds (``KINDS``):

* ``conv1x1``: pointwise convolutions (the expansion and projection layers of inverted
  residuals);
* ``dw3``, ``dw5``, ``dw7``, ``dwk``: depthwise convolutions of kernel 3, 5, 7 and other sizes;
* ``conv``: dense (and grouped) kxk convolutions, k > 1, such as the stem;
* ``se``: 1x1 convolutions on a 1x1 map (squeeze-excite gates, the head of MobileNetV3) and
  linear layers inside blocks;
* ``linear``: the classifier and other fully connected layers outside blocks.

Activations are counted per type (``ACT_TYPES``: relu, relu6, hard_swish, silu, gelu, sigmoid,
hard_sigmoid, other) on feature maps larger than 1x1, because their cost depends on the type: on
an INT8 CPU target a ReLU6 (a clamp) folds into the quantization of the convolution's output,
while hard-swish, SiLU and (measured on OpenVINO INT8) ReLU run as extra per-element work after
the convolution. ``act_extra_layers`` / ``act_extra_bytes`` sum every type but relu6.
Squeeze-excite modules are counted (``se_blocks``) with the bytes of the map they scale
(``se_bytes``: it is read by the pooling and again by the multiplication) and of its gate
(``se_gate_bytes``: one value per channel).

Activation bytes count 4 bytes per element (FP32 tensors between layers); for an INT8 target
only the scale changes, which no predictor minds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["ACT_TYPES", "BLOCK_CLASSES", "FEATURE_KEYS", "KINDS", "SE_CLASSES", "layer_features"]

KINDS: tuple[str, ...] = ("conv1x1", "dw3", "dw5", "dw7", "dwk", "conv", "se", "linear")
#: Activation types counted apart (``act_<type>_layers``, ``act_<type>_bytes``).
ACT_TYPES: tuple[str, ...] = (
    "relu",
    "relu6",
    "hard_swish",
    "silu",
    "gelu",
    "sigmoid",
    "hard_sigmoid",
    "other",
)
_PER_KIND = ("layers", "macs", "params", "in_bytes", "out_bytes")
_GLOBAL = (
    "resolution",
    "batch",
    "input_bytes",
    "macs",
    "params",
    "layers",
    "in_bytes",
    "out_bytes",
    "max_out_bytes",
    "dw_layers",
    "dw_macs",
    "dw_out_bytes",
    "act_layers",
    "act_bytes",
    "pool_layers",
    "blocks",
    "residual_blocks",
    "residual_bytes",
    "stride2_layers",
    "act_extra_layers",
    "act_extra_bytes",
    "se_blocks",
    "se_bytes",
    "se_gate_bytes",
)
#: Every key :func:`layer_features` returns, in a fixed order.
FEATURE_KEYS: tuple[str, ...] = (
    _GLOBAL
    + tuple(f"{k}_{q}" for k in KINDS for q in _PER_KIND)
    + tuple(f"act_{t}_{q}" for t in ACT_TYPES for q in ("layers", "bytes"))
)
#: Class names of the building blocks of timm's CNN families (counted as ``blocks``).
BLOCK_CLASSES: frozenset[str] = frozenset(
    {
        "InvertedResidual",
        "DepthwiseSeparableConv",
        "EdgeResidual",
        "CondConvResidual",
        "UniversalInvertedResidual",
        "BasicBlock",
        "Bottleneck",
        "BottleneckBlock",
        "PreBottleneck",
        "ConvNeXtBlock",
        "InferenceCell",
        "SearchCell",
    }
)
#: Class names of squeeze-excite modules (timm, torchvision), counted as ``se_blocks``.
SE_CLASSES: frozenset[str] = frozenset(
    {"SqueezeExcite", "SEModule", "EffectiveSEModule", "SqueezeExcitation", "SEBlock"}
)
# Activation modules by class name (torch.nn and timm's own), with their type.
_ACTIVATIONS: dict[str, str] = {
    "ReLU": "relu",
    "ReLU6": "relu6",
    "Hardswish": "hard_swish",
    "HardSwish": "hard_swish",
    "HardSwishMe": "hard_swish",
    "SiLU": "silu",
    "Swish": "silu",
    "SwishMe": "silu",
    "GELU": "gelu",
    "GELUTanh": "gelu",
    "QuickGELU": "gelu",
    "Sigmoid": "sigmoid",
    "Hardsigmoid": "hard_sigmoid",
    "HardSigmoid": "hard_sigmoid",
    "HardSigmoidMe": "hard_sigmoid",
    "Tanh": "other",
    "LeakyReLU": "other",
    "PReLU": "other",
    "ELU": "other",
    "Mish": "other",
    "MishMe": "other",
    "HardMish": "other",
}
# The activation that folds into the INT8 quantization of its convolution's output (a clamp).
_FOLDED_ACTS = frozenset({"relu6"})
_POOLS = (
    nn.AdaptiveAvgPool2d,
    nn.AdaptiveMaxPool2d,
    nn.AvgPool2d,
    nn.MaxPool2d,
)
_BYTES_PER_ELEMENT = 4


def layer_features(model: nn.Module, input_shape: Sequence[int]) -> dict[str, float]:
    """Describe ``model`` at ``input_shape`` by the features in :data:`FEATURE_KEYS`.

    Runs one forward pass on zeros under ``torch.no_grad`` with hooks on every leaf layer;
    the model is left as it was (hooks removed, mode restored).

    Args:
        model: A built model (random weights are fine: features depend on shapes only).
        input_shape: The full input shape, batch first, e.g. ``(1, 3, 64, 64)``.

    Returns:
        Feature name -> value, with exactly the keys of :data:`FEATURE_KEYS`.

    Example:
        >>> import timm
        >>> f = layer_features(timm.create_model("mobilenetv2_050", num_classes=10),
        ...                    (1, 3, 64, 64))
        >>> f["resolution"], f["dw3_layers"], f["blocks"]
        (64.0, 17.0, 17.0)
    """
    values = dict.fromkeys(FEATURE_KEYS, 0.0)
    shape = tuple(int(d) for d in input_shape)
    values["batch"] = float(shape[0])
    values["resolution"] = float(shape[-1])
    values["input_bytes"] = float(math.prod(shape) * _BYTES_PER_ELEMENT)
    in_block: set[nn.Module] = set()
    for module in model.modules():
        if _is_block(module):
            in_block.update(m for m in module.modules() if isinstance(m, nn.Linear))

    def on_layer(module: nn.Module, inputs: tuple[object, ...], output: object) -> None:
        _record(values, module, inputs, output, module in in_block)

    def on_block(module: nn.Module, inputs: tuple[object, ...], output: object) -> None:
        values["blocks"] += 1
        if _has_skip(module):
            values["residual_blocks"] += 1
            values["residual_bytes"] += _bytes(output)

    def on_se(module: nn.Module, inputs: tuple[object, ...], output: object) -> None:
        x = inputs[0] if inputs else None
        values["se_blocks"] += 1
        if isinstance(x, torch.Tensor) and x.dim() >= 2:
            values["se_bytes"] += _bytes(x)
            values["se_gate_bytes"] += float(x.shape[0] * x.shape[1] * _BYTES_PER_ELEMENT)

    handles = []
    for module in model.modules():
        name = type(module).__name__
        if _is_block(module):
            handles.append(module.register_forward_hook(on_block))
        elif name in SE_CLASSES:
            handles.append(module.register_forward_hook(on_se))
        elif isinstance(module, (nn.Conv2d, nn.Linear, *_POOLS)) or name in _ACTIVATIONS:
            handles.append(module.register_forward_hook(on_layer))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(shape))
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    return values


def _record(
    values: dict[str, float],
    module: nn.Module,
    inputs: tuple[object, ...],
    output: object,
    inside_block: bool,
) -> None:
    act = _ACTIVATIONS.get(type(module).__name__)
    if act is not None:
        _record_activation(values, act, output)
        return
    if isinstance(module, _POOLS):
        values["pool_layers"] += 1
        return
    x = inputs[0]
    if not isinstance(x, torch.Tensor) or not isinstance(output, torch.Tensor):
        return  # convolutions and linear layers take and give tensors
    out_elements = output.numel()
    if isinstance(module, nn.Conv2d):
        kh, kw = module.kernel_size
        macs = out_elements * (module.in_channels // module.groups) * kh * kw
        kind = _conv_kind(module, x)
        if module.stride[0] > 1 or module.stride[1] > 1:
            values["stride2_layers"] += 1
    elif isinstance(module, nn.Linear):
        macs = out_elements * module.in_features
        kind = "se" if inside_block else "linear"
    else:
        return
    params = float(sum(p.numel() for p in module.parameters(recurse=False)))
    in_bytes, out_bytes = _bytes(x), _bytes(output)
    for prefix in (f"{kind}_", ""):
        values[f"{prefix}layers"] += 1
        values[f"{prefix}macs"] += macs
        values[f"{prefix}params"] += params
        values[f"{prefix}in_bytes"] += in_bytes
        values[f"{prefix}out_bytes"] += out_bytes
    values["max_out_bytes"] = max(values["max_out_bytes"], out_bytes)
    if kind.startswith("dw"):
        values["dw_layers"] += 1
        values["dw_macs"] += macs
        values["dw_out_bytes"] += out_bytes


def _record_activation(values: dict[str, float], act: str, output: object) -> None:
    out_bytes = _bytes(output)
    values["act_layers"] += 1
    values["act_bytes"] += out_bytes
    on_map = (
        isinstance(output, torch.Tensor) and output.dim() == 4 and output.shape[-2:].numel() > 1
    )
    if not on_map:  # gates of squeeze-excite, activations after pooling: counted in se_blocks
        return
    values[f"act_{act}_layers"] += 1
    values[f"act_{act}_bytes"] += out_bytes
    if act not in _FOLDED_ACTS:
        values["act_extra_layers"] += 1
        values["act_extra_bytes"] += out_bytes


def _conv_kind(conv: nn.Conv2d, x: torch.Tensor) -> str:
    kh, kw = conv.kernel_size
    if (
        conv.groups == conv.in_channels
        and conv.groups > 1
        and conv.out_channels % conv.groups == 0
    ):
        k = max(kh, kw)
        return f"dw{k}" if k in (3, 5, 7) else "dwk"
    if kh == 1 and kw == 1:
        on_1x1_map = x.dim() == 4 and x.shape[-1] == 1 and x.shape[-2] == 1
        return "se" if on_1x1_map else "conv1x1"
    return "conv"


def _is_block(module: nn.Module) -> bool:
    return type(module).__name__ in BLOCK_CLASSES


def _has_skip(module: nn.Module) -> bool:
    if hasattr(module, "has_skip"):
        return bool(module.has_skip)
    return type(module).__name__ in {"BasicBlock", "Bottleneck", "BottleneckBlock"}


def _bytes(tensor: object) -> float:
    return float(tensor.numel() * _BYTES_PER_ELEMENT) if isinstance(tensor, torch.Tensor) else 0.0
