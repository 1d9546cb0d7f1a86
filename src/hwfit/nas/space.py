"""What a search space is: `Dimension`, `Arch`, `SearchSpace`, and the helpers families share.

A search space is a product of categorical dimensions (optuna parameter names such as
``s3_depth``, ``s3_kernel`` or ``resolution``). An `Arch` is one point of it: every dimension
set to one of its choices. The baseline model is itself a point (`SearchSpace.baseline`), and
every point builds into a real PyTorch module (`SearchSpace.build`) that exports to ONNX.
The families live in :mod:`hwfit.nas.spaces`, which registers them and resolves a baseline
name (`hwfit.nas.spaces.space_for`).

Example:
    >>> import random
    >>> from hwfit.nas.spaces import space_for
    >>> space = space_for("nb201", num_classes=10)
    >>> space.size()
    15625
    >>> arch = space.sample(random.Random(0))
    >>> space.decode(arch.as_dict()) == arch
    True
"""

from __future__ import annotations

import abc
import difflib
import hashlib
import json
import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from hwfit.errors import UserError
from hwfit.records import to_dict

if TYPE_CHECKING:
    import torch

__all__ = [
    "WIDTH_MULTIPLIERS",
    "Arch",
    "Dimension",
    "SearchSpace",
    "SpaceSummary",
    "Value",
    "choices_around",
    "depth_choices",
    "resolution_choices",
    "round_width",
    "space_summary",
]

Value = int | float | str | bool
"""The type of one dimension's value."""


def round_width(channels: float, multiplier: float = 1.0, divisor: int = 8) -> int:
    """Round ``channels * multiplier`` to a multiple of ``divisor`` (timm's ``make_divisible``).

    The result is never below ``divisor`` and never more than 10% below the exact value.

    Example:
        >>> [round_width(24, m) for m in (0.5, 0.75, 1.0, 1.25)]
        [16, 24, 24, 32]
    """
    value = channels * multiplier
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


@dataclass(frozen=True)
class Dimension:
    """One searchable choice of a space (an optuna categorical parameter).

    Attributes:
        name: The parameter name, e.g. ``"s3_depth"`` or ``"resolution"``.
        choices: The values it may take, in a stable order.
        baseline: The baseline's value; always one of ``choices``.
    """

    name: str
    choices: tuple[Value, ...]
    baseline: Value

    def __post_init__(self) -> None:
        if self.match(self.baseline) is None:
            raise ValueError(f"baseline {self.baseline!r} of {self.name!r} is not a choice")

    def match(self, value: object) -> Value | None:
        """Return the choice equal to ``value`` (a bool only matches a bool), else None.

        Example:
            >>> Dimension("k", (3, 5, 7), 3).match(5.0)
            5
            >>> Dimension("se", (False, True), False).match(1) is None
            True
        """
        for choice in self.choices:
            if isinstance(choice, bool) or isinstance(value, bool):
                if isinstance(choice, bool) and isinstance(value, bool) and choice is value:
                    return choice
            elif isinstance(choice, str) or isinstance(value, str):
                if choice == value:
                    return choice
            elif isinstance(value, int | float) and choice == value:
                return choice
        return None


