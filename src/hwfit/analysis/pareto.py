"""Pareto dominance and the Pareto front, as pure functions of plain numbers.

Shared by :func:`hwfit.analysis.frontier` (accuracy vs latency of zoo models) and the NAS
search (accuracy proxy vs predicted latency). Each objective has a sense: ``"min"`` (lower is
better, e.g. latency) or ``"max"`` (higher is better, e.g. top-1).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

__all__ = ["Sense", "dominates", "pareto_front"]

Sense = Literal["min", "max"]


def _oriented(point: Sequence[float], senses: Sequence[Sense]) -> tuple[float, ...]:
    # Every objective turned into "lower is better".
    return tuple(v if s == "min" else -v for v, s in zip(point, senses, strict=True))


def _check(points: Sequence[Sequence[float]], senses: Sequence[Sense]) -> None:
    if not senses:
        raise ValueError("At least one objective is needed.")
    bad = [s for s in senses if s not in ("min", "max")]
    if bad:
        raise ValueError(f"Each sense must be 'min' or 'max', got {bad[0]!r}.")
    for i, point in enumerate(points):
        if len(point) != len(senses):
            raise ValueError(
                f"Point {i} has {len(point)} values; {len(senses)} objectives were given."
            )
        if any(math.isnan(float(v)) for v in point):
            raise ValueError(f"Point {i} has a NaN value: {tuple(point)}.")


def dominates(a: Sequence[float], b: Sequence[float], senses: Sequence[Sense]) -> bool:
    """Return True when ``a`` is at least as good as ``b`` everywhere and better somewhere.

    Args:
        a: One point, a value per objective.
        b: Another point.
        senses: Per objective, ``"min"`` or ``"max"``.

    Raises:
        ValueError: Lengths differ, a sense is unknown, or a value is NaN.

    Example:
        >>> dominates((1.0, 80.0), (2.0, 79.0), ("min", "max"))
        True
        >>> dominates((1.0, 80.0), (1.0, 80.0), ("min", "max"))
        False
    """
    _check((a, b), senses)
    oa, ob = _oriented(a, senses), _oriented(b, senses)
    return all(x <= y for x, y in zip(oa, ob, strict=True)) and oa != ob


def pareto_front(points: Sequence[Sequence[float]], senses: Sequence[Sense]) -> list[int]:
    """Indices of the points no other point dominates, in a deterministic order.

    Ties: points with equal values in some objectives are compared on the others, as the
    definition of dominance says. Duplicates (points equal in every objective) are all
    non-dominated; only the first of them (lowest index) is kept, so the front holds one index
    per distinct point. The result is sorted from best to worst on the first objective, then
    on the next ones, then by index.

    Args:
        points: A value per objective for each point.
        senses: Per objective, ``"min"`` or ``"max"``.

    Returns:
        Indices into ``points``; empty when ``points`` is.

    Raises:
        ValueError: A point has the wrong length, a sense is unknown, or a value is NaN.

    Example:
        >>> # (latency ms, top-1 %): the third is slower and less accurate than the first.
        >>> pareto_front([(1.0, 70.0), (3.0, 80.0), (2.0, 65.0), (0.5, 60.0)], ("min", "max"))
        [3, 0, 1]
    """
    _check(points, senses)
    oriented = [_oriented(p, senses) for p in points]
    # Sorting by the oriented values puts every point after all points that dominate it
    # (a dominator is <= in every value, so lexicographically smaller or equal).
    order = sorted(range(len(points)), key=lambda i: (oriented[i], i))
    front: list[int] = []
    for i in order:
        candidate = oriented[i]
        if any(all(x <= y for x, y in zip(oriented[j], candidate, strict=True)) for j in front):
            continue  # dominated by, or a duplicate of, a point already on the front
        front.append(i)
    return front
