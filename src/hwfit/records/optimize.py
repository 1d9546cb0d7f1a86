"""The records of ``optimize``: a candidate, how it ended, and the result of a whole run."""

from __future__ import annotations

import dataclasses
import enum
from pathlib import Path
from typing import Protocol

from hwfit.records.core import BenchResult, LayerTime, ModelInfo, PairedRatio, RowState

__all__ = [
    "PERCENT_METRICS",
    "Candidate",
    "Explanation",
    "KnobTrial",
    "KnobTuning",
    "LayerProfile",
    "OptimizeResult",
    "Outcome",
    "Payoff",
    "PreprocessRecord",
]


@dataclasses.dataclass(frozen=True)
class Candidate:
    """One configuration ``optimize`` may choose: runtime x precision x threads x batch x model.

    ``source`` is the model it runs: "" for the user's, ``pruned-25`` for it with a quarter of
    its channels pruned and fine-tuned (:mod:`hwfit.tune.prune`).
    """

    runtime: str
    precision: str
    threads: int | None = None
    batch: int = 1
    source: str = ""

    @property
    def label(self) -> str:
        """Short name for tables and plots: ``openvino int8 t2 b1`` (``... pruned-25``)."""
        threads = f"t{self.threads}" if self.threads else "t-default"
        label = f"{self.runtime} {self.precision} {threads} b{self.batch}"
        return f"{label} {self.source}" if self.source else label


@dataclasses.dataclass(frozen=True)
class Outcome:
    """How one candidate ended: measured, accuracy-checked, and chosen or not (and why).

    Attributes:
        accuracy: Top-1/top-5 (percent) with labels; without labels the fidelity to the FP32
            reference: ``agreement`` (top-1 agreement, percent), ``cosine``, ``max_abs_error``.
        metric: The key of ``accuracy`` the budget applies to ("top1", "agreement", or the
            name of a number a user's evaluator returned).
        drop: How much worse than the FP32 reference on ``metric``, in its units (points for
            the built-in metrics); negative: better. For a lower-is-better metric, its rise.
        explanation: Why the precision did or did not pay off on this hardware and model.
    """

    candidate: Candidate
    state: RowState
    reason: str | None = None
    bench: BenchResult | None = None
    accuracy: dict[str, float] | None = None
    metric: str | None = None
    drop: float | None = None
    prepare_s: float | None = None
    prepare_details: dict[str, str] = dataclasses.field(default_factory=dict)
    artifact_path: str | None = None
    artifact_size_bytes: int | None = None
    forced: bool = False  # measured although the capability verdict said it would not pay off
    explanation: str | None = None

    @property
    def p50_ms(self) -> float | None:
        """Median latency at the candidate's batch, when measured."""
        return self.bench.p50_ms if self.bench else None


class Payoff(enum.StrEnum):
    """Whether a lower precision was worth it against FP32 on the same runtime."""

    PAYS_OFF = "pays off"
    DOES_NOT_PAY_OFF = "does not pay off"


@dataclasses.dataclass(frozen=True)
class Explanation:
    """Why one candidate's precision did or did not pay off (``hwfit.tune.explain``).

    Attributes:
        payoff: The verdict; the run's notes list every ``DOES_NOT_PAY_OFF``.
        text: The sentence shown in the table and the report (``Outcome.explanation``).
    """

    payoff: Payoff
    text: str


Settings = tuple[tuple[str, str], ...]


@dataclasses.dataclass(frozen=True)
class KnobTrial:
    """One setting of the winner's runtime knobs, measured paired against the runtime's defaults.

    Attributes:
        settings: (name, value) pairs, as ``RunConfig.options`` takes them.
        ratio: Its speed-up over the same model with the runtime's defaults (> 1: faster);
            None when it failed.
        verdict: What came of it, in words ("kept", "no faster than the defaults", the error).
    """

    settings: Settings
    ratio: PairedRatio | None
    verdict: str

    @property
    def label(self) -> str:
        """``NAME=value`` pairs, comma-separated."""
        return ", ".join(f"{k}={v}" for k, v in self.settings)