@dataclass(frozen=True)
class Arch:
    """One architecture of a space: every dimension set to one of its choices.

    Attributes:
        space: The name of the space it belongs to (`SearchSpace.name`).
        params: ``(dimension, value)`` pairs, sorted by dimension name.
    """

    space: str
    params: tuple[tuple[str, Value], ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", tuple(sorted(self.params, key=lambda p: p[0])))

    @property
    def key(self) -> str:
        """A stable short id (12 hex digits of a SHA-1 over the space name and the params).

        Example:
            >>> Arch("demo", (("b", 2), ("a", "x"))).key
            '1035d67185db'
        """
        text = json.dumps([self.space, [list(p) for p in self.params]], separators=(",", ":"))
        return hashlib.sha1(text.encode()).hexdigest()[:12]

    def as_dict(self) -> dict[str, object]:
        """The params as a plain dict (what optuna's ``trial.params`` looks like)."""
        return dict(self.params)

    def value(self, name: str) -> Value:
        """The value of dimension ``name``.

        Raises:
            KeyError: The architecture has no such dimension.
        """
        for key, val in self.params:
            if key == name:
                return val
        raise KeyError(name)

    def describe(self) -> str:
        """A generic one-line rendering, ``name=value`` pairs; `SearchSpace.describe` is richer."""
        return " ".join(f"{k}={v}" for k, v in self.params)


@dataclass(frozen=True)
class SpaceSummary:
    """What ``hwfit search space --baseline X`` shows (rendering happens in the CLI).

    Attributes:
        name: The space name.
        family: The model family.
        num_classes: Classifier outputs of every built model.
        resolution: The baseline's input resolution.
        dimensions: Every dimension with its choices and baseline value.
        size: The number of architectures, exact.
        size_sci: ``size`` in scientific notation, e.g. ``"1.56e+04"``.
        baseline_key: `Arch.key` of the baseline.
        baseline_description: `SearchSpace.describe` of the baseline.
        baseline_params: Parameter count of the built baseline.
    """

    name: str
    family: str
    num_classes: int
    resolution: int
    dimensions: tuple[Dimension, ...]
    size: int
    size_sci: str
    baseline_key: str
    baseline_description: str
    baseline_params: int

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready dict (``size`` stays an exact integer)."""
        return to_dict(self)


class SearchSpace(abc.ABC):
    """A space of architectures around a baseline, every point a buildable PyTorch model.

    Contract:
        * `dimensions` is fixed for the life of the space; its order is stable.
        * `baseline` is a point of the space; for timm families, `build(baseline())` has the
          same layers and parameter count as ``timm.create_model(name, num_classes=...)``.
        * `build` returns a randomly initialised module in eval mode, accepting
          `input_shape` and returning ``(batch, num_classes)`` logits; it exports to ONNX.
        * `decode`, `sample`, `mutate` and `scaled` only return points of the space, and
          `Arch.key` of equal points is equal in every process.

    A family is one subclass, registered in :data:`hwfit.nas.spaces.SPACES`: it is constructed
    as ``cls(baseline, num_classes, resolution)``, lists the baseline names it accepts in
    `baselines` (the first is the smallest, which the contract tests build) and describes
    them for error messages in `baseline_help`. Subclasses set `name`, `family`,
    `num_classes` and implement `dimensions`, `build` and `describe`; `resolution` reads the
    ``resolution`` dimension (or `fixed_resolution`).
    """

    name: str
    family: str
    num_classes: int
    fixed_resolution: int = 224
    baseline_help: ClassVar[str] = ""
    """The family and its baselines in words, e.g. ``"resnet (resnet18/34/50/101/152)"``."""

    @abc.abstractmethod
    def __init__(self, name: str, num_classes: int, resolution: int | None = None) -> None:
        """Build the space around baseline ``name`` (a name `accepts` is true for).

        Args:
            name: The baseline name, lower case, without a ``timm:`` prefix.
            num_classes: Classifier outputs of every built model.
            resolution: The baseline's input resolution; None for the model's native one.
        """

    @classmethod
    def baselines(cls) -> tuple[str, ...]:
        """The baseline names (lower case, no prefix) this family builds spaces around."""
        return ()

    @classmethod
    def accepts(cls, name: str) -> bool:
        """Whether ``name`` (lower case, no prefix) is a baseline of this family (or an alias)."""
        return name in cls.baselines()

    @abc.abstractmethod
    def dimensions(self) -> list[Dimension]:
        """The searchable dimensions, in a stable order."""

    @abc.abstractmethod
    def build(self, arch: Arch) -> torch.nn.Module:
        """Build ``arch`` as a randomly initialised PyTorch module in eval mode.

        Raises:
            UserError: ``arch`` belongs to another space.
        """

    @abc.abstractmethod
    def describe(self, arch: Arch) -> str:
        """A human-readable description: timm block strings, depths and widths, resolution."""

    def size(self) -> int:
        """The number of architectures: the product of the dimensions' choice counts."""
        return math.prod(len(d.choices) for d in self.dimensions())

    def baseline(self) -> Arch:
        """The baseline: every dimension at its baseline value."""
        return Arch(self.name, tuple((d.name, d.baseline) for d in self.dimensions()))

    def decode(self, params: Mapping[str, object]) -> Arch:
        """Turn optuna's ``trial.params`` (or `Arch.as_dict`) into an `Arch`.

        Dimensions missing from ``params`` take their baseline value.

        Raises:
            UserError: An unknown dimension, or a value that is not one of its choices.
        """
        dims = {d.name: d for d in self.dimensions()}
        unknown = sorted(set(params) - set(dims))
        if unknown:
            close = difflib.get_close_matches(unknown[0], list(dims), n=1)
            hint = f"Did you mean {close[0]!r}? " if close else ""
            raise UserError(
                f"Unknown dimension {unknown[0]!r} for the {self.name} space.",
                hint=f"{hint}Known: {', '.join(dims)}.",
            )
        values: list[tuple[str, Value]] = []
        for name, dim in dims.items():
            if name not in params:
                values.append((name, dim.baseline))
                continue
            choice = dim.match(params[name])
            if choice is None:
                raise UserError(
                    f"Value {params[name]!r} is not a choice of {name!r} "
                    f"in the {self.name} space.",
                    hint=f"Choices: {', '.join(map(str, dim.choices))}.",
                )
            values.append((name, choice))
        return Arch(self.name, tuple(values))

    def sample(self, rng: random.Random) -> Arch:
        """A uniformly random point of the space (deterministic for a seeded ``rng``)."""
        return Arch(self.name, tuple((d.name, rng.choice(d.choices)) for d in self.dimensions()))

    def mutate(self, arch: Arch, rng: random.Random, rate: float = 0.2) -> Arch:
        """Change each dimension with probability ``rate`` (at least one changes).

        A numeric dimension with ordered choices moves to a neighbouring choice; others jump to
        any other choice.
        """
        self._check(arch)
        dims = [d for d in self.dimensions() if len(d.choices) > 1]
        if not dims:
            return arch
        chosen = {d.name for d in dims if rng.random() < rate}
        if not chosen:
            chosen = {rng.choice(dims).name}
        values = dict(arch.params)
        for dim in dims:
            if dim.name not in chosen:
                continue
            index = dim.choices.index(values[dim.name])
            if all(isinstance(c, int | float) and not isinstance(c, bool) for c in dim.choices):
                steps = [i for i in (index - 1, index + 1) if 0 <= i < len(dim.choices)]
                values[dim.name] = dim.choices[rng.choice(steps)]
            else:
                others = [c for i, c in enumerate(dim.choices) if i != index]
                values[dim.name] = rng.choice(others)
        return Arch(self.name, tuple(values.items()))

    def resolution(self, arch: Arch) -> int:
        """The input resolution (height = width) of ``arch``."""
        self._check(arch)
        values = arch.as_dict()
        return int(values["resolution"]) if "resolution" in values else self.fixed_resolution  # type: ignore[call-overload]

    def input_shape(self, arch: Arch, batch: int = 1) -> tuple[int, int, int, int]:
        """The NCHW input shape ``arch`` is built for."""
        size = self.resolution(arch)
        return (batch, 3, size, size)

    def scaled(self, width: float, depth: float, resolution: int | None = None) -> Arch:
        """The baseline with width and depth multipliers, snapped to the nearest choices.

        Widths (``*_width`` dimensions) scale as timm scales channels, depths (``*_depth``)
        are rounded up as EfficientNet does; every other dimension keeps its baseline value,
        but the input resolution when ``resolution`` is given (snapped to the nearest choice;
        ignored by spaces of one fixed resolution). Multipliers 0.5, 0.75 and 1.0 (width) and
        0.5 and 1.0 (depth) are always exact.
        """
        values: list[tuple[str, Value]] = []
        for dim in self.dimensions():
            if dim.name == "resolution" and resolution is not None:
                values.append((dim.name, _nearest(dim, resolution)))
                continue
            target = self._scaled_value(dim, width, depth)
            values.append((dim.name, _nearest(dim, target)))
        return Arch(self.name, tuple(values))

    def _scaled_value(self, dim: Dimension, width: float, depth: float) -> Value:
        """The unsnapped value of ``dim`` in the scaled baseline (families may override)."""
        base = dim.baseline
        if isinstance(base, bool) or not isinstance(base, int):
            return base
        if dim.name.endswith("_depth"):
            return max(1, math.ceil(base * depth))
        if dim.name.endswith("_width"):
            return round_width(base, width, self._width_divisor(dim.name))
        return base

    def _width_divisor(self, name: str) -> int:
        """The multiple that widths of dimension ``name`` are rounded to."""
        return 8

    def _check(self, arch: Arch) -> None:
        if arch.space != self.name:
            raise UserError(
                f"Architecture {arch.key} belongs to the {arch.space!r} space, not {self.name!r}.",
                hint="Decode it with the space it came from.",
            )
        names = [d.name for d in self.dimensions()]
        if sorted(names) != [k for k, _ in arch.params]:
            raise UserError(
                f"Architecture {arch.key} does not have the dimensions of the {self.name} space.",
                hint="Rebuild it with SearchSpace.decode().",
            )


def _nearest(dim: Dimension, target: Value) -> Value:
    exact = dim.match(target)
    if exact is not None:
        return exact
    if isinstance(target, int | float) and not isinstance(target, bool):
        numeric = [
            c for c in dim.choices if isinstance(c, int | float) and not isinstance(c, bool)
        ]
        if numeric:
            return min(numeric, key=lambda c: (abs(c - target), -c))
    return dim.baseline


def choices_around(
    baseline: int, multipliers: tuple[float, ...], divisor: int = 8
) -> tuple[int, ...]:
    """Widths ``round_width(baseline, m, divisor)`` for each multiplier, sorted, baseline kept.

    Example:
        >>> choices_around(32, (0.5, 0.75, 1.0, 1.25))
        (16, 24, 32, 40)
    """
    values = {round_width(baseline, m, divisor) for m in multipliers if m != 1.0}
    return tuple(sorted(values | {baseline}))


def depth_choices(baseline: int) -> tuple[int, ...]:
    """Depths from half the baseline (rounded up) to one more than the baseline.

    Example:
        >>> depth_choices(4), depth_choices(1)
        ((2, 3, 4, 5), (1, 2))
    """
    return tuple(range(max(1, math.ceil(baseline / 2)), baseline + 2))


def resolution_choices(baseline: int) -> tuple[int, ...]:
    """Input resolutions around ``baseline`` (multiples of 8, at least 32 or the baseline).

    Example:
        >>> resolution_choices(64)
        (32, 40, 48, 56, 64, 80)
    """
    floor = min(32, baseline)
    values = {max(floor, round(baseline * f / 8) * 8) for f in (0.5, 0.625, 0.75, 0.875, 1.25)}
    return tuple(sorted(values | {baseline}))


WIDTH_MULTIPLIERS = (0.5, 0.75, 1.0, 1.25)
"""Per-stage channel multipliers of the timm families (0.5/0.75/1.0 give the scaled variants)."""


def space_summary(space: SearchSpace) -> SpaceSummary:
    """The inspectable facts of ``space`` (builds the baseline once to count its parameters)."""
    base = space.baseline()
    model = space.build(base)
    size = space.size()
    return SpaceSummary(
        name=space.name,
        family=space.family,
        num_classes=space.num_classes,
        resolution=space.resolution(base),
        dimensions=tuple(space.dimensions()),
        size=size,
        size_sci=f"{size:.2e}",
        baseline_key=base.key,
        baseline_description=space.describe(base),
        baseline_params=sum(p.numel() for p in model.parameters()),
    )
