"""One search space per model family; `factory_for` maps a baseline name to its space.

Families: ``efficientnet`` and ``mobilenetv2`` (`efficientnet`), ``mobilenetv3``
(`mobilenetv3`), ``resnet`` (`resnet`), ``regnet`` (`regnet`) and NAS-Bench-201's cell space
``nb201`` (`nb201`).
"""

from __future__ import annotations

from collections.abc import Callable

from hwfit.nas.space import SearchSpace

__all__ = ["SpaceFactory", "factory_for", "native_resolution", "supported_names"]

SpaceFactory = Callable[[str, int, "int | None"], SearchSpace]
"""``(baseline name, num_classes, resolution) -> SearchSpace``."""


def native_resolution(name: str) -> int:
    """The input resolution timm's default config gives model ``name`` (224 when it has none)."""
    from timm.models import get_pretrained_cfg

    cfg = get_pretrained_cfg(name)
    return int(cfg.input_size[-1]) if cfg is not None and cfg.input_size else 224


def supported_names() -> list[str]:
    """Every baseline name `hwfit.nas.space_for` accepts, sorted."""
    from hwfit.nas.spaces import efficientnet, mobilenetv3, nb201, regnet, resnet

    names = [
        *efficientnet.VARIANTS,
        *mobilenetv3.VARIANTS,
        *resnet.VARIANTS,
        *regnet.variants(),
        nb201.NAME,
    ]
    return sorted(names)


def factory_for(name: str) -> SpaceFactory | None:
    """The space constructor for baseline ``name`` (lower case, no prefix), or None."""
    from hwfit.nas.spaces import efficientnet, mobilenetv3, nb201, regnet, resnet

    if name in efficientnet.VARIANTS:
        return efficientnet.EfficientNetSpace
    if name in mobilenetv3.VARIANTS:
        return mobilenetv3.MobileNetV3Space
    if name in resnet.VARIANTS:
        return resnet.ResNetSpace
    if name in regnet.variants():
        return regnet.RegNetSpace
    if name in nb201.ALIASES:
        return nb201.NB201Space
    return None
