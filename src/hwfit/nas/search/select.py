"""How the search picks: the front, what to screen, the finalists and the best found.

Pure functions of the search's records (no measuring, no training), tested as such.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

from hwfit.analysis.pareto import pareto_front
from hwfit.nas.space import Arch, SearchSpace
from hwfit.records.search import ArchResult, TrialRecord

__all__ = [
    "GOAL_TOLERANCE",
    "best",
    "finalists",
    "pareto",
    "screen_candidates",
    "seeds",
    "spread",
]

#: Measured within this share above the latency goal counts as at the goal when the finalists
#: are chosen: paired latency ratios of the same model repeat within about +-5% (median).
GOAL_TOLERANCE = 0.05


def pareto(trials: Sequence[TrialRecord]) -> list[TrialRecord]:
    """The trials no other trial beats on both estimated top-1 (up) and predicted ms (down).

    Trials without finite estimates are left out; trials equal on both stay together (the
    front of :func:`hwfit.analysis.pareto.pareto_front` keeps one of each distinct point).
    The trials keep their order.
    """
    scored = [
        t
        for t in trials
        if t.estimated_top1 is not None
        and t.predicted_ms is not None
        and math.isfinite(t.estimated_top1)
        and math.isfinite(t.predicted_ms)
    ]
    points = [(float(t.estimated_top1 or 0.0), float(t.predicted_ms or 0.0)) for t in scored]
    front = {points[i] for i in pareto_front(points, ("max", "min"))}
    return [t for t, p in zip(scored, points, strict=True) if p in front]


def seeds(space: SearchSpace, refs: Sequence[tuple[str, Arch]]) -> list[tuple[str, Arch]]:
    """The search's starting points, labelled: ``refs``, then the baseline compound-scaled.

    Width and depth multipliers 1, 0.75 and 0.5 at each input resolution up to the
    baseline's, highest resolution first (unique): the baseline's own neighbourhood, where
    the search looks for the same accuracy at a lower latency.
    """
    dims = {d.name: d for d in space.dimensions()}
    base_res = space.resolution(space.baseline())
    resolutions: Sequence[int | None] = [None]
    if "resolution" in dims:
        choices = [c for c in dims["resolution"].choices if isinstance(c, int)]
        resolutions = sorted((r for r in choices if r <= base_res), reverse=True)
    labelled = {a.key: (role, a) for role, a in refs}
    for res in resolutions:
        for width in (1.0, 0.75, 0.5):
            for depth in (1.0, 0.75, 0.5):
                arch = space.scaled(width, depth, res)
                at = "" if res is None else f" at {res} px"
                labelled.setdefault(arch.key, (f"baseline scaled w{width:g} d{depth:g}{at}", arch))
    return list(labelled.values())


def spread(archs: Sequence[Arch], key: Callable[[Arch], float], n: int) -> list[Arch]:
    """At most ``n`` architectures spread evenly along ``key`` (unique by arch key)."""
    unique = {a.key: a for a in archs}
    ordered = sorted(unique.values(), key=key)
    if len(ordered) <= n:
        return ordered
    idx = sorted({round(i * (len(ordered) - 1) / (n - 1)) for i in range(n)})
    return [ordered[i] for i in idx]


def screen_candidates(
    front: Sequence[Arch],
    within: Sequence[Arch],
    *,
    estimated: Mapping[str, float],
    n: int,
) -> list[Arch]:
    """Up to ``n`` to screen: the front's best estimates, then the other trials' (unique)."""
    chosen: dict[str, Arch] = {}
    for pool in (front, within):
        for a in sorted(pool, key=lambda a: -estimated.get(a.key, -math.inf)):
            if len(chosen) < n:
                chosen.setdefault(a.key, a)
    return list(chosen.values())


def finalists(
    candidates: Sequence[Arch],
    *,
    measured: Mapping[str, float],
    screened: Mapping[str, float],
    goal_ms: float | None,
    k: int,
) -> list[Arch]:
    """The candidates worth full training, best first.

    Those measured at the latency goal (within :data:`GOAL_TOLERANCE`, the measurement's own
    repeatability) come first, the rest after; each group by screening top-1 (unscreened
    last), then by latency. The baseline's screening top-1 is no gate: after a short training
    small models lead large ones that overtake them later, so the screening ranks candidates
    against each other, not against the baseline.
    """
    slack = None if goal_ms is None else goal_ms * (1 + GOAL_TOLERANCE)

    def order(a: Arch) -> tuple[bool, float, float]:
        misses = slack is not None and measured[a.key] > slack
        return (misses, -screened.get(a.key, -math.inf), measured[a.key])

    return sorted((a for a in candidates if a.key in measured), key=order)[:k]


def best(found: Sequence[ArchResult], baseline: ArchResult) -> ArchResult | None:
    """The fastest found architecture whose trained top-1 is at least the baseline's."""
    if baseline.trained_top1 is None:
        return None
    ok = [
        r
        for r in found
        if r.trained_top1 is not None
        and r.measured_ms is not None
        and r.trained_top1 >= baseline.trained_top1
    ]
    return min(ok, key=lambda r: r.measured_ms or math.inf) if ok else None
