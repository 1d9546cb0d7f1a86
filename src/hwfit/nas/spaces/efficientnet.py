"""EfficientNet and MobileNetV2 spaces, built with timm's block strings and `EfficientNet` class.

The baseline's stages come from timm's own arch definition (the block strings of
``timm/models/efficientnet.py``, e.g. ``ir_r2_k3_s2_e6_c24_se0.25``), decoded by timm's
``decode_arch_def`` with the variant's depth multiplier and rounded by its channel multiplier.
Per stage (``s0`` .. ``s6``, timm's ``blocks.N``) the space varies:

* ``sN_depth``: number of blocks, from half the baseline to one more;
* ``sN_width``: output channels, the baseline times 0.5 / 0.75 / 1.0 / 1.25 (multiples of 8);
* ``sN_kernel``: depthwise kernel 3 / 5 / 7;
* ``sN_expand``: expansion ratio (inverted-residual stages); where the baseline mixes ratios
  inside one stage (MobileNetV3) it is ``sN_expand_x``, a multiplier of the baseline ratios;
* ``sN_se``: squeeze-excite on or off (ratio 0.25, or the baseline's);
* ``sN_act``: the activation (relu, relu6, hard_swish, silu, as the family allows);

plus ``stem_width``, ``head_width`` and ``resolution``. Extra blocks repeat the stage's last
block with stride 1; the first block keeps the stage's stride.
"""

from __future__ import annotations

import abc
import copy
import math
from dataclasses import dataclass
from typing import TypedDict

import torch
from timm.layers.create_act import get_act_layer
from timm.models._efficientnet_builder import decode_arch_def
from timm.models.efficientnet import EfficientNet
from torch import nn

from hwfit.nas.space import (
    WIDTH_MULTIPLIERS,
    Arch,
    Dimension,
    SearchSpace,
    Value,
    choices_around,
    depth_choices,
    resolution_choices,
    round_width,
)
from hwfit.nas.spaces import native_resolution, register_space

__all__ = [
    "ACT_CODES",
    "VARIANTS",
    "BlockArgs",
    "BlockStackSpace",
    "EfficientNetSpace",
    "Variant",
    "as_timm",
    "keep_channels",
]

ACT_CODES = {"relu": "re", "relu6": "r6", "hard_swish": "hs", "silu": "sw"}
"""Activation names and their timm block-string codes (``_nre`` ...)."""

KERNELS = (3, 5, 7)
EXPANSIONS = (2.0, 3.0, 4.0, 6.0, 8.0)
EXPANSION_MULTIPLIERS = (0.5, 0.75, 1.0, 1.25)


class BlockArgs(TypedDict, total=False):
    """One block's arguments as timm's ``decode_arch_def`` gives them (``_gen_*`` builds on them).

    ``block_type`` is ``"ds"``, ``"ir"`` or ``"cn"``; ``act_layer`` None means the model's
    default activation. Other keys timm may add pass through untouched.
    """

    block_type: str
    out_chs: int
    stride: int
    act_layer: type[nn.Module] | None
    dw_kernel_size: int
    exp_kernel_size: int
    pw_kernel_size: int
    kernel_size: int
    exp_ratio: float
    se_ratio: float
    noskip: bool
    skip: bool
    pw_act: bool
    s2d: bool


@dataclass(frozen=True)
class Variant:
    """A timm baseline: its arch definition and scaling, as in timm's ``_gen_*`` functions.

    Attributes:
        family: ``"efficientnet"``, ``"mobilenetv2"`` or ``"mobilenetv3"``.
        arch_def: timm block strings, one tuple per stage.
        channel_multiplier: timm's channel multiplier.
        depth_multiplier: timm's depth multiplier.
        act: The model's default activation (a key of `ACT_CODES`).
        stem: Stem channels before scaling.
        head: Head (``num_features``) channels before scaling.
        fix_stem_head: timm's ``fix_stem_head`` (MobileNetV2 ``d`` variants).
    """

    family: str
    arch_def: tuple[tuple[str, ...], ...]
    channel_multiplier: float
    depth_multiplier: float
    act: str
    stem: int
    head: int
    fix_stem_head: bool = False


