"""``hwfit.bench``: measure a model across runtimes, batches and thread counts.

Each (runtime, batch, threads) row runs in its own worker process (see
:mod:`hwfit.bench.worker`) and is written to the results database as soon as it ends, so an
interrupted run keeps every finished row.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hwfit._version import __version__
from hwfit.errors import DatabaseError, HwfitError, UserError
from hwfit.records import (
    Availability,
    BenchResult,
    ModelInfo,
    RowState,
    RunConfig,
    from_dict,
    to_dict,
)

if TYPE_CHECKING:
    from hwfit.runtimes.base import Runtime

__all__ = ["BenchReport", "Progress", "bench", "probe_runtime", "run_row", "spawn_worker"]

#: Called before each row (result None) and after it (the result).
Progress = Callable[[int, int, RunConfig, BenchResult | None], None]

DEFAULT_TIMEOUT_S = 900.0


@dataclasses.dataclass(frozen=True)
class BenchReport:
    """Everything one ``bench`` call measured, and where it was stored."""

    model: ModelInfo
    results: tuple[BenchResult, ...]
    hardware: dict[str, Any]
    fingerprint: str
    db_url: str | None = None
    saved: int = 0
    db_error: str | None = None
    fallback_path: str | None = None  # results written here when the database failed mid-run
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

    def speedup(self, result: BenchResult) -> float | None:
        """Median-latency speed-up of ``result`` over PyTorch eager FP32 (same batch, threads)."""
        base = self.baseline(result)
        if base is None or base.p50_ms is None or result.p50_ms is None:
            return None
        return base.p50_ms / result.p50_ms

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
    precision: str = "fp32",
    duration_s: float = 10.0,
    min_time_s: float = 2.0,
    min_runs: int = 10,
    end_to_end: bool = False,
    async_throughput: bool = True,
    input_shape: str | Sequence[int] | None = None,
    weights: str | None = None,
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
        precision: Requested precision (``fp32`` for now).
        duration_s: Time limit of each row's timed loop.
        min_time_s: Each row's timed loop runs at least this long (capped by ``duration_s``).
        min_runs: Timed runs each row makes at least.
        end_to_end: Include the host -> runtime input copy in the timed region.
        async_throughput: Also measure multi-stream throughput where the runtime offers it.
        input_shape: Full input shape (``1x3x224x224``); the batch is replaced by ``batches``.
        weights: State-dict file for PyTorch sources.
        db: Results database URL or SQLite path (default: the user's data folder).
        save: Store results in the database.
        timeout_s: Seconds each worker may take before it is killed and its row failed.
        progress: Callback for progress display.

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
    from hwfit.hardware import probe
    from hwfit.models import load_model
    from hwfit.runtimes import DEFAULT_RUNTIMES, RUNTIMES

    names = list(runtimes or DEFAULT_RUNTIMES)
    for name in names:
        RUNTIMES.path(name)  # unknown names fail now, with suggestions
    _check_options(batches, threads, duration_s, min_runs, precision)
    store = _open_store(db) if save else None

    profile = probe(include_runtimes=False)
    artifact = load_model(model, input_shape=input_shape, weights=weights)
    info = artifact.info
    configs = [
        RunConfig(
            runtime=name,
            batch=batch,
            threads=n_threads,
            precision=precision,
            end_to_end=end_to_end,
            duration_s=duration_s,
            min_time_s=min_time_s,
            min_runs=min_runs,
            async_throughput=async_throughput,
        )
        for name in names
        for batch in batches
        for n_threads in threads
    ]
    # Every runtime is imported and probed before measuring starts: importing a framework
    # half-way through a run is where a Ctrl-C could land inside its native initialisation.
    probed = {name: probe_runtime(name) for name in names}
    results: list[BenchResult] = []
    saved, db_error, interrupted = 0, None, False
    try:
        for i, config in enumerate(configs):
            if progress:
                progress(i, len(configs), config, None)
            result = run_row(info, config, timeout_s=timeout_s, probed=probed[config.runtime])
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
                except DatabaseError as exc:  # keep measuring; results go to a file at the end
                    db_error = exc.message
            if progress:
                progress(i + 1, len(configs), config, result)
    except KeyboardInterrupt:
        interrupted = True
    fallback = _write_fallback(results) if db_error and results else None
    return BenchReport(
        model=info,
        results=tuple(results),
        hardware=profile.to_dict(),
        fingerprint=profile.fingerprint,
        db_url=store.display_url if store is not None else None,
        saved=saved,
        db_error=db_error,
        fallback_path=fallback,
        interrupted=interrupted,
    )


def _check_options(
    batches: Sequence[int],
    threads: Sequence[int | None],
    duration_s: float,
    min_runs: int,
    precision: str,
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
    known = ("fp32", "bf16", "fp16", "int8")
    if precision not in known:
        raise UserError(
            f"Unknown precision {precision!r}.", hint=f"Use one of: {', '.join(known)}."
        )


def _open_store(db: str | None) -> Any:
    from hwfit.db import ResultStore

    return ResultStore(db)


def _write_fallback(results: list[BenchResult]) -> str:
    path = Path.cwd() / f"hwfit-results-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}.json"
    path.write_text(json.dumps([to_dict(r) for r in results], indent=1))
    return str(path)


def probe_runtime(name: str) -> tuple[type[Runtime] | None, Availability]:
    """Load and probe one runtime; a missing or broken package gives ``ok=False``, not an error."""
    from hwfit.runtimes import RUNTIMES

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
    """
    from hwfit.runtimes import RUNTIMES

    runtime_cls, availability = probed or probe_runtime(config.runtime)
    reason = None
    if runtime_cls is None or not availability.ok:
        reason = f"{config.runtime} is not available here: {availability.reason}"
    elif why := runtime_cls.skip_reason(info.kind, config.precision):
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
    job: dict[str, Any] = {
        "model": to_dict(info),
        "config": to_dict(config),
        "runtime_path": RUNTIMES.path(config.runtime),
    }
    if evaluate is not None:
        job["eval"] = {"data": str(evaluate[0]), "out": str(evaluate[1])}
    return _spawn(job, info, config, timeout_s)


