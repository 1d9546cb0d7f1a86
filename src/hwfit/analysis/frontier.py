"""``frontier()``: zoo models measured on this machine, and their accuracy-vs-latency front.

Accuracy is the zoo's *published* ImageNet-1k top-1 of the FP32 weights (timm's results
tables); hwfit cannot download those weights, so it measures latency on the same architecture
with seeded random weights (latency does not depend on the weight values) and pairs the two.
That pairing holds for float precisions. INT8 changes the accuracy, and nothing here measures
by how much: INT8 points are only produced when asked for and are flagged as unverified.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hwfit.analysis._measure import DEFAULT_MAX_AGE_DAYS, Measurer
from hwfit.analysis.pareto import pareto_front
from hwfit.errors import HwfitError, UserError, first_line
from hwfit.records import BenchResult, RowState, RunConfig

if TYPE_CHECKING:
    from hwfit.zoo import ZooEntry

__all__ = [
    "DEFAULT_BATCH",
    "DEFAULT_PRECISION",
    "DEFAULT_RUNTIME",
    "FLOAT_PRECISIONS",
    "FrontierMiss",
    "FrontierPoint",
    "FrontierProgress",
    "FrontierReport",
    "frontier",
    "frontier_of",
]

#: Default runtime: OpenVINO is the CPU runtime built for these convolutional families and runs
#: the FP32 graph without a PyTorch dispatcher in the loop, so its latency is what a deployment
#: would see; ``--runtime`` picks another.
DEFAULT_RUNTIME = "openvino"
#: FP32: the precision the published accuracy was measured in.
DEFAULT_PRECISION = "fp32"
#: Batch 1: the latency of one request, the question "which model should I deploy?" asks.
DEFAULT_BATCH = 1
#: Precisions whose accuracy is that of the FP32 weights (within a tenth of a point).
FLOAT_PRECISIONS: tuple[str, ...] = ("fp32", "bf16", "fp16")
#: Runtimes ``optimized=True`` searches over (those optimize can ship).
OPTIMIZED_RUNTIMES: tuple[str, ...] = ("onnxruntime", "openvino")

#: ``progress(done, total, label, result)``: before each model (result None) and after it.
FrontierProgress = Callable[[int, int, str, BenchResult | None], None]


@dataclasses.dataclass(frozen=True)
class FrontierPoint:
    """One zoo model measured here: its published accuracy and its measured latency.

    Attributes:
        entry: The zoo row (name, family, published top-1, params, GMACs).
        result: The benchmark row of the configuration plotted (the fastest when optimized).
        reused: The row came from the database, not from this run.
        tried: Configurations measured or reused for this model (1 unless optimized).
        accuracy_verified: False when the point runs at a precision (INT8) whose accuracy
            differs from the published FP32 accuracy by an amount nobody measured.
    """

    entry: ZooEntry
    result: BenchResult
    reused: bool = False
    tried: int = 1
    accuracy_verified: bool = True

    @property
    def latency_ms(self) -> float:
        """Median latency per call at the configured batch."""
        if self.result.latency is None:  # pragma: no cover - points are measured rows
            raise ValueError(f"{self.entry.name} has no latency.")
        return self.result.latency.p50_ms

    @property
    def config_label(self) -> str:
        """``openvino fp32 b1``, with the executed precision and threads."""
        cfg, ex = self.result.config, self.result.executed
        threads = f" t{ex.threads}" if ex and ex.threads else ""
        return f"{cfg.runtime} {cfg.precision}{threads} b{cfg.batch}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (the full row is under ``result``)."""
        from hwfit.records import to_dict

        return {
            "name": self.entry.name,
            "arch": self.entry.arch,
            "family": self.entry.family,
            "top1": self.entry.top1,
            "top5": self.entry.top5,
            "input_size": self.entry.input_size,
            "params_m": self.entry.params_m,
            "gmacs": self.entry.gmacs,
            "accuracy_source": self.entry.source,
            "accuracy_verified": self.accuracy_verified,
            "p50_ms": self.latency_ms,
            "config": self.config_label,
            "reused": self.reused,
            "tried": self.tried,
            "result": to_dict(self.result),
        }


@dataclasses.dataclass(frozen=True)
class FrontierMiss:
    """A zoo model without a point: failed (crash, timeout, load error) or skipped."""

    entry: ZooEntry
    state: RowState
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        return {
            "name": self.entry.name,
            "arch": self.entry.arch,
            "family": self.entry.family,
            "state": self.state.value,
            "reason": self.reason,
        }


