"""One search space per model family, registered in `SPACES`; `space_for` picks the family.

Each family module registers its `SearchSpace` subclass when it is imported
(``@register_space("resnet")``, as timm's ``@register_model``); the modules import torch and
timm, so they are imported on first use (`families`), never by ``import hwfit``. A third-party
family registers the same way, or with ``SPACES.register("mine", MySpace)``, and
``SPACES.override()`` swaps one for a test.

Built-in families: ``efficientnet`` (EfficientNet-B* and MobileNetV2, `efficientnet`),
``mobilenetv3`` (`mobilenetv3`), ``resnet`` (`resnet`), ``regnet`` (`regnet`) and
NAS-Bench-201's cell space ``nb201`` (`nb201`).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import TypeVar

from hwfit.errors import UnknownNameError, UserError
from hwfit.nas.space import SearchSpace
from hwfit.registry import Registry

__all__ = [
    "SPACES",
    "families",
    "native_resolution",
    "register_space",
    "space_for",
    "supported_names",
]

SPACES: Registry[SearchSpace] = Registry(kind="search space")
"""Search-space families by name; each built-in family module registers itself."""

_BUILTIN = ("efficientnet", "mobilenetv3", "resnet", "regnet", "nb201")
"""The built-in family modules, in the order the error messages list them."""

_S = TypeVar("_S", bound=SearchSpace)


def register_space(name: str) -> Callable[[type[_S]], type[_S]]:
    """Class decorator: register a `SearchSpace` family as ``name`` in `SPACES`.

    Raises:
        InternalError: ``name`` is already registered.
    """

    def register(cls: type[_S]) -> type[_S]:
        SPACES.register(name, cls)
        return cls

    return register


def families() -> list[type[SearchSpace]]:
    """Every registered family: the built-in ones first (imported now), then the others."""
    # The family modules import torch and timm: loaded here, on first use, not at import.
    from hwfit.nas.spaces import efficientnet, mobilenetv3, nb201, regnet, resnet  # noqa: F401

    names = SPACES.names()
    ordered = [n for n in _BUILTIN if n in names] + [n for n in names if n not in _BUILTIN]
    return [SPACES.load(n) for n in ordered]


def native_resolution(name: str) -> int:
    """The input resolution timm's default config gives model ``name`` (224 when it has none)."""
    from timm.models import get_pretrained_cfg

    cfg = get_pretrained_cfg(name)
    return int(cfg.input_size[-1]) if cfg is not None and cfg.input_size else 224


def supported_names() -> list[str]:
    """Every baseline name `space_for` accepts (aliases aside), sorted."""
    return sorted(name for family in families() for name in family.baselines())


def space_for(baseline: str, *, num_classes: int, resolution: int | None = None) -> SearchSpace:
    """The search space around a baseline model.

    Args:
        baseline: A timm model name, with or without the ``timm:`` prefix
            (``"timm:mobilenetv2_100"``), or ``"nb201"`` for NAS-Bench-201's cell space.
        num_classes: Classifier outputs of every built model.
        resolution: The baseline's input resolution (e.g. 64 for CIFAR-sized data); by default
            the model's native one (224 for most timm models, 32 for NAS-Bench-201).

    Raises:
        UnknownNameError: The name is not a supported baseline (the message lists the families).
        UserError: ``num_classes`` or ``resolution`` is out of range.
    """
    if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 1:
        raise UserError(
            f"num_classes must be a positive integer, not {num_classes!r}.",
            hint="Pass the number of classes of your data set.",
        )
    if resolution is not None and (
        not isinstance(resolution, int)
        or isinstance(resolution, bool)
        or not 16 <= resolution <= 1024
    ):
        raise UserError(
            f"Resolution {resolution!r} is out of range.",
            hint="Use an input size between 16 and 1024 pixels.",
        )
    name = baseline.strip()
    if name.lower().startswith("timm:"):
        name = name[len("timm:") :]
    name = name.lower()
    known = families()
    family = next((f for f in known if f.accepts(name)), None)
    if family is None:
        close = difflib.get_close_matches(name, supported_names(), n=3, cutoff=0.6)
        suggestion = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise UnknownNameError(
            f"Unsupported search baseline {baseline!r}.{suggestion}",
            hint=f"Supported families: {', '.join(f.baseline_help for f in known)}.",
        )
    return family(name, num_classes, resolution)
