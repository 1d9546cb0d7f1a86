"""The state of one search run: the resumable folder and what the phases share.

:class:`Folder` is the output folder; each phase writes its results there as JSON, atomically,
as it goes, so an interrupted search resumes where it stopped. The files (their names and
keys are what older runs wrote, so a folder of an earlier version still resumes):

* ``search-config.json``: the setup (:meth:`SearchSetup.config`).
* ``proxy-scores.json``: arch key -> proxy name -> score.
* ``short-train.json``: ``{"rungs": [...]}``, the successive-halving rungs.
* ``predictor-quality.json``, ``calibration.json``: the records of the same names.
* ``screen.json``, ``full-train.json``: arch key -> training result (full: with ``weights``).
* ``final-latency.json``: arch key -> the final re-measurements (ms).
* ``cost-runs.json``: one entry per run (:mod:`hwfit.nas.search.cost`).
* ``search.json``, ``search.html``: the result.

:class:`SearchState` is what the phases (functions over it) read and add to while running.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from torch import Tensor, nn

from hwfit.nas.latency.features import layer_features
from hwfit.nas.latency.measure import LatencyMeasurer
from hwfit.nas.search.plan import SearchSetup
from hwfit.nas.space import Arch, SearchSpace
from hwfit.records.progress import Progress, ProgressEvent

__all__ = ["Counts", "Folder", "SearchState", "builder", "calibration_inputs", "finite", "forward"]


class Folder:
    """The output folder: each phase's results as JSON files written atomically."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def read(self, name: str) -> Any:  # JSON: what the phase wrote, or None
        """Return the JSON in ``name``, or None when it is missing or unreadable."""
        path = self.root / name
        if not path.exists():
            return None
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            return None

    def write(self, name: str, data: object) -> None:
        """Write ``data`` (JSON, records allowed) to ``name``, replacing it atomically."""
        path = self.root / name
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(data, indent=1, default=_json_default))
        tmp.replace(path)


def _json_default(value: object) -> object:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


@dataclasses.dataclass
class Counts:
    """Work done in this run: latency measurements, trainings, NSGA-II trials."""

    measured: int = 0
    trained: int = 0
    trials: int = 0


