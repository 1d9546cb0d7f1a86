"""``hwfit.bench``: measure a model across runtimes, batches and thread counts.

Each (runtime, batch, threads) row runs in its own worker process (see
:mod:`hwfit.bench.worker`) and is written to the results database as soon as it ends, so an
interrupted run keeps every finished row.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from hwfit._version import __version__
from hwfit.bench.jobs import (
    EvalPaths,
    PairJob,
    PairJobResult,
    PairSide,
    ProfileJob,
    ProfileJobResult,
    RowJob,
    SweepFigure,
    SweepJob,
    SweepJobResult,
)
from hwfit.bench.spawn import spawn_worker
from hwfit.errors import DatabaseError, HwfitError, UserError
from hwfit.hardware import probe
from hwfit.models import load_model
from hwfit.models.sources import model_format
from hwfit.precisions import Precision
from hwfit.records import (
    Availability,
    BenchResult,
    LayerTime,
    ModelInfo,
    PairedRatio,
    Progress,
    ProgressEvent,
    RowState,
    RunConfig,
    from_dict,
)
from hwfit.runtimes import DEFAULT_RUNTIMES, RUNTIMES

if TYPE_CHECKING:
    from hwfit.db import ResultStore
    from hwfit.runtimes.base import Runtime

__all__ = [
    "BenchReport",
    "Progress",
    "bench",
    "is_baseline",
    "layer_profile",
    "pair_rows",
    "probe_runtime",
    "run_row",
    "spawn_worker",
    "sweep_rows",
]

#: What a runtime can be asked for directly (the other INT8 variants are recipes ``optimize``
#: applies to a model first).
BENCH_PRECISIONS: tuple[Precision, ...] = (
    Precision.FP32,
    Precision.BF16,
    Precision.FP16,
    Precision.INT8,
)

DEFAULT_TIMEOUT_S = 900.0


@dataclasses.dataclass(frozen=True)
class BenchReport:
    """Everything one ``bench`` call measured, and where it was stored."""

    model: ModelInfo
    results: tuple[BenchResult, ...]
    hardware: dict[str, object]
    fingerprint: str
    db_url: str | None = None
    saved: int = 0
    db_error: str | None = None
    # When the database failed mid-run: the rows it did not take, in an `hwfit import` file.
    fallback_path: str | None = None
    fallback_rows: int = 0
    fallback_command: str | None = None  # `hwfit import <file> [--db URL]`
    fallback_error: str | None = None  # why the file could not be written, when it could not
    interrupted: bool = False

    def baseline(self, result: BenchResult) -> BenchResult | None:
        """The PyTorch eager FP32 row with the same batch and threads request, if measured."""
        for row in self.results:
            cfg = row.config
            if (
                cfg.runtime == "torch"
                and cfg.precision == "fp32"
                and cfg.batch == result.config.batch
                and cfg.threads == result.config.threads
                and row.state is RowState.COMPLETE
            ):
                return row
        return None

    def speedup(self, result: BenchResult) -> PairedRatio | None:
        """Speed-up of ``result`` over PyTorch eager FP32 (same batch, threads), measured paired.

        None for the baseline itself and for rows without a paired figure
        (``result.speedup_reason`` says why).
        """
        return result.speedup

    @property
    def busiest(self) -> float | None:
        """The highest share of the CPU others took during any measured row (None: unknown)."""
        shares = [r.contention for r in self.results if r.contention is not None]
        return max(shares) if shares else None

    @property
    def all_failed(self) -> bool:
        """Return True when rows were attempted and every one of them FAILED."""
        return bool(self.results) and all(r.state is RowState.FAILED for r in self.results)

    def sorted_results(self) -> list[BenchResult]:
        """Measured rows by batch, then median latency; then skipped and failed rows."""
        measured = [r for r in self.results if r.latency is not None]
        other = [r for r in self.results if r.latency is None]
        return sorted(measured, key=lambda r: (r.config.batch, r.p50_ms or 0.0)) + other


def bench(
    model: str,
    *,
    runtimes: Sequence[str] | None = None,
    batches: Sequence[int] = (1,),
    threads: Sequence[int | None] = (None,),
    precision: str | Sequence[str] = "fp32",
    duration_s: float = 10.0,
    min_time_s: float = 2.0,
    min_runs: int = 10,
    end_to_end: bool = False,
    async_throughput: bool = True,
    input_shape: str | Sequence[int] | None = None,
    weights: str | None = None,
    trust_model: bool = False,
    db: str | None = None,
    save: bool = True,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    progress: Progress | None = None,
) -> BenchReport:
    """Benchmark ``model`` on every runtime x batch x threads combination.

    Args:
        model: A model spec (see :func:`hwfit.models.load_model`).
        runtimes: Runtime names (default: torch, onnxruntime, openvino).
        batches: Batch sizes.
        threads: Thread counts; None is the runtime's default (the executed count is reported).
        precision: Requested precision, or several (every row is measured at each).
        duration_s: Time limit of each row's timed loop.
        min_time_s: Each row's timed loop runs at least this long (capped by ``duration_s``).
        min_runs: Timed runs each row makes at least.
        end_to_end: Include the host -> runtime input copy in the timed region.
        async_throughput: Also measure multi-stream throughput where the runtime offers it.
        input_shape: Full input shape (``1x3x224x224``); the batch is replaced by ``batches``.
        weights: State-dict file for PyTorch sources.
        trust_model: Load a model file that runs code when loaded (TorchScript, pickles); see
            :func:`hwfit.models.load_model`. Only for files you trust.
        db: Results database URL or SQLite path (default: the user's data folder).
        save: Store results in the database.
        timeout_s: Seconds each worker may take before it is killed and its row failed.
        progress: Called with a ``bench``/``measure`` event before each row (``result`` None)
            and after it (``result`` the row); ``label`` names the configuration.

    Returns:
        The report: one :class:`BenchResult` per row, COMPLETE, FAILED or SKIPPED.

    Raises:
        UserError: Bad model, shape, runtime name, option, or an unreachable database; raised
            before anything is measured.

    Example:
        >>> report = bench("timm:test_resnet", runtimes=["onnxruntime"], duration_s=0.5,
        ...                save=False)  # doctest: +SKIP
        >>> report.results[0].latency.p50_ms  # doctest: +SKIP
        1.9
    """
    from hwfit.db.fallback import FallbackFile  # sqlalchemy

    names = list(runtimes or DEFAULT_RUNTIMES)
    for name in names:
        RUNTIMES.path(name)  # unknown names fail now, with suggestions
    precisions = [precision] if isinstance(precision, str) else list(precision)
    _check_options(batches, threads, duration_s, min_runs, precisions)
    store = _open_store(db) if save else None

    profile = probe(include_runtimes=False)
    artifact = load_model(model, input_shape=input_shape, weights=weights, trust_model=trust_model)
    info = artifact.info
    configs = [
        RunConfig(
            runtime=name,
            batch=batch,
            threads=n_threads,
            precision=prec,
            end_to_end=end_to_end,
            duration_s=duration_s,
            min_time_s=min_time_s,
            min_runs=min_runs,
            async_throughput=async_throughput,
        )
        for name in names
        for batch in batches
        for n_threads in threads
        for prec in precisions
    ]
    # Every runtime is imported and probed before measuring starts: importing a framework
    # half-way through a run is where a Ctrl-C could land inside its native initialisation.
    probed = {name: probe_runtime(name) for name in names}
    # Baselines first: each other row's speed-up is measured paired against its baseline
    # right after the row itself, so it is stored with the row.
    configs.sort(key=lambda c: not is_baseline(c))
    results: list[BenchResult] = []
    saved, db_error, interrupted = 0, None, False
    fallback = FallbackFile.for_store(store, db)
    try:
        for i, config in enumerate(configs):
            label = (
                f"{config.runtime} {config.precision} batch {config.batch} "
                f"threads {config.threads or 'default'}"
            )
            if progress:
                progress(ProgressEvent("bench", "measure", i, len(configs), label))
            result = run_row(
                info,
                config,
                timeout_s=timeout_s,
                probed=probed[config.runtime],
                trust_model=trust_model,
            )
            result = _with_speedup(
                info, result, results, timeout_s, min_time_s, duration_s, trust_model
            )
            result = dataclasses.replace(
                result,
                fingerprint=profile.fingerprint,
                hwfit_version=__version__,
                created_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            )
            results.append(result)
            if store is not None and db_error is None:
                try:
                    store.save(result, profile.to_dict())
                    saved += 1
                except DatabaseError as exc:  # keep measuring; the rows go to a file
                    db_error = exc.message
            if store is not None and db_error is not None:
                fallback.add(result, profile.to_dict())
            if progress:
                progress(
                    ProgressEvent("bench", "measure", i + 1, len(configs), label, result=result)
                )
    except KeyboardInterrupt:
        interrupted = True
    return BenchReport(
        model=info,
        results=tuple(results),
        hardware=profile.to_dict(),
        fingerprint=profile.fingerprint,
        db_url=store.display_url if store is not None else None,
        saved=saved,
        db_error=db_error,
        fallback_path=str(fallback.path) if fallback.path is not None else None,
        fallback_rows=fallback.rows,
        fallback_command=fallback.command,
        fallback_error=fallback.error,
        interrupted=interrupted,
    )


def _check_options(
    batches: Sequence[int],
    threads: Sequence[int | None],
    duration_s: float,
    min_runs: int,
    precisions: Sequence[str],
) -> None:
    if not batches or any(b < 1 for b in batches):
        raise UserError(
            f"Batch sizes must be >= 1, got {list(batches)}.", hint="E.g. --batch 1,8,32"
        )
    if any(t is not None and t < 1 for t in threads):
        raise UserError(
            f"Thread counts must be >= 1, got {list(threads)}.", hint="E.g. --threads 1,2"
        )
    if duration_s <= 0 or min_runs < 1:
        raise UserError("--duration must be > 0 and --min-runs >= 1.")
    known = tuple(p.value for p in BENCH_PRECISIONS)
    for precision in precisions or [""]:
        if precision not in known:
            raise UserError(
                f"Unknown precision {precision!r}.", hint=f"Use one of: {', '.join(known)}."
            )


def _open_store(db: str | None) -> ResultStore:
    from hwfit.db import ResultStore  # sqlalchemy

    return ResultStore(db, writable=True)  # a read-only database fails before measuring


def probe_runtime(name: str) -> tuple[type[Runtime] | None, Availability]:
    """Load and probe one runtime; a missing or broken package gives ``ok=False``, not an error."""
    try:
        runtime_cls = RUNTIMES.load(name)
        return runtime_cls, runtime_cls.probe()
    except HwfitError as exc:
        return None, Availability(name=name, ok=False, reason=exc.message)


def run_row(
    info: ModelInfo,
    config: RunConfig,
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    probed: tuple[type[Runtime] | None, Availability] | None = None,
    evaluate: tuple[Path, Path] | None = None,
    trust_model: bool = False,
) -> BenchResult:
    """Measure one configuration in a fresh worker process, or say why it was skipped.

    A worker that crashes, hangs past ``timeout_s`` or exits without a result gives a FAILED
    row whose reason names the signal, the timeout or the last line it printed.

    Args:
        info: The model.
        config: The configuration.
        timeout_s: Seconds the worker may take.
        probed: The result of :func:`probe_runtime` for ``config.runtime``, when already known.
        evaluate: ``(inputs.npz, logits.npz)``: after measuring, the worker runs the model over
            the ``x`` of the first file and saves the outputs as ``logits`` in the second.
        trust_model: The worker may load a model file that runs code when loaded (the user
            trusted it: :func:`hwfit.models.load_model`).
    """
    runtime_cls, availability = probed or probe_runtime(config.runtime)
    reason = None
    if runtime_cls is None or not availability.ok:
        reason = f"{config.runtime} is not available here: {availability.reason}"
    elif why := runtime_cls.skip_reason(model_format(info), config.precision):
        reason = why
    elif info.batch_fixed and config.batch != info.input.shape[0]:
        fixed = info.input.shape[0]
        reason = f"the model file has a fixed batch of {fixed}; export it with a dynamic batch"
    if reason:
        return BenchResult(
            model=info,
            config=config,
            state=RowState.SKIPPED,
            reason=reason,
            runtime_version=availability.version,
        )
    job = RowJob(
        model=info,
        config=config,
        runtime_path=RUNTIMES.path(config.runtime),
        eval=EvalPaths(str(evaluate[0]), str(evaluate[1])) if evaluate is not None else None,
        trust_model=trust_model,
    )
    result, why = spawn_worker(job.to_dict(), timeout_s)
    return job.failed(why) if result is None else from_dict(BenchResult, result)


def is_baseline(config: RunConfig) -> bool:
    """Return True for the configuration speed-ups are measured against: PyTorch eager FP32."""
    return config.runtime == "torch" and config.precision == "fp32"


def _with_speedup(
    info: ModelInfo,
    result: BenchResult,
    done: Sequence[BenchResult],
    timeout_s: float,
    min_time_s: float,
    duration_s: float,
    trust_model: bool = False,
) -> BenchResult:
    """``result`` with its paired speed-up over the baseline row of the same batch and threads."""
    if result.state is not RowState.COMPLETE or is_baseline(result.config):
        return result
    base = next(
        (
            r
            for r in done
            if is_baseline(r.config)
            and r.config.batch == result.config.batch
            and r.config.threads == result.config.threads
        ),
        None,
    )
    if base is None:
        return result
    if base.state is not RowState.COMPLETE:
        return dataclasses.replace(result, speedup_reason="the PyTorch baseline was not measured")
    figure = pair_rows(
        (base.model, base.config),
        (info, result.config),
        timeout_s=timeout_s,
        min_time_s=min(min_time_s, duration_s),
        max_time_s=max(min_time_s, duration_s),
        trust_model=trust_model,
    )
    if isinstance(figure, str):
        return dataclasses.replace(result, speedup_reason=figure)
    return dataclasses.replace(result, speedup=figure)


def _pair_side(side: tuple[ModelInfo, RunConfig], trust_model: bool) -> PairSide:
    model, config = side
    return PairSide(model, config, RUNTIMES.path(config.runtime), trust_model=trust_model)


def pair_rows(
    a: tuple[ModelInfo, RunConfig],
    b: tuple[ModelInfo, RunConfig],
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    min_time_s: float = 2.0,
    max_time_s: float = 5.0,
    attempts: int = 3,
    trust_model: bool = False,
    per_sample: bool = False,
) -> PairedRatio | str:
    """Measure B's speed-up over A paired (both in one worker process, alternating windows).

    See :mod:`hwfit.bench.paired` for the method. A crash or hang of either runtime ends
    the worker only.

    Args:
        a: The reference: model and run configuration.
        b: The candidate.
        timeout_s: Seconds the worker may take.
        min_time_s: Least time of one paired loop.
        max_time_s: Time after which a loop stops once it has enough window pairs.
        attempts: Loops at most (a contended or noisy loop is retried).
        trust_model: The worker may load model files that run code when loaded (as in
            :func:`run_row`).
        per_sample: Compare throughput per sample, each side run its runtime's throughput way
            (see :class:`~hwfit.bench.jobs.PairJob`); sides may differ in batch size.

    Returns:
        The figure, or why there is none (one line).
    """
    job = PairJob(
        a=_pair_side(a, trust_model),
        b=_pair_side(b, trust_model),
        min_time_s=min_time_s,
        max_time_s=max_time_s,
        attempts=attempts,
        per_sample=per_sample,
    )
    raw, why = spawn_worker(job.to_dict(), timeout_s)
    result = job.failed(why) if raw is None else PairJobResult.from_dict(raw)
    if not result.ok or result.ratio is None:
        return f"paired measurement failed: {result.error}"
    return result.ratio


def sweep_rows(
    a: tuple[ModelInfo, RunConfig],
    variants: Sequence[tuple[ModelInfo, RunConfig]],
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    min_time_s: float = 2.0,
    max_time_s: float = 5.0,
    attempts: int = 3,
    trust_model: bool = False,
    per_sample: bool = False,
) -> tuple[SweepFigure, ...] | str:
    """Measure each variant's speed-up over A paired, all in one worker process.

    Arguments are as in :func:`pair_rows`; ``timeout_s`` is for the whole sweep.

    Returns:
        A figure per variant, in order (a variant that failed has its ``error``), or why the
        sweep could not run at all (one line).
    """
    job = SweepJob(
        a=_pair_side(a, trust_model),
        variants=tuple(_pair_side(v, trust_model) for v in variants),
        min_time_s=min_time_s,
        max_time_s=max_time_s,
        attempts=attempts,
        per_sample=per_sample,
    )
    raw, why = spawn_worker(job.to_dict(), timeout_s)
    result = job.failed(why) if raw is None else SweepJobResult.from_dict(raw)
    if not result.ok:
        return f"sweep failed: {result.error}"
    return result.figures


def layer_profile(
    side: tuple[ModelInfo, RunConfig],
    *,
    runs: int = 30,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    trust_model: bool = False,
) -> tuple[tuple[LayerTime, ...], str] | str:
    """Where one configuration's inference time goes, per layer type, from its runtime's counters.

    Runs in a worker process (a crash or hang there ends the worker only), never inside a timed
    loop: per-layer counters slow inference down.

    Args:
        side: The model and its run configuration.
        runs: Inferences the counters are read over (each layer's median is kept).
        timeout_s: Seconds the worker may take.
        trust_model: As in :func:`run_row`.

    Returns:
        (the layer times, the executed precision), or why there are none (one line).
    """
    job = ProfileJob(
        side=PairSide(side[0], side[1], RUNTIMES.path(side[1].runtime), trust_model=trust_model),
        runs=runs,
    )
    raw, why = spawn_worker(job.to_dict(), timeout_s)
    result = job.failed(why) if raw is None else ProfileJobResult.from_dict(raw)
    if not result.ok:
        return f"per-layer profile failed: {result.error}"
    return result.layers, result.executed
