"""What a search costs, over every run that resumed it.

Each run appends its own entry to ``cost-runs.json`` (wall time, this process's CPU time,
measurements and trainings it did); the :class:`~hwfit.records.search.SearchCost` of the result
adds them up.
"""

from __future__ import annotations

import dataclasses
import os
import time

from hwfit.nas.search.state import SearchState
from hwfit.records.search import SearchCost

__all__ = ["RunCost", "search_cost"]


@dataclasses.dataclass(frozen=True)
class RunCost:
    """One run's entry in ``cost-runs.json``."""

    wall_s: float
    process_cpu_s: float
    measured: int
    trained: int


def search_cost(state: SearchState, trials: int) -> SearchCost:
    """Record this run's cost in ``cost-runs.json`` and return the whole search's.

    Args:
        state: The run (its start times and counts).
        trials: Trials in the study (all workers and runs).
    """
    wall = time.monotonic() - state.started
    this_run = RunCost(
        wall_s=round(wall, 1),
        process_cpu_s=round(time.process_time() - state.cpu_started, 1),
        measured=state.counts.measured,
        trained=state.counts.trained,
    )
    runs = [*(state.folder.read("cost-runs.json") or []), dataclasses.asdict(this_run)]
    state.folder.write("cost-runs.json", runs)
    total_wall = sum(float(r["wall_s"]) for r in runs)
    return SearchCost(
        wall_s=round(total_wall, 1),
        cpu_hours=round(total_wall * (os.cpu_count() or 1) / 3600, 3),
        measured=sum(int(r["measured"]) for r in runs),
        trained=sum(int(r["trained"]) for r in runs),
        trials=trials,
        runs=len(runs),
        this_run_wall_s=round(wall, 1),
    )