@dataclasses.dataclass
class SearchState:
    """What the phases of one run share; each phase is a function over it.

    Attributes:
        setup: The checked setup.
        folder: The resumable output folder.
        measurer: Measures architectures on the target, paired with the baseline.
        progress: Receives the run's progress events.
        started: ``time.monotonic()`` when the run started.
        cpu_started: ``time.process_time()`` then.
        notes: Lines for the result's notes, in order.
        counts: Work done in this run.
        latency: Arch key -> measured latency (ms) of the latency and verify phases.
        remeasured: Arch key -> the final re-measurements (ms).
        remeasured_ci: Arch key -> their paired 95% intervals (ms).
        contended: Keys measured while other processes used the CPU.
        archs: Every architecture seen, by key.
        budget_ms: The latency constraint of the search (set after the latency phase).
        weights: Arch key -> the fully trained weights' file.
    """

    setup: SearchSetup
    folder: Folder
    measurer: LatencyMeasurer
    progress: Progress | None = None
    started: float = dataclasses.field(default_factory=time.monotonic)
    cpu_started: float = dataclasses.field(default_factory=time.process_time)
    notes: list[str] = dataclasses.field(default_factory=list)
    counts: Counts = dataclasses.field(default_factory=Counts)
    latency: dict[str, float] = dataclasses.field(default_factory=dict)
    remeasured: dict[str, list[float]] = dataclasses.field(default_factory=dict)
    remeasured_ci: dict[str, list[tuple[float, float]]] = dataclasses.field(default_factory=dict)
    contended: set[str] = dataclasses.field(default_factory=set)
    archs: dict[str, Arch] = dataclasses.field(default_factory=dict)
    budget_ms: float | None = None
    weights: dict[str, str] = dataclasses.field(default_factory=dict)
    _features: dict[str, dict[str, float]] = dataclasses.field(default_factory=dict)

    def tick(self, phase: str, done: int, total: int, note: str = "") -> None:
        """Report a step of ``phase`` to the progress callback."""
        if self.progress is not None:
            self.progress(ProgressEvent("search", phase, done, total, note=note))

    def remember(self, arch: Arch) -> Arch:
        """Keep ``arch`` by its key (the result table looks architectures up by key)."""
        self.archs[arch.key] = arch
        return arch

    def features(self, arch: Arch) -> dict[str, float]:
        """Per-layer features of ``arch`` (cached)."""
        if arch.key not in self._features:
            space = self.setup.space
            self._features[arch.key] = layer_features(space.build(arch), space.input_shape(arch))
        return self._features[arch.key]

    def calibration(self, shape: Sequence[int]) -> np.ndarray:
        """INT8 calibration inputs at the shape's resolution (the same samples for all)."""
        return calibration_inputs(self.setup, shape)

    def minibatch(self, arch: Arch) -> tuple[Tensor, Tensor]:
        """The proxies' mini-batch at the architecture's resolution (same samples for all)."""
        data = self.setup.data.at_resolution(self.setup.space.resolution(arch))
        return data.minibatch(32, seed=self.setup.seed)

    def reference_archs(self) -> list[tuple[str, Arch]]:
        """The baseline and its scaled variants, with their roles."""
        space = self.setup.space
        refs = [("baseline", self.remember(space.baseline()))]
        for width, depth in self.setup.plan.scaled:
            arch = self.remember(space.scaled(width, depth))
            if all(arch.key != a.key for _, a in refs):
                refs.append((f"scaled w{width:g} d{depth:g}", arch))
        return refs

    def measure(self, archs: Sequence[Arch], phase: str, *, again: bool = False) -> None:
        """Measure ``archs`` on the target for real (cached by arch key unless ``again``)."""
        space, batch = self.setup.space, self.setup.target.batch
        for i, arch in enumerate(archs):
            self.remember(arch)
            self.tick(phase, i, len(archs), arch.key)
            if arch.key in self.latency and not again:
                continue
            shape = space.input_shape(arch, batch)
            m = self.measurer.measure(
                space.build(arch),
                shape,
                key=arch.key,
                calibration=self.calibration(shape),
                refresh=again,
            )
            if not m.cached:
                self.counts.measured += 1
            if m.failed:
                self.notes.append(f"latency of {arch.key} not measured: {m.reason}")
                continue
            if m.contended:
                self.contended.add(arch.key)
            if again:
                self.remeasured.setdefault(arch.key, []).append(m.latency_ms)
                # The paired interval of the same measurement, in ms (ratio CI x scale).
                self.remeasured_ci.setdefault(arch.key, []).append(
                    (m.ratio_ci_low * m.reference_ms, m.ratio_ci_high * m.reference_ms)
                )
            else:
                self.latency[arch.key] = m.latency_ms
        self.tick(phase, len(archs), len(archs), "")


def calibration_inputs(setup: SearchSetup, shape: Sequence[int]) -> np.ndarray:
    """INT8 calibration inputs at the shape's resolution (the same samples for all)."""
    return setup.data.at_resolution(shape[-1]).minibatch(8, seed=setup.seed)[0].numpy()


def builder(space: SearchSpace, arch: Arch) -> Callable[[], nn.Module]:
    """A function that builds ``arch`` (successive halving builds each candidate when due)."""
    return lambda: space.build(arch)


def forward(state: SearchState, phase: str) -> Progress:
    """Report a training's progress events as steps of the search's ``phase``."""

    def show(event: ProgressEvent) -> None:
        state.tick(phase, event.done, event.total or 0, event.note)

    return show


def finite(value: object) -> bool:
    """Whether ``value`` is a finite number."""
    return isinstance(value, int | float) and math.isfinite(value)
