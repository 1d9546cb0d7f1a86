"""Choose the winner: fastest within the accuracy budget; ties go to the smaller artifact."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from hwfit.records import Outcome, RowState

__all__ = ["TIE_REL", "score", "select"]

TIE_REL = 0.02  # medians within 2% are a tie: the smaller artifact wins


def score(outcome: Outcome, objective: str) -> float | None:
    """Lower is better: p50 ms for ``latency``; minus samples/s for ``throughput``."""
    bench = outcome.bench
    if bench is None or bench.latency is None:
        return None
    if objective == "throughput":
        best = max(bench.throughput or 0.0, bench.async_throughput or 0.0)
        return -best if best else None
    return bench.latency.p50_ms


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
    best_score = min(score(o, objective) or 0.0 for o in eligible)
    tied = [o for o in eligible if _within(score(o, objective) or 0.0, best_score)]
    winner = min(tied, key=lambda o: (o.artifact_size_bytes or 0, score(o, objective) or 0.0))
    explained = []
    win_score = score(winner, objective) or 0.0
    for o in outcomes:
        if o is winner or o.state is not RowState.COMPLETE:
            explained.append(o)
            continue
        s = score(o, objective)
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
            ratio = s / win_score if objective == "latency" else win_score / s
            what = "slower" if objective == "latency" else "less throughput"
            explained.append(dataclasses.replace(o, reason=f"{ratio:.2f}x {what} than the winner"))
    return winner, explained


def _within(value: float, best: float) -> bool:
    return abs(value - best) <= TIE_REL * abs(best)
