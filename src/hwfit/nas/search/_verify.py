"""Phase 4: re-measure the front, screen candidates, train finalists and references fully.

A training-free estimate cannot be trusted to tell which candidates keep the baseline's
accuracy, so the best-estimated of the front (and of the other trials within the budget) are
screened by a short training next to the baseline with the same recipe; the finalists are the
best screened at the latency goal. They, the baseline and its scaled variants are then trained
with the same full recipe and measured again, interleaved, in this run.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from hwfit.nas.search.select import (
    finalists,
    pareto,
    screen_candidates,
    seeds,
    spread,
)
from hwfit.nas.search.state import SearchState, builder, finite, forward
from hwfit.nas.space import Arch
from hwfit.nas.train import TrainRecipe, TrainResult, successive_halving, train_and_evaluate
from hwfit.records.search import TrialRecord

if TYPE_CHECKING:
    import optuna

__all__ = ["Verified", "trial_records", "verify_phase"]


@dataclasses.dataclass(frozen=True)
class Verified:
    """What the verification found, for the result table.

    Attributes:
        trials: Every complete trial of the study.
        by_key: The first trial of each architecture, by arch key.
        front: The front's trials (feasible, or the faster-than-baseline fallback).
        front_archs: The front's architectures that were re-measured.
        finalists: The architectures trained fully, best first.
        screened: Arch key -> top-1 after the screening's short training.
        trained: Arch key -> top-1 after the full training.
        final_ms: Arch key -> median of the final re-measurements (ms).
        final_ci: Arch key -> the medians of their paired 95% interval ends (ms).
        origins: Arch key -> the starting point it is (the baseline compound-scaled).
    """

    trials: list[TrialRecord]
    by_key: dict[str, TrialRecord]
    front: list[TrialRecord]
    front_archs: list[Arch]
    finalists: list[Arch]
    screened: dict[str, float]
    trained: dict[str, float]
    final_ms: dict[str, float]
    final_ci: dict[str, tuple[float, float]]
    origins: dict[str, str]


def trial_records(study: optuna.Study) -> list[TrialRecord]:
    """Every complete trial of ``study`` as a record."""
    import optuna

    return [
        TrialRecord(
            number=t.number,
            key=t.user_attrs.get("key"),
            params=dict(t.params),
            predicted_ms=t.user_attrs.get("predicted_ms"),
            estimated_top1=t.user_attrs.get("estimated_top1"),
            feasible=all(c <= 0.0 for c in t.constraints.values()),
        )
        for t in study.trials
        if t.state == optuna.trial.TrialState.COMPLETE
    ]


def verify_phase(state: SearchState, study: optuna.Study) -> Verified:
    """Re-measure the front, screen, choose the finalists, train and re-measure them."""
    trials = trial_records(study)
    by_key: dict[str, TrialRecord] = {}
    for t in trials:
        by_key.setdefault(state.remember(state.setup.space.decode(t.params)).key, t)
    refs = state.reference_archs()
    front = _front(state, study, trials)
    front_archs = spread(
        [state.remember(state.setup.space.decode(t.params)) for t in front],
        key=lambda a: float(by_key[a.key].predicted_ms or 0.0),
        n=state.setup.plan.front_measure,
    )
    state.measure(front_archs, "verify: measure the front")
    chosen, screened = _choose(state, by_key, front_archs, {a.key for _, a in refs})
    trained = full_training(state, [a for _, a in refs] + chosen)
    final_ms, final_ci = _final_latency(state, [a for _, a in refs] + chosen)
    # Which results started as the baseline compound-scaled, and how much the EA added.
    origins = {a.key: label for label, a in seeds(state.setup.space, refs)}
    front_keys = {str(t.key) for t in front}
    from_seeds = len(front_keys & set(origins))
    if front_keys:
        state.notes.append(
            f"{from_seeds} of the {len(front_keys)} architectures on the front are "
            "starting points (the baseline compound-scaled in width, depth and resolution); "
            f"{len(front_keys) - from_seeds} came from NSGA-II's own trials."
        )
    return Verified(
        trials, by_key, front, front_archs, chosen, screened, trained, final_ms, final_ci, origins
    )


def _front(
    state: SearchState, study: optuna.Study, trials: Sequence[TrialRecord]
) -> list[TrialRecord]:
    """The feasible front (optuna's ``best_trials``), else the front of the faster trials."""
    on_front = {t.number for t in study.best_trials}
    front = [t for t in trials if t.number in on_front]
    if front:
        return front
    # Nothing predicted within the budget: the trade-off among the faster ones instead.
    base_ms = state.latency.get(state.setup.space.baseline().key)
    front = pareto(
        [t for t in trials if base_ms is None or float(t.predicted_ms or math.nan) < base_ms]
    )
    goal_ms = state.budget_ms
    state.notes.append(
        "No trial was predicted within the latency budget"
        + (f" ({goal_ms:.3f} ms)" if goal_ms is not None else "")
        + "; the front shown is of the trials predicted faster than the baseline."
    )
    return front


def _choose(
    state: SearchState,
    by_key: dict[str, TrialRecord],
    front_archs: Sequence[Arch],
    ref_keys: set[str],
) -> tuple[list[Arch], dict[str, float]]:
    """Screen the best-estimated candidates with the baseline; return the finalists."""
    plan, goal_ms = state.setup.plan, state.budget_ms
    base = state.setup.space.baseline()
    base_ms = state.latency.get(base.key)
    estimated = {k: float(t.estimated_top1 or math.nan) for k, t in by_key.items()}
    # The front's best estimates and the other trials' best within the budget.
    within = [
        state.archs[k]
        for k, t in by_key.items()
        if t.feasible and (goal_ms is None or float(t.predicted_ms or math.nan) <= goal_ms)
    ]
    candidates = screen_candidates(
        [a for a in front_archs if a.key not in ref_keys],
        [a for a in within if a.key not in ref_keys],
        estimated=estimated,
        n=plan.screen,
    )
    state.measure(candidates, "verify: measure the candidates")
    faster = [
        a
        for a in candidates
        if a.key in state.latency and (base_ms is None or state.latency[a.key] < base_ms)
    ]
    screened = screen(state, [base, *faster])
    base_screen = screened.get(base.key)
    chosen = finalists(
        faster, measured=state.latency, screened=screened, goal_ms=goal_ms, k=plan.top_k
    )
    if chosen and base_screen is not None:
        best_screen = max(screened.get(a.key, -math.inf) for a in chosen)
        if best_screen < base_screen:
            state.notes.append(
                f"No finalist reached the baseline's screening top-1 ({base_screen:.1f}% "
                f"after {plan.screen_epochs:g} epochs); they were trained anyway."
            )
    return chosen, screened


def screen(state: SearchState, archs: Sequence[Arch]) -> dict[str, float]:
    """Short-train ``archs`` with the same recipe (resumable): key -> top-1."""
    plan, space = state.setup.plan, state.setup.space
    done = state.folder.read("screen.json") or {}
    todo = [a for a in archs if a.key not in done]

    def keep(_rung: int, key: str, result: TrainResult) -> None:
        done[key] = dataclasses.asdict(result)
        state.folder.write("screen.json", done)
        state.counts.trained += 1

    if todo:
        successive_halving(
            {a.key: builder(space, a) for a in todo},
            state.setup.data,
            resolutions={a.key: space.resolution(a) for a in todo},
            min_epochs=plan.screen_epochs,
            rungs=1,
            recipe=TrainRecipe(epochs=plan.screen_epochs, seed=state.setup.seed),
            on_result=keep,
            progress=forward(state, f"verify: screen ({plan.screen_epochs:g} epochs)"),
        )
    return {
        a.key: float(done[a.key]["top1"])
        for a in archs
        if a.key in done and finite(done[a.key].get("top1"))
    }


def full_training(state: SearchState, archs: Sequence[Arch]) -> dict[str, float]:
    """Train each architecture with the same full recipe (resumable): key -> top-1.

    The weights go to ``models/<key>/weights.pt`` (``state.weights`` says where).
    """
    import torch

    setup = state.setup
    done = state.folder.read("full-train.json") or {}
    recipe = TrainRecipe(epochs=setup.plan.full_epochs, seed=setup.seed)
    for i, arch in enumerate(archs):
        state.tick("verify: full training", i, len(archs), arch.key)
        if arch.key in done:
            continue
        torch.manual_seed(setup.seed)  # the same initialisation seed for every model
        model = setup.space.build(arch)
        r = train_and_evaluate(
            model, setup.data.at_resolution(setup.space.resolution(arch)), recipe
        )
        state.counts.trained += 1
        weights = setup.out / "models" / arch.key / "weights.pt"
        weights.parent.mkdir(parents=True, exist_ok=True)
        torch.save(model.state_dict(), weights)
        done[arch.key] = {**dataclasses.asdict(r), "weights": str(weights)}
        state.folder.write("full-train.json", done)
    state.tick("verify: full training", len(archs), len(archs), "")
    state.weights = {k: str(v["weights"]) for k, v in done.items()}
    return {k: float(v["top1"]) for k, v in done.items()}


def _final_latency(
    state: SearchState, final: list[Arch]
) -> tuple[dict[str, float], dict[str, tuple[float, float]]]:
    """Same run, same machine state: measure ``final`` twice more, interleaved."""
    for _ in range(2):
        state.measure(final, "verify: final latency", again=True)
        final = list(reversed(final))
    final_ms = {k: float(np.median(v)) for k, v in state.remeasured.items()}
    final_ci = {
        k: (float(np.median([lo for lo, _ in v])), float(np.median([hi for _, hi in v])))
        for k, v in state.remeasured_ci.items()
        if all(math.isfinite(lo) and math.isfinite(hi) for lo, hi in v)
    }
    state.folder.write("final-latency.json", state.remeasured)
    return final_ms, final_ci
