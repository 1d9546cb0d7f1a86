"""The run of one search: the phases in order over one state, then the result's files."""

from __future__ import annotations

from hwfit.nas.latency.measure import LatencyMeasurer, Reference
from hwfit.nas.search._accuracy import accuracy_phase
from hwfit.nas.search._explore import explore_phase
from hwfit.nas.search._latency import latency_budget, latency_phase
from hwfit.nas.search._ship import ship_phase
from hwfit.nas.search._verify import verify_phase
from hwfit.nas.search.plan import SearchSetup
from hwfit.nas.search.state import Folder, SearchState, calibration_inputs
from hwfit.records.progress import Progress
from hwfit.records.search import SearchResult
from hwfit.report.search_page import write_search_report

__all__ = ["run"]


def run(
    setup: SearchSetup, progress: Progress | None, *, started: float, cpu_started: float
) -> SearchResult:
    """Run (or resume) every phase of ``setup`` and write ``search.json`` and ``search.html``.

    Args:
        setup: The checked search.
        progress: Receives the search's progress events.
        started: ``time.monotonic()`` when the search was called (its cost counts from there).
        cpu_started: ``time.process_time()`` then.
    """
    folder = Folder(setup.out)
    folder.write("search-config.json", setup.config())
    space, base = setup.space, setup.space.baseline()
    shape = space.input_shape(base, setup.target.batch)
    # Every measurement is paired with the baseline.
    reference = Reference(space.build(base), shape, base.key, calibration_inputs(setup, shape))
    with LatencyMeasurer(
        setup.target,
        setup.out,
        db=setup.db,
        duration_s=setup.plan.duration_s,
        reference=reference,
    ) as measurer:
        state = SearchState(
            setup, folder, measurer, progress, started=started, cpu_started=cpu_started
        )
        predictor, quality = latency_phase(state)
        state.budget_ms = latency_budget(state)
        estimator, calibration = accuracy_phase(state)
        study = explore_phase(state, predictor, estimator)
        verified = verify_phase(state, study)
        result = ship_phase(state, verified, predictor, quality, calibration)
        folder.write("search.json", result.to_dict())
        write_search_report(setup.out / "search.html", result, setup.hardware)
    return result