_MBV2 = (
    ("ds_r1_k3_s1_c16",),
    ("ir_r2_k3_s2_e6_c24",),
    ("ir_r3_k3_s2_e6_c32",),
    ("ir_r4_k3_s2_e6_c64",),
    ("ir_r3_k3_s1_e6_c96",),
    ("ir_r3_k3_s2_e6_c160",),
    ("ir_r1_k3_s1_e6_c320",),
)
_EFFNET = (
    ("ds_r1_k3_s1_e1_c16_se0.25",),
    ("ir_r2_k3_s2_e6_c24_se0.25",),
    ("ir_r2_k5_s2_e6_c40_se0.25",),
    ("ir_r3_k3_s2_e6_c80_se0.25",),
    ("ir_r3_k5_s1_e6_c112_se0.25",),
    ("ir_r4_k5_s2_e6_c192_se0.25",),
    ("ir_r1_k3_s1_e6_c320_se0.25",),
)


def _mbv2(width: float, depth: float = 1.0, fix: bool = False) -> Variant:
    return Variant("mobilenetv2", _MBV2, width, depth, "relu6", 32, 1280, fix)


def _effnet(width: float, depth: float) -> Variant:
    return Variant("efficientnet", _EFFNET, width, depth, "silu", 32, 1280)


VARIANTS: dict[str, Variant] = {
    "mobilenetv2_035": _mbv2(0.35),
    "mobilenetv2_050": _mbv2(0.5),
    "mobilenetv2_075": _mbv2(0.75),
    "mobilenetv2_100": _mbv2(1.0),
    "mobilenetv2_140": _mbv2(1.4),
    "mobilenetv2_110d": _mbv2(1.1, 1.2, fix=True),
    "mobilenetv2_120d": _mbv2(1.2, 1.4, fix=True),
    "efficientnet_b0": _effnet(1.0, 1.0),
    "efficientnet_b1": _effnet(1.0, 1.1),
    "efficientnet_b2": _effnet(1.1, 1.2),
    "efficientnet_b3": _effnet(1.2, 1.4),
    "efficientnet_b4": _effnet(1.4, 1.8),
    "efficientnet_b5": _effnet(1.6, 2.2),
    "efficientnet_b6": _effnet(1.8, 2.6),
    "efficientnet_b7": _effnet(2.0, 3.1),
}
"""The EfficientNet and MobileNetV2 baselines this module supports."""


def as_timm(block_args: list[list[BlockArgs]]) -> list[list[dict[str, object]]]:
    """``block_args`` in the plain-dict form timm's model classes are typed to take."""
    return [[dict(block) for block in stage] for stage in block_args]


def keep_channels(channels: int) -> int:
    """A ``round_chs_fn`` that keeps the (already rounded) channel counts of the space."""
    return channels


@dataclass(frozen=True)
class _Stage:
    kind: str  # timm block type: "ds", "ir", "cn"
    blocks: tuple[BlockArgs, ...]  # baseline block args, out_chs already rounded
    act: str
    se_ratio: float  # used when SE is on: the baseline's ratio, else 0.25

    @property
    def mixed_expansion(self) -> bool:
        return len({b.get("exp_ratio") for b in self.blocks}) > 1


def _act_name(layer: object, default: str) -> str:
    if layer is None:
        return default
    for name in ACT_CODES:
        if get_act_layer(name) is layer:
            return name
    raise ValueError(f"unsupported activation {layer!r}")


