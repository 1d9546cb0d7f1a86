"""Phase 1: measure a sample of the space on the target and fit the latency predictor."""

from __future__ import annotations

import random

from hwfit.errors import UserError
from hwfit.nas.latency.base import LatencyPredictor
from hwfit.nas.latency.learned import LearnedPredictor
from hwfit.nas.latency.measure import MAX_CONTENTION
from hwfit.nas.latency.quality import evaluate
from hwfit.nas.search.state import SearchState
from hwfit.nas.space import Arch
from hwfit.records.search import PredictorQuality

__all__ = ["latency_budget", "latency_phase"]


def latency_phase(state: SearchState) -> tuple[LatencyPredictor, PredictorQuality]:
    """Measure the references and a sample for real, fit the predictor and score it held out.

    Raises:
        UserError: Fewer than 8 architectures could be measured.
    """
    plan = state.setup.plan
    archs = _sample(state, plan.measure)
    state.measure(archs, "latency: measure on target")
    state.notes.append(
        "Latencies are paired with the baseline (alternating 50-ms windows in one worker): "
        f"ratio to it x its own {state.measurer.reference_ms:.3f} ms, so that the host's "
        "drift cancels out."
    )
    keys = [a.key for a in archs if a.key in state.latency]
    if len(keys) < 8:
        raise UserError(
            f"Only {len(keys)} architectures could be measured on {state.setup.target}"
            + (f"; first failure: {state.notes[0]}" if state.notes else "."),
            hint="Try another --target, or run with -v to see each measurement.",
        )
    keys = _uncontended(state, keys)
    feats = [state.features(state.archs[k]) for k in keys]
    lats = [state.latency[k] for k in keys]
    seed = state.setup.seed
    quality = evaluate(LearnedPredictor(), feats, lats, test_fraction=0.25, seed=seed)
    predictor = LearnedPredictor()
    predictor.fit(feats, lats)
    state.folder.write("predictor-quality.json", quality)
    return predictor, quality


def _sample(state: SearchState, n: int) -> list[Arch]:
    """The references, then random architectures of the space up to ``n`` (unique)."""
    rng = random.Random(state.setup.seed)
    archs = [a for _, a in state.reference_archs()]
    seen = {a.key for a in archs}
    attempts = 0
    while len(archs) < n and attempts < n * 20:
        attempts += 1
        arch = state.setup.space.sample(rng)
        if arch.key not in seen:
            seen.add(arch.key)
            archs.append(arch)
    return archs


def _uncontended(state: SearchState, keys: list[str]) -> list[str]:
    """Leave out measurements taken under CPU contention when 8 others remain (noted)."""
    busy = [k for k in keys if k in state.contended]
    if busy and len(keys) - len(busy) >= 8:
        keys = [k for k in keys if k not in state.contended]
        state.notes.append(
            f"{len(busy)} of {len(busy) + len(keys)} latency measurements were taken while "
            f"other processes used over {MAX_CONTENTION:.0%} of the CPU; the predictor "
            "was fitted without them."
        )
    elif busy:
        state.notes.append(
            f"{len(busy)} of {len(keys)} latency measurements were taken while other "
            f"processes used over {MAX_CONTENTION:.0%} of the CPU; they are inflated."
        )
    return keys


def latency_budget(state: SearchState) -> float | None:
    """The search's latency constraint: --latency-budget, else the speed-up goal's."""
    if state.setup.latency_budget_ms is not None:
        return state.setup.latency_budget_ms
    base_ms = state.latency.get(state.setup.space.baseline().key)
    if base_ms is None:
        return None
    goal = state.setup.plan.speedup_goal
    state.notes.append(
        f"No latency budget given: the search looked for architectures at least {goal:g}x "
        f"faster than the baseline (predicted <= {base_ms / goal:.3f} ms, the baseline's "
        f"measured {base_ms:.3f} ms / {goal:g}); give --latency-budget to set another."
    )
    return base_ms / goal
