"""Typed worker jobs and their results: what a measuring process is asked to do, and answers.

Every job is a frozen record with a ``task`` (the class's discriminator) and a :meth:`failed`
result, so that whoever runs it (the one-shot isolated worker of :mod:`hwfit.bench.spawn`, or the
persistent :class:`~hwfit.bench.pool.WorkerPool`) can answer for a worker that crashed or hung
with the same type the job's handler returns. Jobs are JSON-ready: ``to_dict`` writes the
``task`` next to the fields and :func:`job_from_dict` reads any of them back. Arrays do not go
into a job: the latency job names an ``.npz`` file (in its own folder) with its calibration
inputs, so the same job can be written to a ``job.json`` or sent through a pipe.

=================  ==============================  ==========================================
task               job                             result
=================  ==============================  ==========================================
``row``            :class:`RowJob`                 :class:`~hwfit.records.BenchResult`
``pair``           :class:`PairJob`                :class:`PairJobResult`
``latency``        :class:`LatencyJob`             :class:`LatencyJobResult`
``profile``        :class:`ProfileJob`             :class:`ProfileJobResult`
``sweep``          :class:`SweepJob`               :class:`SweepJobResult`
=================  ==============================  ==========================================
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, ClassVar, Protocol, TypeVar

from hwfit import errors
from hwfit.errors import HwfitError, InternalError
from hwfit.records import (
    BenchResult,
    Executed,
    LayerTime,
    ModelInfo,
    PairedRatio,
    Record,
    RowState,
    RunConfig,
)

__all__ = [
    "JOB_TYPES",
    "EvalPaths",
    "Job",
    "LatencyJob",
    "LatencyJobResult",
    "PairJob",
    "PairJobResult",
    "PairSide",
    "ProfileJob",
    "ProfileJobResult",
    "RowJob",
    "SweepFigure",
    "SweepJob",
    "SweepJobResult",
    "error_from_dict",
    "error_to_dict",
    "job_from_dict",
]

R_co = TypeVar("R_co", covariant=True)


class Job(Protocol[R_co]):
    """What every job record offers: its task name and the result of a failed attempt."""

    task: ClassVar[str]

    def failed(self, reason: str) -> R_co:
        """The result this job gives when it could not run (a crash, a time-out)."""
        ...


class _JobRecord(Record):
    """A job's ``to_dict`` writes its ``task`` next to the fields (:func:`job_from_dict`)."""

    task: ClassVar[str]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, with ``task``."""
        return {"task": self.task, **super().to_dict()}


@dataclasses.dataclass(frozen=True)
class EvalPaths:
    """After timing a row, run the model over ``data``'s ``x``; save ``logits`` to ``out``."""

    data: str
    out: str


@dataclasses.dataclass(frozen=True)
class RowJob(_JobRecord):
    """One benchmark row: compile ``model`` under ``config`` with the runtime at ``runtime_path``.

    Attributes:
        model: The model.
        config: The run configuration.
        runtime_path: ``"module:Class"`` of the runtime plug-in (the worker imports it).
        eval: Also compute the model's outputs over a data file, after timing.
        trust_model: The user allowed the model's file to run code when loaded
            (:func:`hwfit.models.load_model`); the worker rebuilds it with that permission.
    """

    task: ClassVar[str] = "row"

    model: ModelInfo
    config: RunConfig
    runtime_path: str
    eval: EvalPaths | None = None
    trust_model: bool = False

    def failed(self, reason: str) -> BenchResult:
        """A FAILED row with ``reason``."""
        return BenchResult(
            model=self.model, config=self.config, state=RowState.FAILED, reason=reason
        )


@dataclasses.dataclass(frozen=True)
class PairSide:
    """One side of a paired measurement: a model, its configuration and its runtime plug-in.

    ``trust_model`` is as in :class:`RowJob`.
    """

    model: ModelInfo
    config: RunConfig
    runtime_path: str
    trust_model: bool = False


@dataclasses.dataclass(frozen=True)
class PairJobResult(Record):
    """A paired speed-up (``ok``), or why there is none (``error``)."""

    ok: bool
    ratio: PairedRatio | None = None
    error: str | None = None


