"""Real latency of a built model on the target: export -> convert -> quantize -> compile -> bench.

Each measurement goes through the same steps a deployment does, with the repository's own
pieces: the model is exported to ONNX here (:func:`hwfit.models.convert.export_module_onnx`,
the fast TorchScript exporter with the dynamo exporter as fallback), then a worker converts,
prepares, compiles and times it (the ``latency`` task, :mod:`hwfit.nas.latency._job`).

Latency does not depend on weight values, so INT8 calibration uses random inputs when no data
is given (a few samples are enough: calibration only sets scales).

Isolation: a native crash or hang inside a converter, quantizer or runtime must fail one
candidate, not the search. :class:`LatencyMeasurer` runs its jobs in one persistent worker
(:class:`hwfit.bench.pool.WorkerPool`), which starts again after a crash or a time-out: a fresh
process per measurement would cost about 3.5 s of imports each time (NNCF imports PyTorch),
more than the measurement of a small model itself.

Measurements are cached in the results database (:class:`LatencyCache` over
:class:`hwfit.db.ResultStore`) by architecture key, target and hardware fingerprint, failures
included, so a search never measures an architecture twice. A ``latency.sqlite`` file that an
older hwfit left in a work folder is not read: it holds figures of the earlier paired method,
which are not mixed with the current ones; its architectures are measured again.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import re
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from torch import nn

from hwfit.bench.jobs import LatencyJob, LatencyJobResult
from hwfit.bench.paired import MAX_CONTENTION
from hwfit.errors import HwfitError, InputShapeError, UnsupportedModelError, UserError
from hwfit.hardware import probe
from hwfit.models.convert import export_module_onnx as export_onnx
from hwfit.nas.latency.cache import LatencyCache, LatencyMeasurement
from hwfit.nas.target import Target

if TYPE_CHECKING:
    from hwfit.bench.pool import WorkerPool
    from hwfit.db import ResultStore

# MAX_CONTENTION and export_onnx are re-exported: hwfit.nas.search imports them from here.

__all__ = [
    "CALIBRATION_SAMPLES",
    "MAX_CONTENTION",
    "LatencyCache",
    "LatencyMeasurement",
    "LatencyMeasurer",
    "Reference",
    "export_onnx",
    "measure",
]

logger = logging.getLogger(__name__)

#: Calibration samples used for INT8 (more are cut; random ones are drawn when none are given).
CALIBRATION_SAMPLES = 8
DEFAULT_TIMEOUT_S = 300.0


def _folder_name(key: str) -> str:
    """A key as a safe folder name."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", key)


@dataclasses.dataclass(frozen=True)
class Reference:
    """The model every measurement is paired with (the search passes its baseline).

    Attributes:
        model: The reference model.
        input_shape: Its input shape, batch first (the batch is the target's).
        key: Its key in the cache (``Arch.key``).
        calibration: INT8 calibration inputs; None draws random ones.
    """

    model: nn.Module
    input_shape: tuple[int, ...]
    key: str
    calibration: np.ndarray | None = None


