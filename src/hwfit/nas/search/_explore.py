"""Phase 3: NSGA-II (optuna) over the space, estimated accuracy up and predicted latency down.

The latency budget is a constraint NSGA-II reads from each trial (feasible first); the study
lives in the storage URL, so several workers can share it and a resumed run continues it.
"""

from __future__ import annotations

import math
import os
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING

from hwfit.nas.calibrate import Estimator
from hwfit.nas.latency.base import LatencyPredictor
from hwfit.nas.proxies import score_all
from hwfit.nas.search.plan import storage_error
from hwfit.nas.search.select import seeds
from hwfit.nas.search.state import SearchState

if TYPE_CHECKING:
    import optuna

__all__ = ["explore_phase", "front_note", "nan_none"]


def explore_phase(
    state: SearchState, predictor: LatencyPredictor, estimator: Estimator
) -> optuna.Study:
    """Run NSGA-II until the study holds ``plan.trials`` complete trials (or time is up).

    Raises:
        UserError: The study cannot be created in the storage.
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    setup, plan = state.setup, state.setup.plan
    # NSGA-II reads each trial's constraint (set in the objective): feasible first.
    sampler = optuna.samplers.NSGAIISampler(population_size=plan.population, seed=setup.seed)
    try:
        study = optuna.create_study(
            study_name=setup.study_name,
            storage=setup.storage,
            directions=["maximize", "minimize"],
            sampler=sampler,
            load_if_exists=True,
        )
    except Exception as exc:  # optuna raises several storage errors
        raise storage_error(setup.storage, exc) from exc
    done = len([t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE])
    if not done:
        # The first generations start from the baseline's neighbourhood.
        cap = max(plan.population, plan.trials // 4)
        for _, arch in seeds(setup.space, state.reference_archs())[:cap]:
            study.enqueue_trial(dict(arch.params), skip_if_exists=True)
    remaining = max(0, plan.trials - done)
    if remaining:
        # Workers sharing the study stop together once it holds plan.trials trials.
        enough = optuna.study.MaxTrialsCallback(
            plan.trials, states=(optuna.trial.TrialState.COMPLETE,)
        )
        study.optimize(
            _objective(state, study, predictor, estimator, done),
            n_trials=remaining,
            timeout=setup.time_budget_s,
            catch=(RuntimeError, ValueError),
            callbacks=[enough],
        )
    return study


def _objective(
    state: SearchState,
    study: optuna.Study,
    predictor: LatencyPredictor,
    estimator: Estimator,
    done: int,
) -> Callable[[optuna.trial.Trial], tuple[float, float]]:
    """The trial function: decode, predict the latency, estimate the accuracy, constrain."""
    setup = state.setup
    space, budget, proxies = setup.space, state.budget_ms, list(estimator.proxies)
    worker = f"{socket.gethostname()}:{os.getpid()}"  # who ran a trial, when several do

    def objective(trial: optuna.trial.Trial) -> tuple[float, float]:
        params = {
            d.name: trial.suggest_categorical(d.name, list(d.choices)) for d in space.dimensions()
        }
        arch = state.remember(space.decode(params))
        predicted = predictor.predict_one(state.features(arch))
        x, y = state.minibatch(arch)
        scores = score_all(space.build(arch), x, y, names=proxies, seed=setup.seed)
        estimated = estimator.estimate(scores)
        trial.set_user_attr("key", arch.key)
        trial.set_user_attr("predicted_ms", predicted)
        trial.set_user_attr("estimated_top1", estimated)
        trial.set_user_attr("proxies", {k: nan_none(v) for k, v in scores.items()})
        trial.set_user_attr("worker", worker)
        if budget is not None:
            trial.set_constraint("latency", predicted - budget)
        state.counts.trials += 1
        total = done + state.counts.trials
        state.tick("search: NSGA-II", total, setup.plan.trials, front_note(study))
        return estimated, predicted

    return objective


def front_note(study: optuna.Study) -> str:
    """The progress line's note: the first points of the study's front (ms / top-1)."""
    try:
        best = study.best_trials
    except Exception:
        return ""
    pts = sorted(
        (float(t.user_attrs.get("predicted_ms", math.nan)), t.values[0]) for t in best if t.values
    )
    return "front: " + ", ".join(f"{ms:.2f}ms/{acc:.1f}%" for ms, acc in pts[:4])


def nan_none(value: float) -> float | None:
    """``value``, or None when it is not finite (JSON has no NaN)."""
    return value if math.isfinite(value) else None