class BlockStackSpace(SearchSpace, abc.ABC):
    """A space over timm's block-string models (`EfficientNet`, `MobileNetV3`).

    Args:
        name: The baseline's timm name.
        num_classes: Classifier outputs.
        resolution: Baseline input resolution; None for timm's default input size.
        variant: The baseline's arch definition and scaling.
        act_choices: Activations a stage may use.
    """

    def __init__(
        self,
        name: str,
        num_classes: int,
        resolution: int | None,
        variant: Variant,
        act_choices: tuple[str, ...],
    ) -> None:
        self.name = name
        self.family = variant.family
        self.num_classes = num_classes
        self.variant = variant
        native = native_resolution(name)
        self.fixed_resolution = resolution or native
        decoded = decode_arch_def(  # type: ignore[no-untyped-call]
            [list(s) for s in variant.arch_def],
            variant.depth_multiplier,
            fix_first_last=variant.fix_stem_head,
        )
        stages = []
        for stage_args in decoded:
            blocks: list[BlockArgs] = []
            for raw in stage_args:
                block: BlockArgs = copy.copy(raw)
                block["out_chs"] = round_width(block["out_chs"], variant.channel_multiplier)
                blocks.append(block)
            act = _act_name(blocks[0]["act_layer"], variant.act)
            se = float(blocks[0].get("se_ratio", 0.0)) or 0.25
            stages.append(_Stage(blocks[0]["block_type"], tuple(blocks), act, se))
        self._stages = tuple(stages)
        self._stem, self._head = self._stem_head()
        self._dims = self._make_dimensions(act_choices)

    @abc.abstractmethod
    def _stem_head(self) -> tuple[int, int]:
        """The baseline's stem and head channels, as timm computes them."""

    @abc.abstractmethod
    def _create(self, block_args: list[list[BlockArgs]], stem: int, head: int) -> nn.Module:
        """Instantiate the timm model class."""

    def _make_dimensions(self, act_choices: tuple[str, ...]) -> list[Dimension]:
        dims = [Dimension("stem_width", choices_around(self._stem, WIDTH_MULTIPLIERS), self._stem)]
        for i, stage in enumerate(self._stages):
            first = stage.blocks[0]
            width = int(first["out_chs"])
            if stage.kind == "cn":
                dims.append(
                    Dimension(f"s{i}_width", choices_around(width, WIDTH_MULTIPLIERS), width)
                )
                continue
            depth = len(stage.blocks)
            kernel = int(first["dw_kernel_size"])
            dims += [
                Dimension(f"s{i}_depth", depth_choices(depth), depth),
                Dimension(f"s{i}_width", choices_around(width, WIDTH_MULTIPLIERS), width),
                Dimension(f"s{i}_kernel", tuple(sorted({*KERNELS, kernel})), kernel),
            ]
            if stage.kind == "ir":
                if stage.mixed_expansion:
                    dims.append(Dimension(f"s{i}_expand_x", EXPANSION_MULTIPLIERS, 1.0))
                else:
                    ratio = float(first["exp_ratio"])
                    dims.append(
                        Dimension(f"s{i}_expand", tuple(sorted({*EXPANSIONS, ratio})), ratio)
                    )
            has_se = float(first.get("se_ratio", 0.0)) > 0
            dims.append(Dimension(f"s{i}_se", (False, True), has_se))
            acts = tuple(a for a in ACT_CODES if a in {*act_choices, stage.act})
            dims.append(Dimension(f"s{i}_act", acts, stage.act))
        dims.append(
            Dimension("head_width", choices_around(self._head, WIDTH_MULTIPLIERS), self._head)
        )
        base_res = self.fixed_resolution
        dims.append(Dimension("resolution", resolution_choices(base_res), base_res))
        return dims

    def dimensions(self) -> list[Dimension]:  # noqa: D102
        return list(self._dims)

    def block_args(self, arch: Arch) -> list[list[BlockArgs]]:
        """The timm block arguments (``decode_arch_def``'s output form) of ``arch``."""
        self._check(arch)
        v = arch.as_dict()
        result: list[list[BlockArgs]] = []
        for i, stage in enumerate(self._stages):
            width = int(v[f"s{i}_width"])  # type: ignore[call-overload]
            if stage.kind == "cn":
                blocks = [copy.deepcopy(b) for b in stage.blocks]
                for block in blocks:
                    block["out_chs"] = width
                result.append(blocks)
                continue
            depth = int(v[f"s{i}_depth"])  # type: ignore[call-overload]
            act = str(v[f"s{i}_act"])
            blocks = []
            for j in range(depth):
                template = stage.blocks[min(j, len(stage.blocks) - 1)]
                block = copy.deepcopy(template)
                block["stride"] = template["stride"] if j == 0 else 1
                block["out_chs"] = width
                block["dw_kernel_size"] = int(v[f"s{i}_kernel"])  # type: ignore[call-overload]
                if stage.kind == "ir":
                    if stage.mixed_expansion:
                        scale = float(v[f"s{i}_expand_x"])  # type: ignore[arg-type]
                        block["exp_ratio"] = float(template["exp_ratio"]) * scale
                    else:
                        block["exp_ratio"] = float(v[f"s{i}_expand"])  # type: ignore[arg-type]
                block["se_ratio"] = stage.se_ratio if v[f"s{i}_se"] else 0.0
                block["act_layer"] = None if act == self.variant.act else get_act_layer(act)
                blocks.append(block)
            result.append(blocks)
        return result

    def build(self, arch: Arch) -> nn.Module:  # noqa: D102
        values = arch.as_dict()
        blocks = self.block_args(arch)
        model = self._create(blocks, int(values["stem_width"]), int(values["head_width"]))  # type: ignore[call-overload]
        return model.eval()

    def describe(self, arch: Arch) -> str:  # noqa: D102
        values = arch.as_dict()
        parts = [f"stem {values['stem_width']}"]
        for stage in self.block_args(arch):
            # timm's form: "ir_r3_k3_s2..." is one stride-2 block followed by two stride-1 ones.
            grouped: list[tuple[str, int, int]] = []  # (text, repeats, stride of the first)
            for block in stage:
                if grouped and block["stride"] == 1:
                    text, count, stride = grouped[-1]
                    if _block_string({**block, "stride": stride}) == text:
                        grouped[-1] = (text, count + 1, stride)
                        continue
                grouped.append((_block_string(block), 1, int(block["stride"])))
            parts.append(" ".join(t.replace("_r1_", f"_r{n}_", 1) for t, n, _ in grouped))
        parts.append(f"head {values['head_width']}")
        return f"{self.name} @{self.resolution(arch)}px: " + " | ".join(parts)