class LatencyMeasurer:
    """Measures models on one target, with a cache and one reusable worker process.

    Use it as a context manager (or call :meth:`close`), so the worker ends with it.

    Args:
        target: Where to measure.
        workdir: Folder for the temporary model files.
        db: The results database holding the cache: a :class:`~hwfit.db.ResultStore`, a URL
            or file path, or None for :func:`hwfit.db.default_db_url`.
        duration_s: Length of each timed loop (the warm-up adds up to a quarter of it).
        threads: Inference threads; None uses every physical core.
        isolate: Run conversion, quantization and inference in a worker process, so a native
            crash fails one measurement only. False runs them in this process (faster to
            start, for trusted models).
        timeout_s: Seconds one measurement may take in the worker before it is killed.
        use_cache: Read and write the cache.
        keep_files: Keep each candidate's exported and quantized files under ``workdir``.
        reference: Pair every measurement with this model
            (:func:`hwfit.bench.paired.measure_paired` in the same worker): the latency is
            then the ratio to the reference times the reference's own latency, measured once
            per cache. On a shared host, whose speed drifts by up to 2x over seconds to
            minutes, the ratio repeats within a few percent where a plain measurement does
            not (``benchmarks/latency_predictor.py --repeat``).

    Raises:
        UserError: The target is not valid (see :meth:`Target.validate`).
        DatabaseError: The cache's database cannot be opened.
    """

    def __init__(
        self,
        target: Target,
        workdir: Path,
        *,
        db: ResultStore | str | os.PathLike[str] | None = None,
        duration_s: float = 2.0,
        threads: int | None = None,
        isolate: bool = True,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        use_cache: bool = True,
        keep_files: bool = False,
        reference: Reference | None = None,
    ) -> None:
        self.target = target.validate()
        if duration_s <= 0:
            raise UserError(f"duration_s must be > 0, got {duration_s}.")
        self.workdir = Path(workdir)
        self.duration_s = duration_s
        profile = probe(include_runtimes=False)
        self.fingerprint = profile.fingerprint
        all_cores = max(1, min(profile.cpu.physical_cores, profile.cpu.usable_threads))
        self.threads = threads or all_cores
        self.isolate = isolate
        self.timeout_s = timeout_s
        self.keep_files = keep_files
        self.cache = (
            LatencyCache(
                db,
                target=target,
                fingerprint=self.fingerprint,
                threads=None if self.threads == all_cores else self.threads,
                reference=reference.key if reference is not None else None,
            )
            if use_cache
            else None
        )
        if (self.workdir / "latency.sqlite").exists():
            logger.warning(
                "%s is not read: latencies are now cached in the results database, "
                "measured with the current method.",
                self.workdir / "latency.sqlite",
            )
        self.reference = reference
        self._reference_job: LatencyJob | None = None
        self.reference_ms = math.nan  # the reference's own latency: the scale of ratios
        if reference is not None and self.cache is not None:
            self.reference_ms = self.cache.get_reference_ms() or math.nan
        self._pool: WorkerPool | None = None  # started at the first measurement

    def __enter__(self) -> LatencyMeasurer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """End the worker process and close the cache."""
        if self._pool is not None:
            self._pool.close()
            self._pool = None
        if self.cache is not None:
            self.cache.close()

    def measure(
        self,
        model: nn.Module,
        input_shape: Sequence[int],
        *,
        key: str,
        calibration: np.ndarray | None = None,
        refresh: bool = False,
    ) -> LatencyMeasurement:
        """Measure ``model``, or return the cached measurement of ``key``.

        Args:
            model: The model (random weights are fine).
            input_shape: Its input shape, batch first; the batch is replaced by the target's.
            key: Identifies the architecture in the cache (``Arch.key``).
            calibration: INT8 calibration inputs, ``(N, *input_shape[1:])``; None draws
                random ones. At most :data:`CALIBRATION_SAMPLES` are used.
            refresh: Measure again even when cached, and replace the cached entry.

        Returns:
            The measurement; a model that cannot be exported, converted, quantized, compiled or
            run gives a failed one (``ok`` False, ``reason`` set), it never raises.

        Raises:
            InputShapeError: ``calibration`` does not match ``input_shape``.
        """
        if self.cache is not None and not refresh:
            hit = self.cache.get(key)
            if hit is not None:
                return hit
        self._ensure_reference()
        shape = (self.target.batch, *(int(d) for d in input_shape[1:]))
        samples = _calibration(calibration, shape)
        start = time.perf_counter()
        folder = self.workdir / "latency" / _folder_name(key)
        try:
            result = self._run(model, shape, samples, folder)
        finally:
            if not self.keep_files:
                shutil.rmtree(folder, ignore_errors=True)
        measured = self._measurement(key, result, time.perf_counter() - start)
        if measured.ok:
            logger.info(
                "latency %s on %s: %.3f ms, %.3f ms median, %.0f%% CPU to others%s",
                key,
                self.target,
                measured.latency_ms,
                measured.p50_ms,
                100 * measured.contention,
                "".join(f"; {n}" for n in measured.noise),
            )
        else:
            logger.info("latency %s on %s failed: %s", key, self.target, measured.reason)
        if self.cache is not None:
            self.cache.put(measured)
        return measured

    def _measurement(
        self, key: str, result: LatencyJobResult, seconds: float
    ) -> LatencyMeasurement:
        if not result.ok or result.p50_ms is None:
            return LatencyMeasurement.failure(key, str(result.error), seconds)
        quiet, ratio, low, high = _nan(result.quiet_ms), math.nan, math.nan, math.nan
        figure = result.paired
        if figure is not None:  # this model's latency over the reference's: 1 / speed-up
            ratio, low, high = (
                1.0 / v if v > 0 else math.inf
                for v in (figure.speedup, figure.ci_high, figure.ci_low)
            )
            quiet = ratio * self.reference_ms
        return LatencyMeasurement(
            arch_key=key,
            p50_ms=result.p50_ms,
            ci_rel=_nan(result.ci_rel),
            runs=result.runs,
            executed_precision=result.executed_precision,
            seconds=seconds,
            quiet_ms=quiet,
            contention=_nan(result.contention),
            ratio=ratio,
            ratio_ci_low=low,
            ratio_ci_high=high,
            reference_ms=self.reference_ms if figure is not None else math.nan,
            attempts=result.attempts,
            noise=result.noise,
        )

    def _ensure_reference(self) -> None:
        """Export the reference once and know its own latency (cached, else measured now)."""
        ref = self.reference
        if ref is None or self._reference_job is not None:
            return
        shape = (self.target.batch, *(int(d) for d in ref.input_shape[1:]))
        folder = self.workdir / "latency" / "_reference" / _folder_name(ref.key)
        folder.mkdir(parents=True, exist_ok=True)
        try:
            export_onnx(ref.model, shape, folder / "model.onnx")
        except HwfitError as exc:
            raise UnsupportedModelError(
                f"The reference model {ref.key} cannot be exported: {exc.message}",
                hint="Measure without a reference, or pick another baseline.",
            ) from exc
        job = self._job(folder / "model.onnx", shape, _calibration(ref.calibration, shape), folder)
        if not math.isfinite(self.reference_ms):
            result = self._submit(job)  # the reference alone: its quiet latency
            if not result.ok or result.quiet_ms is None:
                raise UnsupportedModelError(
                    f"The reference model {ref.key} cannot be measured on {self.target}: "
                    f"{result.error}",
                    hint="Try another --target, or run with -v to see the measurement.",
                )
            self.reference_ms = result.quiet_ms
            if self.cache is not None:  # a concurrent search may have stored one first
                self.reference_ms = self.cache.put_reference_ms(self.reference_ms)
        self._reference_job = job

    def _submit(self, job: LatencyJob) -> LatencyJobResult:
        if not self.isolate:
            from hwfit.nas.latency._job import run_latency_job

            return run_latency_job(job)
        return self._worker().run(job, self.timeout_s)

    def _worker(self) -> WorkerPool:
        if self._pool is None:
            from hwfit.bench.pool import WorkerPool

            self._pool = WorkerPool(name="hwfit-latency")
        self._pool.start()  # its imports overlap with the caller's export
        return self._pool

    def _run(
        self, model: nn.Module, shape: tuple[int, ...], samples: np.ndarray, folder: Path
    ) -> LatencyJobResult:
        if self.isolate:
            self._worker()
        folder.mkdir(parents=True, exist_ok=True)
        onnx_path = folder / "model.onnx"
        try:
            export_onnx(model, shape, onnx_path)
        except HwfitError as exc:
            return LatencyJobResult(ok=False, error=exc.message)
        job = self._job(onnx_path, shape, samples, folder)
        if self._reference_job is not None:
            job = dataclasses.replace(job, reference=self._reference_job)
        return self._submit(job)

    def _job(
        self, onnx_path: Path, shape: tuple[int, ...], samples: np.ndarray, folder: Path
    ) -> LatencyJob:
        from hwfit.precisions import RECIPES, recipe_key
        from hwfit.runtimes import RUNTIMES

        calibration = folder / "calibration.npz"
        np.savez(calibration, x=samples)
        return LatencyJob(
            onnx_path=str(onnx_path),
            shape=shape,
            runtime=self.target.runtime,
            precision=self.target.precision,
            recipe_path=RECIPES.path(recipe_key(self.target.runtime, self.target.precision)),
            runtime_path=RUNTIMES.path(self.target.runtime_plugin),
            threads=self.threads,
            duration_s=self.duration_s,
            out_dir=str(folder),
            calibration_path=str(calibration),
        )