@dataclasses.dataclass(frozen=True)
class PairJob(_JobRecord):
    """B's speed-up over A, both in one process (:func:`hwfit.bench.paired.measure_paired`).

    Attributes:
        a: The reference.
        b: The candidate.
        min_time_s: Least time of one paired loop.
        max_time_s: Time after which a loop stops once it has enough window pairs.
        attempts: Loops at most (a contended or noisy loop is retried).
        warmup_s: Warm-up of each side before the loop.
        per_sample: Compare throughput, not latency: each side runs the runtime's throughput
            way (:meth:`~hwfit.runtimes.base.CompiledModel.throughput_runner`) and the ratio is
            of the time per sample, so sides at different batch sizes compare.
    """

    task: ClassVar[str] = "pair"

    a: PairSide
    b: PairSide
    min_time_s: float = 2.0
    max_time_s: float = 5.0
    attempts: int = 3
    warmup_s: float = 1.0
    per_sample: bool = False

    def failed(self, reason: str) -> PairJobResult:
        """No figure, with ``reason``."""
        return PairJobResult(ok=False, error=reason)


@dataclasses.dataclass(frozen=True)
class LatencyJobResult(Record):
    """What a latency job measured, or why it could not (``ok`` False, ``error``).

    Attributes:
        ok: True when the model was measured.
        error: Why not.
        p50_ms: Median latency of one call (without a reference: over the timed loop; paired:
            the median of the model's window medians).
        ci_rel: Relative half-width of the 95% CI of that median (paired: of the ratio).
        runs: Timed runs (paired: window pairs).
        quiet_ms: Without a reference, the lowest median of the loop's 50-ms windows
            (:func:`hwfit.bench.stats.quiet_latency`); None when paired.
        contention: Share of the CPU others took during the loop kept (None: unknown).
        attempts: Timed loops run.
        executed_precision: The precision the runtime reports it ran.
        noise: Why the figure should not be trusted blindly.
        paired: With a reference: the reference's latency over this model's, measured paired
            (:class:`~hwfit.records.PairedRatio`; ``speedup`` > 1 when this model is faster).
        priority: The CPU priority the timed loops ran at
            (:func:`hwfit.bench.priority.ahead_of_others`).
    """

    ok: bool
    error: str | None = None
    p50_ms: float | None = None
    ci_rel: float | None = None
    runs: int = 0
    quiet_ms: float | None = None
    contention: float | None = None
    attempts: int = 1
    executed_precision: str = ""
    noise: tuple[str, ...] = ()
    paired: PairedRatio | None = None
    priority: str = "normal"


@dataclasses.dataclass(frozen=True)
class LatencyJob(_JobRecord):
    """Convert, prepare, compile and time one exported model (the architecture search's job).

    Attributes:
        onnx_path: The exported model.
        shape: Its static input shape, batch first.
        runtime: The runtime name of the target (``openvino``, ``onnxruntime``).
        precision: The target's precision.
        recipe_path: ``"module:Class"`` of the precision recipe that prepares the model.
        runtime_path: ``"module:Class"`` of the runtime plug-in.
        threads: Inference threads.
        duration_s: Length of the timed loop.
        out_dir: The job's folder (converted and quantized files go there).
        calibration_path: ``.npz`` with the INT8 calibration inputs as ``x`` (None: none).
        reference: Time the model paired with this one (compiled once per worker process).
    """

    task: ClassVar[str] = "latency"

    onnx_path: str
    shape: tuple[int, ...]
    runtime: str
    precision: str
    recipe_path: str
    runtime_path: str
    threads: int
    duration_s: float
    out_dir: str
    calibration_path: str | None = None
    reference: LatencyJob | None = None

    def failed(self, reason: str) -> LatencyJobResult:
        """Not measured, with ``reason``."""
        return LatencyJobResult(ok=False, error=reason)


@dataclasses.dataclass(frozen=True)
class ProfileJobResult(Record):
    """Per-layer-type times (``ok``), or why there are none (``error``)."""

    ok: bool
    layers: tuple[LayerTime, ...] = ()
    executed: str = ""
    error: str | None = None