def spawn_worker(job: dict[str, Any], timeout_s: float) -> tuple[dict[str, Any] | None, str]:
    """Run one worker job in a fresh process; return ``(result, "")`` or ``(None, why)``.

    ``why`` names the timeout, the signal of a crash, or the exit code and the last line the
    worker printed. Ctrl-C in the parent ends the worker and is raised again.
    """
    with tempfile.TemporaryDirectory(prefix="hwfit-worker-") as tmp:
        job_path, result_path, log_path = (
            Path(tmp) / n for n in ("job.json", "result.json", "log.txt")
        )
        job_path.write_text(json.dumps(job))
        env = dict(os.environ)
        # The worker must import what the parent can (plug-ins registered from user modules).
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p and Path(p).exists())
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "hwfit.bench.worker", str(job_path), str(result_path)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,  # Ctrl-C reaches the parent only; we end the worker
            )
            try:
                code = proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                _kill(proc)
                return None, f"timed out after {timeout_s:.0f} s (worker killed)"
            except BaseException:
                _kill(proc)
                raise
        if result_path.exists():
            return json.loads(result_path.read_text()), ""
        tail = _last_line(log_path)
        if code < 0:
            why = f"worker crashed with {signal.Signals(-code).name}"
        else:
            why = f"worker exited with code {code} and no result"
        return None, why + (f": {tail}" if tail else "")


def _spawn(
    job: dict[str, Any], info: ModelInfo, config: RunConfig, timeout_s: float
) -> BenchResult:
    result, why = spawn_worker(job, timeout_s)
    if result is None:
        return BenchResult(model=info, config=config, state=RowState.FAILED, reason=why)
    return from_dict(BenchResult, result)


def _kill(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _last_line(path: Path) -> str:
    lines = [ln.strip() for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    return lines[-1][:300] if lines else ""