@dataclasses.dataclass(frozen=True)
class KnobTuning:
    """The knob tuner's work on the winner: the space, every trial, and what was kept.

    Attributes:
        runtime: The winner's runtime, whose settings were tuned.
        space: Each setting tried, with its values.
        sampler: How trials were chosen: ``grid`` (every setting) or ``tpe`` (Optuna's TPE).
        trials: Every trial, in the order measured.
        chosen: The settings shipped (empty: the runtime's defaults kept).
        confirmed: The chosen settings measured again, paired against the defaults (the
            figure that decided; None when nothing beat the defaults).
        note: Why nothing was kept, or why tuning stopped early.
    """

    runtime: str
    space: tuple[tuple[str, tuple[str, ...]], ...]
    sampler: str
    trials: tuple[KnobTrial, ...]
    chosen: Settings = ()
    confirmed: PairedRatio | None = None
    note: str | None = None


@dataclasses.dataclass(frozen=True)
class LayerProfile:
    """Where one candidate's inference time goes, per kind of layer, as the runtime counted it.

    Attributes:
        label: The candidate (:attr:`Candidate.label`).
        executed: The precision the candidate reported it ran (``Executed.precision``).
        runs: Inferences the counters were read over.
        layers: Per kind and precision, slowest first.
        source: Where the timings come from ("OpenVINO PERF_COUNT", "ONNX Runtime profiler").
    """

    label: str
    executed: str
    runs: int
    layers: tuple[LayerTime, ...]
    source: str

    @property
    def total_us(self) -> float:
        """The layers' time per inference, microseconds."""
        return sum(layer.us for layer in self.layers)

    def by_kind(self) -> dict[str, float]:
        """Microseconds per layer kind, whatever the precision."""
        out: dict[str, float] = {}
        for layer in self.layers:
            out[layer.kind] = out.get(layer.kind, 0.0) + layer.us
        return out


class PreprocessRecord(Protocol):
    """What a result says about how images became inputs (``hwfit.accuracy.Preprocess``).

    Records sit below ``hwfit.accuracy``, so the result names the preprocessing by what it
    offers rather than by its class.
    """

    @property
    def source(self) -> str:
        """Where the settings came from."""

    def describe(self) -> str:
        """One line: what the preprocessing does and where it came from."""

    def to_dict(self) -> dict[str, object]:
        """The settings as JSON-friendly values (the manifest records them)."""


#: The built-in accuracy keys, all percentages: their drops are "points".
PERCENT_METRICS = frozenset({"agreement", "map", "map50", "miou", "top1", "top5"})


@dataclasses.dataclass(frozen=True)
class OptimizeResult:
    """What ``optimize`` measured and chose, and where it wrote the artifact."""

    out_dir: Path
    model: ModelInfo
    baseline: Outcome
    outcomes: tuple[Outcome, ...]
    winner: Outcome | None
    metric: str  # the accuracy key the budget applies to: "top1", "agreement", a user's name
    budget_text: str
    allowed_drop: float
    labelled: bool
    manifest_path: Path | None
    report_path: Path | None
    notes: tuple[str, ...] = ()
    interrupted: bool = False
    time_budget_hit: bool = False
    claim: PairedRatio | None = None  # winner vs baseline, re-measured paired at the end
    runner_up: Outcome | None = None
    vs_runner_up: PairedRatio | None = None  # winner vs runner-up, measured paired
    preprocess: PreprocessRecord | None = None  # how images became inputs, and its origin
    skipped_images: tuple[str, ...] = ()  # data files that could not be decoded, left out
    calibration_samples: int = 0
    validation_samples: int = 0  # accuracy is over these samples
    profiles: tuple[LayerProfile, ...] = ()  # per-layer-type times, the winner's first
    # "latency" (speed-ups per call at one batch) or "throughput" (per sample, batches differ)
    objective: str = "latency"
    knobs: KnobTuning | None = None  # the winner's runtime settings, tuned (None: not tuned)
    higher_is_better: bool = True  # the direction of ``metric`` (False: an error, a loss)
    # The metric that guarded: --metric's, or map for a detector; None: top-1 or agreement
    evaluator: str | None = None

    @property
    def percent_metric(self) -> bool:
        """``metric`` is a percentage (a built-in), so drops are in points."""
        return self.metric in PERCENT_METRICS

    @property
    def speedup(self) -> PairedRatio | None:
        """The winner's speed-up over the FP32 baseline, measured paired at the end.

        Latency: per call at the same batch; throughput: per sample (see ``objective``).

        None when there is no winner or the final paired measurement failed (a note says why).
        """
        return self.claim
