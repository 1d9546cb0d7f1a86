"""Phase 2: score proxies on a pool, short-train a subset, choose and calibrate the estimator."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence

from hwfit.nas.calibrate import Estimator, calibrate
from hwfit.nas.proxies import score_all
from hwfit.nas.search.state import SearchState, builder, finite, forward
from hwfit.nas.space import Arch
from hwfit.nas.train import TrainRecipe, successive_halving
from hwfit.records.search import Calibration

__all__ = ["accuracy_phase"]


def accuracy_phase(state: SearchState) -> tuple[Estimator, Calibration]:
    """Score every proxy on a pool, short-train part of it, and choose the estimator."""
    pool = _pool(state)
    scores = _proxy_scores(state, pool)
    trained = _short_train(state, pool[: state.setup.plan.short_train])
    names = sorted({name for s in scores.values() for name in s})
    population = {
        name: {k: s[name] for k, s in scores.items() if finite(s.get(name))} for name in names
    }
    cal = calibrate(population, trained, fallback="params")
    proxies = cal.chosen_proxies or ("params",)
    if cal.chosen is None:
        state.notes.append(f"No proxy could be calibrated ({cal.reason}); params used.")
    estimator = Estimator(proxies, population, trained)
    calibration = dataclasses.replace(
        cal, short_epochs=state.setup.plan.short_epochs, estimator=repr(estimator)
    )
    state.folder.write("calibration.json", calibration.to_dict())
    return estimator, calibration


def _pool(state: SearchState) -> list[Arch]:
    """The references, then random architectures up to ``plan.proxy_pool`` (unique)."""
    rng = random.Random(state.setup.seed + 1)
    pool = [a for _, a in state.reference_archs()]
    seen = {a.key for a in pool}
    while len(pool) < state.setup.plan.proxy_pool:
        arch = state.setup.space.sample(rng)
        if arch.key not in seen:
            seen.add(arch.key)
            pool.append(state.remember(arch))
    return pool


def _proxy_scores(state: SearchState, pool: Sequence[Arch]) -> dict[str, dict[str, float]]:
    """Arch key -> proxy -> score for the pool (resumable: ``proxy-scores.json``)."""
    scores: dict[str, dict[str, float]] = state.folder.read("proxy-scores.json") or {}
    phase = "accuracy: proxies"
    for i, arch in enumerate(pool):
        state.tick(phase, i, len(pool), arch.key)
        if arch.key not in scores:
            x, y = state.minibatch(arch)
            scores[arch.key] = score_all(state.setup.space.build(arch), x, y)
            state.folder.write("proxy-scores.json", scores)
    state.tick(phase, len(pool), len(pool), "")
    return scores


def _short_train(state: SearchState, subset: Sequence[Arch]) -> dict[str, float]:
    """Successive halving over ``subset`` (resumable): key -> first-rung top-1."""
    plan, space = state.setup.plan, state.setup.space
    short = state.folder.read("short-train.json") or {}
    if "rungs" not in short:
        rungs = successive_halving(
            {a.key: builder(space, a) for a in subset},
            state.setup.data,
            resolutions={a.key: space.resolution(a) for a in subset},
            min_epochs=plan.short_epochs,
            eta=3,
            rungs=2,
            recipe=TrainRecipe(epochs=plan.short_epochs, seed=state.setup.seed),
            progress=forward(state, "accuracy: short training"),
        )
        state.counts.trained += sum(len(r.results) for r in rungs)
        short = {"rungs": [dataclasses.asdict(r) for r in rungs]}
        state.folder.write("short-train.json", short)
    first = short["rungs"][0]["results"]
    return {k: float(v["top1"]) for k, v in first.items() if v.get("error") is None}
