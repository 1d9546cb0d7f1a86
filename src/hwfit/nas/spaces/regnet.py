"""RegNet spaces (RegNetX, RegNetY), built as timm `RegNet` models from a `RegNetCfg`.

The baseline's stages are those timm derives from its ``RegNetCfg`` (``w0``, ``wa``, ``wm``,
``depth``, ``group_size``). Per stage (``s1`` .. ``s4``, timm's module names) the space varies:

* ``sN_depth``: number of blocks, from half the baseline to one more;
* ``sN_width``: output channels, baseline x 0.5 / 0.75 / 1.0 / 1.25, in multiples of the
  stage's group size (itself a multiple of 8), so the grouped 3x3 conv stays valid;
* ``sN_se``: squeeze-excite on or off (ratio 0.25, RegNetY's);
* ``sN_act``: relu, hard_swish or silu;

plus ``stem_width`` and ``resolution``. RegNet's 3x3 convs are grouped, not depthwise, so there
is no kernel dimension; the bottleneck ratio stays 1 (as in every RegNetX/Y).

timm computes the stages in ``RegNet._get_stage_args``; `StagedRegNet` overrides it to take
the stages of an architecture instead, and builds timm's own ``RegStage`` blocks.
"""

from __future__ import annotations

import dataclasses
from typing import TypedDict

from timm.layers.create_act import get_act_layer
from timm.models.regnet import RegNet, RegNetCfg, model_cfgs
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

__all__ = ["RegNetSpace", "StageArgs", "StagedRegNet", "variants"]

_ACTS = ("relu", "hard_swish", "silu")
_SE_RATIO = 0.25


def variants() -> dict[str, RegNetCfg]:
    """The RegNetX/RegNetY baselines this module supports, with their timm configs."""
    return {
        name: cfg
        for name, cfg in model_cfgs.items()
        if name.startswith(("regnetx_", "regnety_")) and not cfg.preact
    }


class StageArgs(TypedDict):
    """What `StagedRegNet` sets in one stage of timm's ``RegNet._get_stage_args``."""

    depth: int
    out_chs: int
    group_size: int
    se_ratio: float
    act_layer: type[nn.Module]


@dataclasses.dataclass(frozen=True)
class _Baseline:
    """The stages timm derives from a ``RegNetCfg``."""

    depths: tuple[int, ...]
    widths: tuple[int, ...]
    groups: tuple[int, ...]
    has_se: bool
    act: str


def _timm_stages(cfg: RegNetCfg) -> _Baseline:
    # timm's stage computation; it reads nothing from the instance, so no model is built.
    per_stage, common = RegNet._get_stage_args(None, cfg)  # type: ignore[arg-type]
    return _Baseline(
        depths=tuple(int(s["depth"]) for s in per_stage),
        widths=tuple(int(s["out_chs"]) for s in per_stage),
        groups=tuple(int(s["group_size"]) for s in per_stage),
        has_se=float(common["se_ratio"]) > 0,
        act=str(common["act_layer"]),
    )


class StagedRegNet(RegNet):
    """timm's `RegNet` with explicit per-stage depth, width, group size, SE and activation.

    Args:
        cfg: The baseline's timm config (stem, downsampling, norm).
        stages: Per stage ``depth``, ``out_chs``, ``group_size``, ``se_ratio``, ``act_layer``.
        num_classes: Classifier outputs.
    """

    def __init__(self, cfg: RegNetCfg, stages: list[StageArgs], num_classes: int) -> None:
        self._hwfit_stages = stages  # read by _get_stage_args during RegNet.__init__
        super().__init__(cfg, num_classes=num_classes)

    def _get_stage_args(
        self,
        cfg: RegNetCfg,
        default_stride: int = 2,
        output_stride: int = 32,
        drop_path_rate: float = 0.0,
    ) -> tuple[list[dict[str, object]], dict[str, object]]:
        per_stage, timm_common = super()._get_stage_args(
            cfg, default_stride, output_stride, drop_path_rate
        )
        common = {k: v for k, v in timm_common.items() if k not in ("se_ratio", "act_layer")}
        for args, stage in zip(per_stage, self._hwfit_stages, strict=True):
            args.update(stage)
            args["drop_path_rates"] = [0.0] * stage["depth"]
        return per_stage, common


@register_space("regnet")
class RegNetSpace(SearchSpace):
    """RegNetX / RegNetY baselines, built as timm `RegNet` models.

    Args:
        name: A RegNetX/RegNetY timm name (see `variants`).
        num_classes: Classifier outputs.
        resolution: Baseline input resolution; None for timm's default input size.
    """

    family = "regnet"
    baseline_help = "regnet (regnetx_002..320, regnety_002..320)"

    @classmethod
    def baselines(cls) -> tuple[str, ...]:  # noqa: D102
        return tuple(variants())

    def __init__(self, name: str, num_classes: int, resolution: int | None = None) -> None:
        self.name = name
        self.num_classes = num_classes
        self.cfg = variants()[name]
        self.fixed_resolution = resolution or native_resolution(name)
        base = _timm_stages(self.cfg)
        self._groups = list(base.groups)
        has_se, act = base.has_se, base.act
        stem = self.cfg.stem_width
        dims = [Dimension("stem_width", choices_around(stem, WIDTH_MULTIPLIERS), stem)]
        stages = zip(base.depths, base.widths, base.groups, strict=True)
        for i, (depth, width, group) in enumerate(stages, start=1):
            dims += [
                Dimension(f"s{i}_depth", depth_choices(depth), depth),
                Dimension(f"s{i}_width", choices_around(width, WIDTH_MULTIPLIERS, group), width),
                Dimension(f"s{i}_se", (False, True), has_se),
                Dimension(f"s{i}_act", tuple(sorted({*_ACTS, act}, key=_ACTS.index)), act),
            ]
        res = self.fixed_resolution
        dims.append(Dimension("resolution", resolution_choices(res), res))
        self._dims = dims

    def dimensions(self) -> list[Dimension]:  # noqa: D102
        return list(self._dims)

    def _width_divisor(self, name: str) -> int:
        if name.startswith("s") and name.endswith("_width") and name[1].isdigit():
            return self._groups[int(name[1]) - 1]
        return 8

    def _stages(self, arch: Arch) -> list[StageArgs]:
        self._check(arch)
        v = arch.as_dict()
        se_ratio = float(self.cfg.se_ratio) or _SE_RATIO
        return [
            {
                "depth": int(v[f"s{i}_depth"]),  # type: ignore[call-overload]
                "out_chs": int(v[f"s{i}_width"]),  # type: ignore[call-overload]
                "group_size": self._groups[i - 1],
                "se_ratio": se_ratio if v[f"s{i}_se"] else 0.0,
                "act_layer": get_act_layer(str(v[f"s{i}_act"])),
            }
            for i in range(1, 5)
        ]

    def build(self, arch: Arch) -> nn.Module:  # noqa: D102
        stages = self._stages(arch)
        cfg = dataclasses.replace(self.cfg, stem_width=int(arch.value("stem_width")))
        return StagedRegNet(cfg, stages, self.num_classes).eval()

    def describe(self, arch: Arch) -> str:  # noqa: D102
        v = arch.as_dict()
        parts = [f"stem {v['stem_width']}"]
        for i in range(1, 5):
            text = f"s{i} x{v[f's{i}_depth']} c{v[f's{i}_width']} g{self._groups[i - 1]}"
            text += (" se" if v[f"s{i}_se"] else "") + f" {v[f's{i}_act']}"
            parts.append(text)
        return f"{self.name} @{self.resolution(arch)}px: " + " | ".join(parts)
