"""What one optimize run measures with, and how it measures: the setup, the rows, the pairs.

:class:`RunSetup` is fixed once the data is loaded; :class:`Rows` stores each measured row (and
keeps it in a fallback file once the database stops taking rows); :class:`Reference` is the
FP32 baseline every candidate is compared with, measured once at the start.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hwfit._version import __version__
from hwfit.bench import pair_rows, run_row, sweep_rows
from hwfit.errors import HwfitError
from hwfit.models.detection import class_axis
from hwfit.records import BenchResult, Candidate, ModelInfo, Outcome, PairedRatio, RunConfig

if TYPE_CHECKING:
    from hwfit.accuracy import Dataset, Preprocess
    from hwfit.accuracy.evaluators import Metric
    from hwfit.accuracy.guard import AccuracyBudget
    from hwfit.bench.jobs import SweepFigure
    from hwfit.db import ResultStore
    from hwfit.db.fallback import FallbackFile
    from hwfit.hardware import HardwareProfile
    from hwfit.models.artifact import ModelArtifact
    from hwfit.models.detection import DetectionDecoder

__all__ = [
    "THROUGHPUT_OPTIONS",
    "Reference",
    "Rows",
    "RunSetup",
    "Side",
    "measure_row",
    "pair",
    "sweep",
]

#: A model and the configuration it runs: one side of a paired measurement.
Side = tuple[ModelInfo, RunConfig]

#: Runtime settings of the throughput objective, per runtime (the others have none).
THROUGHPUT_OPTIONS: dict[str, tuple[tuple[str, str], ...]] = {
    "openvino": (("PERFORMANCE_HINT", "THROUGHPUT"),),
}


@dataclasses.dataclass(frozen=True)
class RunSetup:
    """Everything an optimize run measures with, fixed once the data is loaded.

    Attributes:
        work: Scratch folder (validation inputs, logits, quantization data); removed at the end.
        budget_text: The accuracy budget as the user gave it (``--max-accuracy-drop``).
        metric: The metric the budget guards (``--metric``; ``map`` for a detector); None:
            top-1 with labels, else agreement with the FP32 reference.
        decoder: A detector's post-processing (raw outputs to boxes), None for other models.
    """

    artifact: ModelArtifact
    hardware: HardwareProfile
    out_dir: Path
    work: Path
    calib: Dataset
    val: Dataset
    budget: AccuracyBudget
    budget_text: str
    objective: str
    preprocess: Preprocess
    duration_s: float
    min_time_s: float
    timeout_s: float
    metric: Metric | None = None
    decoder: DetectionDecoder | None = None

    @property
    def class_axis(self) -> int | None:
        """The axis of the class scores in the first output (an SSD's: the last).

        None: the first output holds no class scores (a YOLO's, an in-graph detector's).
        """
        return class_axis(self.decoder)

    @property
    def val_path(self) -> Path:
        """The validation inputs, as the bench worker reads them."""
        return self.work / "validation.npz"

    def config(self, candidate: Candidate) -> RunConfig:
        """The bench configuration that measures ``candidate``.

        For the throughput objective OpenVINO compiles with its THROUGHPUT hint (several
        streams; the artifact records the hint and ``hwfit.load`` applies it).
        """
        throughput = self.objective == "throughput"
        options = THROUGHPUT_OPTIONS.get(candidate.runtime, ()) if throughput else ()
        return RunConfig(
            runtime=candidate.runtime,
            batch=candidate.batch,
            threads=candidate.threads,
            precision=candidate.precision,
            duration_s=self.duration_s,
            min_time_s=self.min_time_s,
            async_throughput=throughput,
            options=options,
        )

    def timeout(self, remaining_s: float | None) -> float:
        """Seconds one worker may take, within what is left of the time budget (30 s at least)."""
        if remaining_s is None:
            return self.timeout_s
        return max(30.0, min(self.timeout_s, remaining_s))


@dataclasses.dataclass(frozen=True)
class Reference:
    """The FP32 reference: its latency is the baseline, its outputs the yardstick.

    Attributes:
        outcome: The baseline as the run reports it.
        row: Its bench row (the A side of every paired measurement).
        logits: Its (first) output on the validation inputs.
        accuracy: Its accuracy; ``metric`` is the key the budget applies to.
        allowed: The largest drop on ``metric`` the budget allows, in the metric's units
            (points for the built-in metrics, which are percentages).
        higher_is_better: The direction of ``metric``: False for an error or a loss, whose
            rise is the drop.
        outputs: Every output on the validation inputs (``logits`` first), for the label-free
            guard of models with several outputs.
    """

    outcome: Outcome
    row: BenchResult
    logits: np.ndarray
    accuracy: dict[str, float]
    metric: str
    allowed: float
    higher_is_better: bool = True
    outputs: tuple[np.ndarray, ...] = ()

    def drop(self, accuracy: dict[str, float]) -> float:
        """How much worse ``accuracy`` is than the reference's on ``metric`` (negative: better)."""
        delta = self.accuracy[self.metric] - accuracy[self.metric]
        return delta if self.higher_is_better else -delta

    @property
    def side(self) -> Side:
        """The baseline as one side of a paired measurement."""
        return self.row.model, self.row.config


class Rows:
    """Stores each measured row; once the database fails, keeps the rows in a fallback file.

    Args:
        store: The open results database, or None (``save=False``).
        db: The database as the user gave it (the fallback file's import command names it).
        hardware: The machine the rows were measured on.
        notes: The run's notes; a database error is added to them.
    """

    def __init__(
        self,
        store: ResultStore | None,
        db: str | None,
        hardware: HardwareProfile,
        notes: list[str],
    ) -> None:
        self._store = store
        self._db = db
        self._profile = hardware.to_dict()
        self._notes = notes
        self.fallback: FallbackFile | None = None

    def save(self, result: BenchResult) -> None:
        """Store ``result``; a database error is noted and the rows go to the fallback file."""
        if self._store is not None:
            try:
                self._store.save(result, self._profile)
            except HwfitError as exc:  # measuring goes on; the rows go to a file import reads
                from hwfit.db.fallback import FallbackFile  # sqlalchemy: only when needed

                self._notes.append(f"Database write failed: {exc.message}")
                self.fallback = FallbackFile.for_store(self._store, self._db)
                self._store = None
        if self.fallback is not None:
            self.fallback.add(result, self._profile)


def measure_row(
    setup: RunSetup, rows: Rows, info: ModelInfo, candidate: Candidate, remaining_s: float | None
) -> tuple[BenchResult, tuple[np.ndarray, ...] | None]:
    """Measure ``candidate`` in a worker and evaluate it on the validation inputs.

    Returns:
        The stored row, and the model's outputs on the validation inputs, every output in the
        model's order (None when it failed).
    """
    from hwfit.bench.worker import read_outputs

    logits_path = setup.work / "logits.npz"
    logits_path.unlink(missing_ok=True)
    result = run_row(
        info,
        setup.config(candidate),
        timeout_s=setup.timeout(remaining_s),
        evaluate=(setup.val_path, logits_path),
        trust_model=setup.artifact.trust_model,
    )
    result = dataclasses.replace(
        result,
        fingerprint=setup.hardware.fingerprint,
        hwfit_version=__version__,
        created_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    )
    rows.save(result)
    outputs = read_outputs(logits_path) if logits_path.exists() else None
    return result, outputs


def _paired(setup: RunSetup) -> dict[str, Any]:
    """How every paired measurement of the run is timed, and what it may load."""
    return {
        "min_time_s": min(setup.min_time_s, setup.duration_s),
        "max_time_s": max(setup.min_time_s, setup.duration_s),
        "trust_model": setup.artifact.trust_model,
        "per_sample": setup.objective == "throughput",
    }


def pair(setup: RunSetup, a: Side, b: Side) -> PairedRatio | str:
    """B's speed-up over A, measured paired (both in one worker); str: why there is none.

    For the throughput objective the figure is per sample, each side run its runtime's
    throughput way at its own batch size.
    """
    return pair_rows(a, b, timeout_s=setup.timeout_s, **_paired(setup))


def sweep(
    setup: RunSetup, a: Side, variants: Sequence[Side], timeout_s: float
) -> tuple[SweepFigure, ...] | str:
    """Each variant's speed-up over A, measured paired as :func:`pair` does, in one worker."""
    return sweep_rows(a, variants, timeout_s=timeout_s, **_paired(setup))