@dataclasses.dataclass(frozen=True)
class ProfileJob(_JobRecord):
    """Where one configuration's time goes: its runtime's per-layer counters over ``runs``.

    Attributes:
        side: The model, its configuration and its runtime plug-in.
        runs: Inferences the counters are read over.
    """

    task: ClassVar[str] = "profile"

    side: PairSide
    runs: int = 30

    def failed(self, reason: str) -> ProfileJobResult:
        """No timings, with ``reason``."""
        return ProfileJobResult(ok=False, error=reason)


@dataclasses.dataclass(frozen=True)
class SweepFigure(Record):
    """One variant of a sweep: its paired figure against A and what it ran, or why not.

    Attributes:
        ratio: The variant's speed-up over A (> 1: faster), measured paired.
        error: Why there is no figure (the variant failed to compile or run).
        executed: What the variant ran, read back from its runtime.
    """

    ratio: PairedRatio | None = None
    error: str | None = None
    executed: Executed | None = None


@dataclasses.dataclass(frozen=True)
class SweepJobResult(Record):
    """A figure per variant (``ok``), or why the reference itself could not run (``error``)."""

    ok: bool
    figures: tuple[SweepFigure, ...] = ()
    error: str | None = None


@dataclasses.dataclass(frozen=True)
class SweepJob(_JobRecord):
    """Variants of one configuration, each measured paired against the same reference A.

    The knob tuner's job: one process compiles A once and then each variant in turn, so a
    round of trials costs one worker, not one per trial. A variant that fails to compile or
    run fails alone.

    Attributes:
        a: The reference.
        variants: The configurations to compare with it, in order.
        min_time_s, max_time_s, attempts, warmup_s, per_sample: As in :class:`PairJob`, for
            each variant's loop.
    """

    task: ClassVar[str] = "sweep"

    a: PairSide
    variants: tuple[PairSide, ...]
    min_time_s: float = 2.0
    max_time_s: float = 5.0
    attempts: int = 3
    warmup_s: float = 1.0
    per_sample: bool = False

    def failed(self, reason: str) -> SweepJobResult:
        """No figures, with ``reason``."""
        return SweepJobResult(ok=False, error=reason)


AnyJob = RowJob | PairJob | LatencyJob | ProfileJob | SweepJob

#: Job record by task.
JOB_TYPES: dict[str, type[AnyJob]] = {
    cls.task: cls for cls in (RowJob, PairJob, LatencyJob, ProfileJob, SweepJob)
}


def job_from_dict(data: Mapping[str, object]) -> AnyJob:
    """Rebuild a job from its ``to_dict`` form; a dict without ``task`` is a benchmark row.

    Example:
        >>> from hwfit.records import InputSpec
        >>> info = ModelInfo("m", "onnx", "abc", InputSpec("x", (1, 3, 8, 8)))
        >>> job = RowJob(info, RunConfig("onnxruntime"), "hwfit.runtimes.ort_runtime:OrtRuntime")
        >>> job_from_dict(job.to_dict()) == job
        True

    Raises:
        InternalError: The task is not one of :data:`JOB_TYPES`.
    """
    task = str(data.get("task") or RowJob.task)
    cls = JOB_TYPES.get(task)
    if cls is None:
        known = ", ".join(sorted(JOB_TYPES))
        raise InternalError(f"Unknown worker task {task!r}; known: {known}.")
    return cls.from_dict(data)


def error_to_dict(exc: HwfitError) -> dict[str, str | None]:
    """An hwfit error as a worker writes it into its result file."""
    return {"type": type(exc).__name__, "message": exc.message, "hint": exc.hint}


def error_from_dict(data: dict[str, Any]) -> HwfitError:
    """The hwfit error a worker wrote with :func:`error_to_dict` (a UserError if unknown)."""
    cls = getattr(errors, str(data.get("type")), None)
    if not (isinstance(cls, type) and issubclass(cls, HwfitError)):
        cls = errors.UserError
    return cls(str(data.get("message")), hint=data.get("hint"))