def _block_string(block: BlockArgs) -> str:
    kind = block["block_type"]
    kernel = block.get("dw_kernel_size", block.get("kernel_size", 1))
    text = f"{kind}_r1_k{kernel}_s{block['stride']}"
    if "exp_ratio" in block and kind == "ir":
        text += f"_e{float(block['exp_ratio']):g}"
    text += f"_c{block['out_chs']}"
    if block.get("se_ratio"):
        text += f"_se{float(block['se_ratio']):g}"
    if block.get("act_layer") is not None:
        text += f"_n{ACT_CODES[_act_name(block['act_layer'], 'relu')]}"
    return text


@register_space("efficientnet")
class EfficientNetSpace(BlockStackSpace):
    """EfficientNet-B* and MobileNetV2 baselines, built as timm `EfficientNet` models.

    Args:
        name: A key of `VARIANTS`.
        num_classes: Classifier outputs.
        resolution: Baseline input resolution; None for timm's default input size.
    """

    baseline_help = (
        "efficientnet (efficientnet_b0..b7), mobilenetv2 (mobilenetv2_035..140, 110d, 120d)"
    )

    @classmethod
    def baselines(cls) -> tuple[str, ...]:  # noqa: D102
        return tuple(VARIANTS)

    def __init__(self, name: str, num_classes: int, resolution: int | None = None) -> None:
        variant = VARIANTS[name]
        acts: tuple[str, ...] = ("relu", "relu6", "hard_swish", "silu")
        if variant.family == "efficientnet":
            acts = ("relu", "hard_swish", "silu")
        super().__init__(name, num_classes, resolution, variant, acts)

    def _stem_head(self) -> tuple[int, int]:
        v = self.variant
        if v.family == "mobilenetv2":
            if v.fix_stem_head:
                return v.stem, v.head
            return (
                round_width(v.stem, v.channel_multiplier),
                max(v.head, round_width(v.head, v.channel_multiplier)),
            )
        return (
            round_width(v.stem, v.channel_multiplier),
            round_width(v.head, v.channel_multiplier),
        )

    def _scaled_value(self, dim: Dimension, width: float, depth: float) -> Value:
        if dim.name == "head_width" and self.family == "mobilenetv2":
            # timm keeps MobileNetV2's head at 1280 channels or more (max(1280, 1280 * width)).
            return max(int(dim.baseline), math.floor(int(dim.baseline) * width))
        return super()._scaled_value(dim, width, depth)

    def _create(self, block_args: list[list[BlockArgs]], stem: int, head: int) -> nn.Module:
        return EfficientNet(
            block_args=as_timm(block_args),
            num_classes=self.num_classes,
            num_features=head,
            stem_size=stem,
            fix_stem=True,
            round_chs_fn=keep_channels,
            act_layer=get_act_layer(self.variant.act),
            norm_layer=torch.nn.BatchNorm2d,
        )
