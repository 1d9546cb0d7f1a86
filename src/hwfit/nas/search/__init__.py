"""``search()``: hardware-aware architecture search from a baseline, on this machine.

The search runs in phases; each one writes its results into the output folder as it goes, so an
interrupted search resumes where it stopped and nothing measured or trained is lost:

1. **Latency**: the baseline, its width/depth-scaled variants and a sample of the space are
   measured for real on the target (export -> convert -> quantize -> compile -> bench); a learned
   predictor is fitted on per-layer features and its held-out quality is reported.
2. **Accuracy estimator**: training-free proxies are scored on a mini-batch of the user's data
   for a pool of candidates, a subset is short-trained with successive halving, and the proxy that
   ranks the short-trained candidates best (Kendall tau) becomes the search's accuracy estimate.
3. **Search**: NSGA-II (optuna) over the space, estimated accuracy up and predicted latency down,
   the latency budget as a constraint (without one: the baseline's measured latency divided by
   the speed-up goal, 1.5x by default, so that every trial is spent where the goal is); the
   optuna study lives in ``--storage`` (SQLite in the
   output folder by default, or a shared URL several machines can work on together).
4. **Verification**: the Pareto front is re-measured for real; the best-estimated of it (and of
   the other trials within the budget) are screened by a short training next to the baseline
   with the same recipe, because a training-free estimate cannot be trusted to tell which of
   them keeps the baseline's accuracy; the finalists are the best screened of those at the
   latency goal. The finalists (top-k), the baseline and its scaled variants are trained with
   the same full recipe (and initialisation seed) and measured on the target in this run;
   the top-k go through :func:`hwfit.optimize` restricted to the target and become deployable
   artifacts; ``search.html`` shows it all with the search's cost.

The package: :mod:`~hwfit.nas.search.plan` (the checked setup), :mod:`~hwfit.nas.search.state`
(the resumable folder and the run's state), one private module per phase (functions over the
state), :mod:`~hwfit.nas.search.select` (the choices, pure) and :mod:`~hwfit.nas.search.cost`.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from hwfit.nas.search.plan import DEMO_PLAN, SearchPlan, SearchSetup, prepare
from hwfit.nas.search.select import (
    GOAL_TOLERANCE,
    best,
    finalists,
    pareto,
    screen_candidates,
    seeds,
)
from hwfit.records.progress import Progress
from hwfit.records.search import ArchResult, SearchResult

__all__ = [
    "DEMO_PLAN",
    "GOAL_TOLERANCE",
    "ArchResult",
    "SearchPlan",
    "SearchResult",
    "SearchSetup",
    "best",
    "finalists",
    "pareto",
    "prepare",
    "screen_candidates",
    "search",
    "seeds",
]


def search(
    baseline: str,
    data: str | None,
    out: str | os.PathLike[str],
    *,
    target: str | None = None,
    latency_budget_ms: float | None = None,
    time_budget_s: float | None = None,
    storage: str | None = None,
    db: str | None = None,
    resolution: int | None = None,
    plan: SearchPlan | None = None,
    train_size: int | None = None,
    val_size: int | None = None,
    optimize_found: bool = True,
    seed: int = 0,
    strict_data: bool = False,
    progress: Progress | None = None,
) -> SearchResult:
    """Search architectures around ``baseline`` that are faster on ``target`` at equal accuracy.

    Args:
        baseline: A timm model (``timm:mobilenetv2_100``) or ``nb201``.
        data: Image folder (a sub-folder per class) or ``.npz``; None = the shipped demo set.
        out: Output folder; re-running with the same folder resumes the search.
        target: ``runtime:precision:bsN:device`` (default: this machine's best at INT8 bs1).
        latency_budget_ms: Architectures predicted slower than this are infeasible.
        time_budget_s: Wall-clock budget of the search phase (the NSGA-II trials).
        storage: Optuna storage URL for the study (default: SQLite in ``out``).
        db: Results database URL or SQLite path that caches the latency measurements
            (default: :func:`hwfit.db.default_db_url`).
        resolution: Baseline input resolution (default: the data's, at least 32).
        plan: Work per phase.
        train_size: Training images to use (default: all).
        val_size: Validation images (default: 20% of the data, at most 2000).
        optimize_found: Pass the found architectures through :func:`hwfit.optimize`.
        seed: Seeds sampling, training and the search.
        strict_data: Fail on the first image that cannot be decoded instead of skipping it
            (skipped images are named in the notes).
        progress: Receives a ``ProgressEvent(command="search", phase=..., done, total,
            note=...)`` as the search advances (phases: ``latency: ...``, ``accuracy: ...``,
            ``search: NSGA-II``, ``verify: ...``).

    Returns:
        The search result; ``search.json`` and ``search.html`` are written to ``out``.

    Raises:
        UserError: Bad baseline, data, target or storage, before anything is measured.
    """
    # The phases import torch, optuna and plotly: only once a search runs.
    from hwfit.nas.search._run import run

    started, cpu_started = time.monotonic(), time.process_time()
    setup = prepare(
        baseline,
        data,
        Path(out),
        plan=plan or SearchPlan(),
        target=target,
        latency_budget_ms=latency_budget_ms,
        time_budget_s=time_budget_s,
        storage=storage,
        db=db,
        resolution=resolution,
        train_size=train_size,
        val_size=val_size,
        optimize_found=optimize_found,
        seed=seed,
        strict_data=strict_data,
    )
    return run(setup, progress, started=started, cpu_started=cpu_started)