def _nan(value: float | None) -> float:
    return math.nan if value is None else float(value)


def measure(
    model: nn.Module,
    input_shape: Sequence[int],
    target: Target,
    *,
    calibration: np.ndarray | None = None,
    duration_s: float = 2.0,
    workdir: Path,
    key: str,
    isolate: bool = True,
    db: ResultStore | str | os.PathLike[str] | None = None,
) -> LatencyMeasurement:
    """Measure one model on ``target`` (cached in ``db``); see :class:`LatencyMeasurer`.

    For many models, keep one :class:`LatencyMeasurer` open instead: it reuses its worker.

    Args:
        model: The model (random weights are fine).
        input_shape: Its input shape, batch first; the batch is replaced by the target's.
        target: Where to measure.
        calibration: INT8 calibration inputs; None draws random ones.
        duration_s: Length of the timed loop.
        workdir: Folder of the temporary files.
        key: The architecture's key in the cache.
        isolate: Run the runtime in a worker process (a crash fails this measurement only).
        db: The results database of the cache (None: :func:`hwfit.db.default_db_url`).

    Returns:
        The measurement; failures are returned with a reason, never raised.

    Raises:
        UserError: Bad target, or calibration data of the wrong shape.
    """
    with LatencyMeasurer(
        target, workdir, db=db, duration_s=duration_s, isolate=isolate
    ) as measurer:
        return measurer.measure(model, input_shape, key=key, calibration=calibration)


def _calibration(calibration: np.ndarray | None, shape: tuple[int, ...]) -> np.ndarray:
    if calibration is None:
        rng = np.random.default_rng(0)
        return rng.standard_normal((CALIBRATION_SAMPLES, *shape[1:])).astype(np.float32)
    array = np.asarray(calibration, dtype=np.float32)
    if array.ndim != len(shape) or array.shape[1:] != shape[1:] or len(array) == 0:
        raise InputShapeError(
            f"Calibration samples have shape {array.shape[1:]}, the model takes {shape[1:]}.",
            hint="Give calibration inputs at the architecture's resolution, or none.",
        )
    return np.ascontiguousarray(array[:CALIBRATION_SAMPLES])