@dataclasses.dataclass(frozen=True)
class FrontierReport:
    """What :func:`frontier` measured and which models are on the front.

    Attributes:
        points: Every measured model.
        frontier: Indices into ``points`` of the accuracy-vs-latency Pareto front, fastest
            first (no other model is both faster and more accurate).
        gmacs_frontier: The same front against GMACs (points without GMACs left out).
        missing: Models that failed or were skipped, with the reason.
        settings: The configuration asked for (runtime, precision, batch, threads, optimized).
        hardware: This machine's profile (``HardwareProfile.to_dict``).
        fingerprint: This machine's fingerprint.
        db_url: Where rows were read and stored (password masked), or None.
        db_error: Why storing stopped, when it did.
        html_path: The written ``frontier.html``, when ``out`` was given.
        interrupted: Ctrl-C ended the run; the finished models are kept.
        notes: Caveats for the reader (unverified INT8 accuracy, reused rows).
    """

    points: tuple[FrontierPoint, ...]
    frontier: tuple[int, ...]
    gmacs_frontier: tuple[int, ...]
    missing: tuple[FrontierMiss, ...]
    settings: dict[str, Any]
    hardware: dict[str, Any]
    fingerprint: str
    db_url: str | None = None
    db_error: str | None = None
    html_path: Path | None = None
    interrupted: bool = False
    notes: tuple[str, ...] = ()

    @property
    def frontier_points(self) -> list[FrontierPoint]:
        """The points on the front, fastest first."""
        return [self.points[i] for i in self.frontier]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready report."""
        return {
            "settings": self.settings,
            "fingerprint": self.fingerprint,
            "points": [p.to_dict() for p in self.points],
            "frontier": [self.points[i].entry.name for i in self.frontier],
            "gmacs_frontier": [self.points[i].entry.name for i in self.gmacs_frontier],
            "missing": [m.to_dict() for m in self.missing],
            "notes": list(self.notes),
            "html": str(self.html_path) if self.html_path else None,
            "interrupted": self.interrupted,
        }


def frontier_of(points: Sequence[FrontierPoint]) -> tuple[list[int], list[int]]:
    """The accuracy-vs-latency and accuracy-vs-GMACs fronts of ``points`` (indices).

    Example:
        >>> frontier_of([])
        ([], [])
    """
    latency = pareto_front([(p.latency_ms, p.entry.top1) for p in points], ("min", "max"))
    with_gmacs = [i for i, p in enumerate(points) if p.entry.gmacs is not None]
    gmacs = pareto_front(
        [(points[i].entry.gmacs or 0.0, points[i].entry.top1) for i in with_gmacs],
        ("min", "max"),
    )
    return latency, [with_gmacs[i] for i in gmacs]


def frontier(
    models: Sequence[str] | None = None,
    families: Sequence[str] | None = None,
    *,
    entries: Sequence[ZooEntry] | None = None,
    runtime: str = DEFAULT_RUNTIME,
    precision: str = DEFAULT_PRECISION,
    batch: int = DEFAULT_BATCH,
    threads: int | None = None,
    optimized: bool = False,
    int8: bool = False,
    fresh: bool = False,
    max_age_days: float = DEFAULT_MAX_AGE_DAYS,
    duration_s: float = 3.0,
    min_time_s: float = 1.0,
    zoo: str | Path | None = None,
    accuracy_file: str | Path | None = None,
    db: str | None = None,
    save: bool = True,
    out: str | Path | None = None,
    timeout_s: float = 600.0,
    progress: FrontierProgress | None = None,
) -> FrontierReport:
    """Benchmark zoo models on this machine and compute the accuracy-vs-latency front.

    Each distinct (architecture, input size) is measured once, in a worker process, at the
    zoo entry's input size; zoo rows sharing an architecture (two weights of ResNet-50) share
    that measurement. A model that fails to load or run becomes a FAILED entry of
    ``missing``; the run goes on. Stored rows of this machine are reused when fresh (same
    hwfit and runtime version, same configuration, younger than ``max_age_days``) unless
    ``fresh`` is set.

    Args:
        models: Zoo names or architectures to measure (default: all, or ``families``).
        families: Zoo families to measure (``mobilenet``, ``efficientnet``...).
        entries: Zoo rows to use instead of the shipped zoo (e.g. hand-made for tests).
        runtime: Runtime of every point (ignored when ``optimized``).
        precision: Precision of every point (ignored when ``optimized``); an INT8 precision
            needs a pre-quantized model and is refused here.
        batch: Batch size; latency is per call at this batch.
        threads: Thread count (None: the runtime's default).
        optimized: Measure each model at every float runtime x precision that can pay off on
            this CPU (ONNX Runtime, OpenVINO; FP32, BF16, FP16) and plot its fastest.
        int8: With ``optimized``, also consider INT8; refused for now (the zoo's accuracy is
            FP32 accuracy, and INT8 needs calibration data and an accuracy check: use
            ``hwfit optimize`` on the models of the front).
        fresh: Measure everything again, even where the database has fresh rows.
        max_age_days: Stored rows older than this are measured again.
        duration_s: Time limit of each row's timed loop.
        min_time_s: Each row's timed loop runs at least this long.
        zoo: A zoo CSV to use instead of the shipped one.
        accuracy_file: A CSV of your own accuracies (same columns) merged over the zoo.
        db: Results database URL or SQLite file (default: the user's data folder).
        save: Read and store rows in the database.
        out: Folder for ``frontier.html``; None writes no page.
        timeout_s: Seconds one worker may take.
        progress: Called before and after each model.

    Returns:
        The report: points, the front, and the models that failed.

    Raises:
        UserError: An unknown model or family, a bad option, or an unreachable database
            (before anything is measured).
    """
    from hwfit.hardware import probe
    from hwfit.runtimes import RUNTIMES
    from hwfit.zoo import load_zoo, select

    if batch < 1:
        raise UserError(f"The batch must be >= 1, got {batch}.", hint="E.g. --batch 1")
    if threads is not None and threads < 1:
        raise UserError(f"Threads must be >= 1, got {threads}.", hint="E.g. --threads 4")
    if duration_s <= 0 or max_age_days < 0:
        raise UserError("The duration must be > 0 and the maximum age >= 0.")
    if int8:
        raise UserError(
            "INT8 points are not offered by frontier: the zoo's accuracy is that of the FP32 "
            "weights, and INT8 accuracy can only be measured on data.",
            hint="Run the frontier in float, then `hwfit optimize MODEL --data ...` on the "
            "models of the front to get guarded INT8.",
        )
    if not optimized:
        RUNTIMES.path(runtime)  # unknown names fail now, with suggestions
        if precision not in FLOAT_PRECISIONS:
            raise UserError(
                f"frontier plots published FP32 accuracy; precision {precision!r} changes it.",
                hint=f"Use one of: {', '.join(FLOAT_PRECISIONS)}.",
            )
    table = list(entries) if entries is not None else load_zoo(zoo, accuracy_file=accuracy_file)
    chosen = select(table, models=models, families=families)
    if not chosen:
        raise UserError("No zoo model matches the selection.", hint="See `hwfit frontier --help`.")
    store = _open_store(db) if save else None
    hardware = probe(include_runtimes=False)
    measurer = Measurer(
        hardware, store, fresh=fresh, max_age_days=max_age_days, timeout_s=timeout_s
    )
    configs = _configs(
        optimized, runtime, precision, batch, threads, duration_s, min_time_s, hardware
    )
    groups: dict[tuple[str, int], list[ZooEntry]] = {}
    for entry in chosen:
        groups.setdefault((entry.spec, entry.input_size), []).append(entry)

    points: list[FrontierPoint] = []
    missing: list[FrontierMiss] = []
    interrupted = False
    reused_count = 0
    try:
        for i, ((spec, size), group) in enumerate(groups.items()):
            label = spec.removeprefix("timm:") + f" @{size}"
            if progress:
                progress(i, len(groups), label, None)
            best, reused, tried, why = _measure_model(spec, size, batch, configs, measurer)
            reused_count += int(reused)
            for entry in group:
                if best is not None:
                    points.append(FrontierPoint(entry, best, reused, tried))
                else:
                    state = RowState.SKIPPED if why.startswith("skipped") else RowState.FAILED
                    missing.append(FrontierMiss(entry, state, why.removeprefix("skipped: ")))
            if progress:
                progress(i + 1, len(groups), label, best)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        if store is not None:
            store.close()
    front, gmacs_front = frontier_of(points)
    candidates = [f"{c.runtime} {c.precision}" for c in configs]
    settings: dict[str, Any] = {
        "runtime": None if optimized else runtime,
        "precision": None if optimized else precision,
        "batch": batch,
        "threads": threads,
        "optimized": optimized,
        "candidates": candidates,
        "fresh": fresh,
        "max_age_days": max_age_days,
    }
    notes = [
        "Top-1 is the published ImageNet-1k accuracy of the FP32 weights (timm's results "
        "tables); latency is measured here on the same architecture with random weights."
    ]
    if reused_count:
        notes.append(
            f"{reused_count} model(s) reused fresh database rows (same hwfit and runtime "
            f"version, younger than {max_age_days:g} days); --fresh measures them again."
        )
    if optimized:
        notes.append(
            "Optimized: each model at its fastest float configuration "
            f"({', '.join(candidates) or 'none applicable'}); INT8 is left out "
            "because its accuracy is not the published one."
        )
    report = FrontierReport(
        points=tuple(points),
        frontier=tuple(front),
        gmacs_frontier=tuple(gmacs_front),
        missing=tuple(missing),
        settings=settings,
        hardware=hardware.to_dict(),
        fingerprint=hardware.fingerprint,
        db_url=store.display_url if store is not None else None,
        db_error=measurer.storage_note(),
        interrupted=interrupted,
        notes=tuple(notes),
    )
    if out is not None:
        from hwfit.report.analysis_pages import render_frontier_page
        from hwfit.report.html import write_report

        path = write_report(Path(out) / "frontier.html", render_frontier_page(report))
        report = dataclasses.replace(report, html_path=path)
    return report


def _open_store(db: str | None) -> Any:
    from hwfit.db import ResultStore

    return ResultStore(db, writable=True)  # a read-only database fails before measuring


def _configs(
    optimized: bool,
    runtime: str,
    precision: str,
    batch: int,
    threads: int | None,
    duration_s: float,
    min_time_s: float,
    hardware: Any,
) -> list[RunConfig]:
    def config(rt: str, prec: str) -> RunConfig:
        return RunConfig(
            runtime=rt,
            batch=batch,
            threads=threads,
            precision=prec,
            duration_s=duration_s,
            min_time_s=min(min_time_s, duration_s),
            async_throughput=False,
        )

    if not optimized:
        return [config(runtime, precision)]
    from hwfit.precisions import Precision
    from hwfit.precisions.capability import verdict
    from hwfit.tune.space import candidate_space

    candidates = candidate_space(OPTIMIZED_RUNTIMES, FLOAT_PRECISIONS, (threads,), (batch,))
    return [
        config(c.runtime, c.precision)
        for c in candidates
        if verdict(c.runtime, Precision(c.precision), hardware).ok
    ]


def _measure_model(
    spec: str, size: int, batch: int, configs: list[RunConfig], measurer: Measurer
) -> tuple[BenchResult | None, bool, int, str]:
    """Measure (or reuse) every config of one model; return (fastest, reused, tried, why)."""
    from hwfit.models import load_model

    shape = (batch, 3, size, size)
    found: list[tuple[BenchResult, bool]] = []
    reasons: list[str] = []
    states: set[RowState] = set()
    info = None
    for config in configs:
        stored = measurer.reusable(spec, shape, config)
        if stored is not None:
            found.append((stored, True))
            continue
        if info is None:
            try:
                info = load_model(spec, input_shape=shape).info
            except HwfitError as exc:
                return None, False, 0, f"cannot load {spec}: {exc.message}"
            except Exception as exc:  # a model that does not build fails this model only
                return None, False, 0, f"cannot load {spec}: {first_line(exc)}"
        result = measurer.measure(info, config)
        if result.state is RowState.COMPLETE and result.latency is not None:
            found.append((result, False))
        else:
            states.add(result.state)
            reasons.append(f"{config.runtime} {config.precision}: {result.reason}")
    if not found:
        if not configs:
            return None, False, 0, "skipped: no configuration can run here"
        text = "; ".join(reasons) or "no result"
        prefix = "skipped: " if states == {RowState.SKIPPED} else ""
        return None, False, len(configs), prefix + text
    best, reused = min(found, key=lambda f: f[0].latency.p50_ms if f[0].latency else 0.0)
    return best, reused, len(found), ""
