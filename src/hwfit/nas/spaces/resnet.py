"""ResNet spaces, built as timm `ResNet` models with `BasicBlock` or `Bottleneck` stages.

Per stage (``s1`` .. ``s4``, timm's ``layer1`` .. ``layer4``) the space varies:

* ``sN_depth``: number of blocks, from half the baseline to one more;
* ``sN_width``: timm's ``channels`` (the block's planes), baseline x 0.5 / 0.75 / 1.0 / 1.25;
* ``sN_bottleneck`` (Bottleneck only): the 3x3 conv's width as a fraction of the planes
  (timm's ``base_width / 64``: 0.5 / 0.75 / 1.0 / 1.5), the ResNet analogue of expansion;
* ``sN_se``: squeeze-excite (timm's ``attn_layer="se"``) on or off;
* ``sN_act``: relu, hard_swish or silu;

plus ``resolution``. ResNet convolutions are dense 3x3, so there is no kernel dimension, and
timm's plain 7x7 stem has a fixed 64 channels, so there is no stem dimension.
"""

from __future__ import annotations

from collections.abc import Callable

from timm.layers.create_act import get_act_layer
from timm.models.resnet import BasicBlock, Bottleneck, ResNet
from torch import nn

from hwfit.nas.space import (
    WIDTH_MULTIPLIERS,
    Arch,
    Dimension,
    SearchSpace,
    choices_around,
    depth_choices,
    resolution_choices,
)
from hwfit.nas.spaces import native_resolution, register_space

__all__ = ["VARIANTS", "ResNetSpace"]

VARIANTS: dict[str, tuple[type[BasicBlock | Bottleneck], tuple[int, ...]]] = {
    "resnet18": (BasicBlock, (2, 2, 2, 2)),
    "resnet34": (BasicBlock, (3, 4, 6, 3)),
    "resnet50": (Bottleneck, (3, 4, 6, 3)),
    "resnet101": (Bottleneck, (3, 4, 23, 3)),
    "resnet152": (Bottleneck, (3, 8, 36, 3)),
}
"""The ResNet baselines this module supports: block type and blocks per stage."""

_CHANNELS = (64, 128, 256, 512)
_ACTS = ("relu", "hard_swish", "silu")
_BOTTLENECK = (0.5, 0.75, 1.0, 1.5)


class StageBlock:
    """A block factory for one stage: timm's block with that stage's SE, activation and width.

    timm's ``make_blocks`` accepts one block class per stage and reads ``.expansion`` from it;
    this callable stands in for the class and returns real timm `BasicBlock` / `Bottleneck`s.

    Args:
        block: timm's block class.
        se: Whether the blocks carry squeeze-excite.
        act: The activation name.
        base_width: timm's ``base_width`` (Bottleneck width per 64 planes).
    """

    def __init__(
        self, block: type[BasicBlock | Bottleneck], se: bool, act: str, base_width: int
    ) -> None:
        self.block = block
        self.expansion = block.expansion
        self.se = se
        self.act = act
        self.base_width = base_width

    def __call__(self, *args: object, **kwargs: object) -> nn.Module:
        kwargs["act_layer"] = get_act_layer(self.act)
        if self.se:
            kwargs["attn_layer"] = "se"
        kwargs["base_width"] = self.base_width
        block: Callable[..., nn.Module] = self.block  # forwards what timm's make_blocks passes
        return block(*args, **kwargs)


@register_space("resnet")
class ResNetSpace(SearchSpace):
    """ResNet baselines, built as timm `ResNet` models.

    Args:
        name: A key of `VARIANTS`.
        num_classes: Classifier outputs.
        resolution: Baseline input resolution; None for timm's default input size.
    """

    family = "resnet"
    baseline_help = "resnet (resnet18/34/50/101/152)"

    @classmethod
    def baselines(cls) -> tuple[str, ...]:  # noqa: D102
        return tuple(VARIANTS)

    def __init__(self, name: str, num_classes: int, resolution: int | None = None) -> None:
        self.name = name
        self.num_classes = num_classes
        self.block, depths = VARIANTS[name]
        self.fixed_resolution = resolution or native_resolution(name)
        dims: list[Dimension] = []
        for i, (depth, width) in enumerate(zip(depths, _CHANNELS, strict=True), start=1):
            dims += [
                Dimension(f"s{i}_depth", depth_choices(depth), depth),
                Dimension(f"s{i}_width", choices_around(width, WIDTH_MULTIPLIERS), width),
            ]
            if self.block is Bottleneck:
                dims.append(Dimension(f"s{i}_bottleneck", _BOTTLENECK, 1.0))
            dims += [
                Dimension(f"s{i}_se", (False, True), False),
                Dimension(f"s{i}_act", _ACTS, "relu"),
            ]
        res = self.fixed_resolution
        dims.append(Dimension("resolution", resolution_choices(res), res))
        self._dims = dims

    def dimensions(self) -> list[Dimension]:  # noqa: D102
        return list(self._dims)

    def _stages(self, arch: Arch) -> list[tuple[int, int, float, bool, str]]:
        self._check(arch)
        v = arch.as_dict()
        return [
            (
                int(v[f"s{i}_depth"]),  # type: ignore[call-overload]
                int(v[f"s{i}_width"]),  # type: ignore[call-overload]
                float(v.get(f"s{i}_bottleneck", 1.0)),  # type: ignore[arg-type]
                bool(v[f"s{i}_se"]),
                str(v[f"s{i}_act"]),
            )
            for i in range(1, 5)
        ]

    def build(self, arch: Arch) -> nn.Module:  # noqa: D102
        stages = self._stages(arch)
        blocks = tuple(
            StageBlock(self.block, se, act, round(64 * ratio)) for _, _, ratio, se, act in stages
        )
        model = ResNet(
            block=blocks,  # type: ignore[arg-type]
            layers=tuple(s[0] for s in stages),
            channels=tuple(s[1] for s in stages),
            num_classes=self.num_classes,
        )
        return model.eval()

    def describe(self, arch: Arch) -> str:  # noqa: D102
        parts = []
        for i, (depth, width, ratio, se, act) in enumerate(self._stages(arch), start=1):
            text = f"s{i} {self.block.__name__} x{depth} c{width}"
            if self.block is Bottleneck:
                text += f" b{ratio:g}"
            text += (" se" if se else "") + (f" {act}" if act != "relu" else "")
            parts.append(text)
        return f"{self.name} @{self.resolution(arch)}px: " + " | ".join(parts)
