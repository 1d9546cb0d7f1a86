"""Choose the winner: fastest within the accuracy budget; ties go to the smaller artifact."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from hwfit.records import Outcome, RowState

__all__ = ["TIE_REL", "against", "runner_up_of", "score", "select"]

TIE_REL = 0.02  # medians within 2% are a tie: the smaller artifact wins


def score(outcome: Outcome, objective: str, paired: bool = False) -> float | None:
    """Lower is better.

    With ``paired``: the paired speed-up over the baseline, negated (for the throughput
    objective it is per sample: :func:`hwfit.tune._run.pair`). Otherwise ``latency``: the p50
    in ms; ``throughput``: minus the best samples/s.
    """
    bench = outcome.bench
    if bench is None or bench.latency is None:
        return None
    if paired:
        return -bench.speedup.speedup if bench.speedup is not None else None
    if objective == "throughput":
        best = max(bench.throughput or 0.0, bench.async_throughput or 0.0)
        return -best if best else None
    return bench.latency.p50_ms


def _paired(outcomes: Sequence[Outcome], objective: str) -> bool:
    """Rank by paired speed-ups when every candidate has one (they share one baseline)."""
    return objective in ("latency", "throughput") and all(
        o.bench is not None and o.bench.speedup is not None for o in outcomes
    )


def runner_up_of(
    winner: Outcome, outcomes: Sequence[Outcome], objective: str = "latency"
) -> Outcome | None:
    """The best COMPLETE outcome other than ``winner`` (None when there is none)."""
    others = [
        o
        for o in outcomes
        if o is not winner
        and o.candidate != winner.candidate
        and o.state is RowState.COMPLETE
        and score(o, objective) is not None
    ]
    if not others:
        return None
    paired = _paired(others, objective)
    return min(others, key=lambda o: score(o, objective, paired) or 0.0)


def select(
    outcomes: Sequence[Outcome], objective: str = "latency"
) -> tuple[Outcome | None, list[Outcome]]:
    """Pick the winner among COMPLETE outcomes and say why each other one lost.

    Returns:
        ``(winner or None, outcomes with their reasons filled in)``; the order is kept.

    Example:
        >>> from hwfit.records import Candidate
        >>> select([Outcome(Candidate("openvino", "int8"), RowState.FAILED, "crash")])[0] is None
        True
    """
    eligible = [
        o for o in outcomes if o.state is RowState.COMPLETE and score(o, objective) is not None
    ]
    if not eligible:
        return None, list(outcomes)
    paired = _paired(eligible, objective)

    def key(o: Outcome) -> float:
        return score(o, objective, paired) or 0.0

    best_score = min(key(o) for o in eligible)
    tied = [o for o in eligible if _within(key(o), best_score)]
    winner = min(tied, key=lambda o: (o.artifact_size_bytes or 0, key(o)))
    return winner, against(outcomes, winner, objective, tied)


def against(
    outcomes: Sequence[Outcome],
    winner: Outcome,
    objective: str = "latency",
    tied: Sequence[Outcome] = (),
) -> list[Outcome]:
    """``outcomes`` with each other COMPLETE one's reason for losing to ``winner``.

    Args:
        outcomes: Every outcome, ``winner`` among them (the order is kept).
        winner: The chosen one; its own reason is left as it is.
        objective: ``latency`` or ``throughput``.
        tied: Outcomes within :data:`TIE_REL` of the winner that lost on artifact size.
    """
    eligible = [
        o for o in outcomes if o.state is RowState.COMPLETE and score(o, objective) is not None
    ]
    paired = _paired(eligible, objective)
    win_score = score(winner, objective, paired) or 0.0
    explained = []
    for o in outcomes:
        if o is winner or o.state is not RowState.COMPLETE:
            explained.append(o)
            continue
        s = score(o, objective, paired)
        if s is None:
            explained.append(o)
        elif o in tied:
            explained.append(
                dataclasses.replace(
                    o,
                    reason=f"tied with the winner (within {TIE_REL:.0%}); the winner's artifact "
                    "is smaller",
                )
            )
        else:
            ratio = s / win_score if objective == "latency" and not paired else win_score / s
            what = "slower" if objective == "latency" else "less throughput"
            explained.append(dataclasses.replace(o, reason=f"{ratio:.2f}x {what} than the winner"))
    return explained


def _within(value: float, best: float) -> bool:
    return abs(value - best) <= TIE_REL * abs(best)
