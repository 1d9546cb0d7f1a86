"""MobileNetV3 spaces, built as timm `MobileNetV3` models from its block strings.

The dimensions are those of `hwfit.nas.spaces.efficientnet` (per stage depth, width, kernel,
expansion, squeeze-excite, activation; stem, head and resolution). Stages whose baseline mixes
expansion ratios (``ir_r1_k3_s2_e4_c24, ir_r1_k3_s1_e3_c24``) vary them together through a
multiplier, ``sN_expand_x``; the final ``cn`` stage varies its width only. Activations are
relu and hard_swish, as in the paper.
"""

from __future__ import annotations

from functools import partial

import torch
from timm.layers.create_act import get_act_layer
from timm.models._efficientnet_blocks import SqueezeExcite
from timm.models._efficientnet_builder import round_channels
from timm.models.mobilenetv3 import MobileNetV3
from torch import nn

from hwfit.nas.space import Dimension, Value, round_width
from hwfit.nas.spaces import register_space
from hwfit.nas.spaces.efficientnet import (
    BlockArgs,
    BlockStackSpace,
    Variant,
    as_timm,
    keep_channels,
)

__all__ = ["VARIANTS", "MobileNetV3Space"]

_LARGE = (
    ("ds_r1_k3_s1_e1_c16_nre",),
    ("ir_r1_k3_s2_e4_c24_nre", "ir_r1_k3_s1_e3_c24_nre"),
    ("ir_r3_k5_s2_e3_c40_se0.25_nre",),
    ("ir_r1_k3_s2_e6_c80", "ir_r1_k3_s1_e2.5_c80", "ir_r2_k3_s1_e2.3_c80"),
    ("ir_r2_k3_s1_e6_c112_se0.25",),
    ("ir_r3_k5_s2_e6_c160_se0.25",),
    ("cn_r1_k1_s1_c960",),
)
_SMALL = (
    ("ds_r1_k3_s2_e1_c16_se0.25_nre",),
    ("ir_r1_k3_s2_e4.5_c24_nre", "ir_r1_k3_s1_e3.67_c24_nre"),
    ("ir_r1_k5_s2_e4_c40_se0.25", "ir_r2_k5_s1_e6_c40_se0.25"),
    ("ir_r2_k5_s1_e3_c48_se0.25",),
    ("ir_r3_k5_s2_e6_c96_se0.25",),
    ("cn_r1_k1_s1_c576",),
)


def _v3(arch_def: tuple[tuple[str, ...], ...], width: float, head: int) -> Variant:
    return Variant("mobilenetv3", arch_def, width, 1.0, "hard_swish", 16, head)


VARIANTS: dict[str, Variant] = {
    "mobilenetv3_large_075": _v3(_LARGE, 0.75, 1280),
    "mobilenetv3_large_100": _v3(_LARGE, 1.0, 1280),
    "mobilenetv3_small_050": _v3(_SMALL, 0.5, 1024),
    "mobilenetv3_small_075": _v3(_SMALL, 0.75, 1024),
    "mobilenetv3_small_100": _v3(_SMALL, 1.0, 1024),
}
"""The MobileNetV3 baselines this module supports."""


@register_space("mobilenetv3")
class MobileNetV3Space(BlockStackSpace):
    """MobileNetV3 baselines, built as timm `MobileNetV3` models.

    Args:
        name: A key of `VARIANTS`.
        num_classes: Classifier outputs.
        resolution: Baseline input resolution; None for timm's default input size.
    """

    baseline_help = "mobilenetv3 (mobilenetv3_large_075/100, mobilenetv3_small_050/075/100)"

    @classmethod
    def baselines(cls) -> tuple[str, ...]:  # noqa: D102
        return tuple(VARIANTS)

    def __init__(self, name: str, num_classes: int, resolution: int | None = None) -> None:
        super().__init__(name, num_classes, resolution, VARIANTS[name], ("relu", "hard_swish"))

    def _stem_head(self) -> tuple[int, int]:
        v = self.variant
        # timm fixes the stem below a 0.75 multiplier and never scales the head.
        stem = v.stem if v.channel_multiplier < 0.75 else round_width(v.stem, v.channel_multiplier)
        return stem, v.head

    def _scaled_value(self, dim: Dimension, width: float, depth: float) -> Value:
        if dim.name == "head_width":
            return dim.baseline
        if dim.name == "stem_width" and width * self.variant.channel_multiplier < 0.75:
            return dim.baseline
        return super()._scaled_value(dim, width, depth)

    def _create(self, block_args: list[list[BlockArgs]], stem: int, head: int) -> nn.Module:
        se_layer = partial(
            SqueezeExcite,
            gate_layer="hard_sigmoid",
            force_act_layer=nn.ReLU,
            rd_round_fn=round_channels,
        )
        return MobileNetV3(
            block_args=as_timm(block_args),
            num_classes=self.num_classes,
            num_features=head,
            stem_size=stem,
            fix_stem=True,
            round_chs_fn=keep_channels,
            act_layer=get_act_layer(self.variant.act),
            norm_layer=torch.nn.BatchNorm2d,
            se_layer=se_layer,
        )
