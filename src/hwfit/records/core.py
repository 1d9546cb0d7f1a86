"""Frozen result records shared by every command, the database and the JSON output.

Records are plain frozen dataclasses of JSON-friendly values, so that ``to_dict`` /
``from_dict`` round-trip them through JSON files, worker processes and the database.
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from collections.abc import Mapping
from typing import Any, Self, TypeVar

__all__ = [
    "Availability",
    "BenchResult",
    "Executed",
    "InputSpec",
    "LatencyStats",
    "LayerTime",
    "ModelInfo",
    "PairedRatio",
    "Record",
    "RowState",
    "RunConfig",
    "from_dict",
    "to_dict",
]


class RowState(enum.StrEnum):
    """How a benchmark row (or later a candidate) ended."""

    COMPLETE = "complete"
    FAILED = "failed"  # the runtime crashed, hung or raised; `reason` holds the error
    SKIPPED = "skipped"  # the runtime cannot run this here; `reason` says why
    REJECTED = "rejected"  # measured, but broke a budget (accuracy, latency)

    def is_final(self) -> bool:
        """Return True for states that end an attempt (all of them today)."""
        return True

    @property
    def measured(self) -> bool:
        """Return True when the row carries measurements."""
        return self in (RowState.COMPLETE, RowState.REJECTED)


@dataclasses.dataclass(frozen=True)
class InputSpec:
    """The model input a benchmark feeds: name, full shape (batch first) and dtype."""

    name: str
    shape: tuple[int, ...]
    dtype: str = "float32"

    def with_batch(self, batch: int) -> InputSpec:
        """Return the same input with the batch (first) dimension replaced."""
        return dataclasses.replace(self, shape=(batch, *self.shape[1:]))

    @property
    def shape_str(self) -> str:
        """The shape written as ``1x3x224x224``."""
        return "x".join(str(d) for d in self.shape)


@dataclasses.dataclass(frozen=True)
class ModelInfo:
    """What identifies a model: its source, its format, a content hash and its size."""

    source: str
    kind: str  # "torch", "onnx" or "openvino": the format the source is in
    content_hash: str
    input: InputSpec
    params: int | None = None
    macs: int | None = None  # multiply-accumulates of one batch-1 forward pass
    macs_note: str | None = None  # why ``macs`` is unknown, when it is
    weights: str | None = None
    path: str | None = None  # the file, for file sources
    batch_fixed: bool = False  # a file whose batch dimension is static (cannot be changed)


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """One benchmark configuration: which runtime, batch, threads, precision and method."""

    runtime: str
    batch: int = 1
    threads: int | None = None  # None: the runtime's own default (reported as executed)
    precision: str = "fp32"
    end_to_end: bool = False  # include the host -> runtime input copy in the timed region
    duration_s: float = 10.0  # time limit of the timed loop
    min_time_s: float = 2.0  # the timed loop runs at least this long (capped by duration_s)
    min_runs: int = 10
    max_runs: int = 100_000
    target_ci_rel: float = 0.02  # stop once the 95% CI of the median is within +-2%
    warmup_max_s: float | None = None  # default: 30% of duration_s
    async_throughput: bool = True  # also measure multi-stream throughput where supported
    # Runtime settings applied over hwfit's own, as (name, value) pairs: an artifact's recorded
    # OpenVINO INFERENCE_PRECISION_HINT, so it runs as it was measured. A runtime refuses a
    # setting it does not know (UnsupportedModelError); what ran is read back into Executed.
    options: tuple[tuple[str, str], ...] = ()


@dataclasses.dataclass(frozen=True)
class Executed:
    """What actually ran, read back from the runtime (never copied from the request)."""

    precision: str
    threads: int | None
    streams: int | None = None
    device: str = "CPU"
    provider: str | None = None
    details: dict[str, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class LayerTime:
    """Time one kind of layer took in one inference, at the precision it executed in.

    Read from the runtime's own per-layer counters (OpenVINO ``PERF_COUNT``, ONNX Runtime's
    profiler), never estimated.

    Attributes:
        kind: The runtime's layer type ("Convolution", "GroupConvolution", "Reorder", ...).
        precision: The precision its kernels ran in ("int8", "bf16", "f32", ...; "-": not said).
        layers: How many layers of that kind and precision ran.
        us: Their time per inference, microseconds (each layer's median over the runs, summed).
    """

    kind: str
    precision: str
    layers: int
    us: float


@dataclasses.dataclass(frozen=True)
class LatencyStats:
    """Latency of one inference call over the timed runs, in milliseconds."""

    n: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    std_ms: float
    min_ms: float
    max_ms: float
    ci_low_ms: float  # 95% confidence interval of the median
    ci_high_ms: float
    ci_rel: float  # half-width of that interval relative to the median
    warmup_runs: int
    timed_s: float
    noise: tuple[str, ...] = ()  # why this measurement should not be trusted blindly

    @property
    def noisy(self) -> bool:
        """Return True when any noise flag was raised."""
        return bool(self.noise)


@dataclasses.dataclass(frozen=True)
class PairedRatio:
    """A speed-up measured paired: B against its reference A, in alternating windows.

    Both models run in one process; windows of ``A, B, A, B, ..., A`` alternate in time, and
    each B window's median is compared with the mean of the A windows just before and after
    it. A machine that slows down or speeds up during the loop moves both, so the ratio holds
    where two separately measured medians do not.

    Attributes:
        speedup: Median over the window pairs of A's latency / B's latency (> 1: B is faster).
        ci_low: Lower end of the 95% CI of that median (distribution-free, over the pairs).
        ci_high: Upper end of it.
        pairs: Window pairs the median is taken over.
        a_ms: A's median window latency in the loop (context, not the ratio's source).
        b_ms: B's median window latency in the loop.
        contention: Share of the CPU others took during the loop kept (None: unknown).
        attempts: Loops run: a contended or noisy loop is retried, and the best one kept.
        noise: Why the figure should not be read as a confident number (empty: trusted).
        priority: The CPU priority the loop ran at (:func:`hwfit.bench.priority.ahead_of_others`):
            ``real-time`` (ahead of other work) or ``normal`` with the reason.
    """

    speedup: float
    ci_low: float
    ci_high: float
    pairs: int
    a_ms: float
    b_ms: float
    contention: float | None = None
    attempts: int = 1
    noise: tuple[str, ...] = ()
    priority: str = "normal"

    @property
    def noisy(self) -> bool:
        """Return True when the figure carries a noise reason."""
        return bool(self.noise)

    @property
    def ci_rel(self) -> float:
        """Half-width of the CI relative to the speed-up (the larger side)."""
        return max(self.speedup - self.ci_low, self.ci_high - self.speedup) / self.speedup

    def text(self) -> str:
        """The figure as printed: ``1.55x`` with its interval, ``~`` when noisy.

        Example:
            >>> PairedRatio(1.553, 1.52, 1.58, 40, 25.0, 16.1).text()
            '1.55x [1.52-1.58]'
            >>> PairedRatio(1.5, 1.1, 2.0, 8, 25.0, 16.7, noise=("contended",)).text()
            '~1.50x [1.10-2.00]'
        """
        mark = "~" if self.noisy else ""
        return f"{mark}{self.speedup:.2f}x [{self.ci_low:.2f}-{self.ci_high:.2f}]"


@dataclasses.dataclass(frozen=True)
class Availability:
    """Whether a runtime can run on this machine, its version and devices, or why not."""

    name: str
    ok: bool
    version: str | None = None
    devices: tuple[str, ...] = ()
    reason: str | None = None


@dataclasses.dataclass(frozen=True)
class BenchResult:
    """One benchmark row: a model under one runtime configuration, and how it ended."""

    model: ModelInfo
    config: RunConfig
    state: RowState
    reason: str | None = None
    runtime_version: str | None = None
    executed: Executed | None = None
    latency: LatencyStats | None = None
    throughput: float | None = None  # samples/s of back-to-back synchronous calls (batch / p50)
    async_throughput: float | None = None  # samples/s with the runtime's async multi-stream API
    convert_s: float | None = None  # export/conversion to the runtime's format (0 when cached)
    compile_s: float | None = None
    first_run_ms: float | None = None
    peak_rss_mb: float | None = None  # peak resident memory of the worker process
    rss_model_mb: float | None = None  # peak minus the process's memory before loading
    artifact_size_bytes: int | None = None  # the file (or weights) the runtime ran
    fingerprint: str | None = None
    hwfit_version: str | None = None
    created_at: str | None = None  # ISO 8601, UTC
    contention: float | None = None  # share of the CPU others took during the timed loop
    attempts: int = 1  # timed loops run: a contended one is retried and the quietest kept
    speedup: PairedRatio | None = None  # vs PyTorch eager FP32 (same batch, threads), paired
    speedup_reason: str | None = None  # why there is no paired speed-up, when there is none
    priority: str | None = None  # the timed loops' CPU priority (hwfit.bench.priority)

    @property
    def p50_ms(self) -> float | None:
        """Median latency, or None for rows without measurements."""
        return self.latency.p50_ms if self.latency else None


R = TypeVar("R")


def to_dict(record: object) -> dict[str, Any]:
    """Return a JSON-ready dict of a record (tuples become lists, enums their values)."""
    if not dataclasses.is_dataclass(record) or isinstance(record, type):
        raise TypeError(f"to_dict takes a record instance, got {type(record).__name__}.")
    out = _jsonable(dataclasses.asdict(record))
    return out if isinstance(out, dict) else {}


def _jsonable(value: object) -> object:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, enum.Enum):
        return value.value
    return value


def from_dict(cls: type[R], data: Mapping[str, object]) -> R:
    """Rebuild a record of type ``cls`` from :func:`to_dict` output.

    Example:
        >>> spec = InputSpec("x", (1, 3, 8, 8))
        >>> from_dict(InputSpec, to_dict(spec)) == spec
        True
    """
    hints = _type_hints(cls)
    kwargs: dict[str, object] = {}
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]
        if field.name not in data:
            continue
        kwargs[field.name] = _convert(hints[field.name], data[field.name])
    return cls(**kwargs)


class Record:
    """Mixin of a frozen record: :meth:`to_dict` / :meth:`from_dict` over its dataclass fields.

    One implementation (:func:`to_dict`, :func:`from_dict`) instead of a copy per class.
    """

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (tuples become lists, enums their values)."""
        return to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Self:
        """Rebuild from :meth:`to_dict` output, possibly after a JSON round trip."""
        return from_dict(cls, data)


_HINTS: dict[type, dict[str, object]] = {}


def _type_hints(cls: type) -> dict[str, object]:
    # Resolving the string annotations is most of from_dict's time; the classes never change.
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def _convert(hint: object, value: object) -> object:
    if value is None:
        return None
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(hint) if a is not type(None)]
        return _convert(inner[0], value) if len(inner) == 1 else value
    if origin is tuple and isinstance(value, list | tuple):
        args = typing.get_args(hint)
        return tuple(_convert(args[0], v) for v in value) if args else tuple(value)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint) and isinstance(value, dict):
        return from_dict(hint, value)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return hint(value)
    return value
