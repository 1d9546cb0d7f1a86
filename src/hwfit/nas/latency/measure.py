"""Real latency of a built model on the target: export -> convert -> quantize -> compile -> bench.

Each measurement goes through the same steps a deployment does, with the repository's own
pieces: the model is exported to ONNX here (TorchScript exporter: ten times faster than the
dynamo exporter on these CNNs, with the dynamo exporter as fallback), then a worker process
converts it (ONNX -> OpenVINO IR for OpenVINO), prepares it with the target's precision recipe
(:data:`hwfit.precisions.RECIPES`: NNCF INT8 for OpenVINO, static QDQ INT8 for ONNX Runtime),
compiles it with the target's runtime plug-in at all physical cores and times it with the bench
method (:func:`hwfit.bench.method.warm_up`, :func:`~hwfit.bench.method.timed_loop`: warm-up
until latency settles, then the median with its 95% CI).

Latency does not depend on weight values, so INT8 calibration uses random inputs when no data
is given (a few samples are enough: calibration only sets scales).

Isolation: a native crash or hang inside a converter, quantizer or runtime must fail one
candidate, not the search. :class:`LatencyMeasurer` keeps one worker process (``spawn``) for
all its measurements and starts a new one after a crash or a time-out. A fresh process per
measurement (as ``hwfit.bench`` does) would cost about 3.5 s of imports each time (NNCF
imports PyTorch), more than the measurement of a small model itself; a persistent worker pays
it once.

Measurements are cached (:class:`LatencyCache`, SQLite in the work folder) by architecture
key, target and hardware fingerprint, failures included, so a search never measures an
architecture twice.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import io
import logging
import math
import multiprocessing
import re
import shutil
import signal
import sqlite3
import time
import warnings
from collections.abc import Iterator, Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from hwfit.errors import HwfitError, InputShapeError, InternalError, UserError, first_line
from hwfit.nas.target import Target

__all__ = [
    "CALIBRATION_SAMPLES",
    "LatencyCache",
    "LatencyMeasurement",
    "LatencyMeasurer",
    "Reference",
    "measure",
]

logger = logging.getLogger(__name__)

#: Calibration samples used for INT8 (more are cut; random ones are drawn when none are given).
CALIBRATION_SAMPLES = 8
DEFAULT_TIMEOUT_S = 300.0
#: Share of the CPU that other processes (or the hypervisor) may take during a timed loop
#: before the loop is tried again (:mod:`hwfit.bench.contention`).
MAX_CONTENTION = 0.10
CONTENDED_ATTEMPTS = 3
CONTENDED_WAIT_S = 1.0
#: Window of the quiet latency and of the reference pairing (ms of inference time).
WINDOW_MS = 50.0
_ONNX_OPSET = 18
_INPUT_NAME = "input"
#: The model format each runtime is handed (OpenVINO gets an IR so nothing is converted twice).
_SOURCE_KIND = {"openvino": "openvino", "onnxruntime": "onnx"}


@dataclasses.dataclass(frozen=True)
class LatencyMeasurement:
    """The measured latency of one architecture on one target.

    Attributes:
        arch_key: The architecture's key (``Arch.key``).
        p50_ms: Median latency of one inference call over the whole timed loop (NaN when the
            measurement failed).
        ci_rel: Half-width of the 95% CI of the median, relative to it.
        quiet_ms: The lowest median of the loop's 50-ms windows
            (:func:`hwfit.bench.stats.quiet_latency`): the latency with the cores to itself
            (NaN when failed); :attr:`latency_ms` without a reference.
        contention: Share of the CPU others (processes, hypervisor steal) took during the
            timed loop; above :data:`MAX_CONTENTION` the loop was tried again (up to
            :data:`CONTENDED_ATTEMPTS` times) and the least contended one kept. NaN: unknown
            (no ``/proc/stat``) or failed.
        ratio: With a reference model (:class:`LatencyMeasurer` ``reference=``): the median,
            over the timed loop, of this model's 50-ms window median divided by the mean of
            the reference's windows just before and after it. They see the same machine, so
            the ratio holds when the host slows everything down (NaN without a reference).
        reference_ms: The reference's own quiet latency, measured once per cache: the scale
            that turns :attr:`ratio` into milliseconds.
        runs: Timed runs.
        executed_precision: The precision the runtime reports it ran (read back, e.g. "int8").
        seconds: Wall time of the whole measurement (export to bench).
        reason: Why the measurement failed; None when it succeeded.
        cached: True when this came from the cache instead of being measured now.
    """

    arch_key: str
    p50_ms: float
    ci_rel: float
    runs: int
    executed_precision: str
    seconds: float
    quiet_ms: float = math.nan
    contention: float = math.nan
    ratio: float = math.nan
    reference_ms: float = math.nan
    reason: str | None = None
    cached: bool = False

    @property
    def latency_ms(self) -> float:
        """The latency the search uses (NaN when failed).

        With a reference model: :attr:`ratio` times :attr:`reference_ms`; without one:
        :attr:`quiet_ms`.
        """
        if math.isfinite(self.ratio) and math.isfinite(self.reference_ms):
            return self.ratio * self.reference_ms
        return self.quiet_ms

    @property
    def ok(self) -> bool:
        """True when the model was measured."""
        return self.reason is None

    @property
    def contended(self) -> bool:
        """True when others took over :data:`MAX_CONTENTION` of the CPU in every attempt.

        The latency is then probably inflated.
        """
        return self.contention > MAX_CONTENTION

    @property
    def failed(self) -> bool:
        """True when the measurement failed (``reason`` says why)."""
        return self.reason is not None

    @classmethod
    def failure(cls, arch_key: str, reason: str, seconds: float) -> LatencyMeasurement:
        """A failed measurement with its reason."""
        return cls(arch_key, math.nan, math.nan, 0, "", seconds, reason=reason)


def _nan_to_null(value: float) -> float | None:
    return None if math.isnan(value) else value


def _null_to_nan(value: Any) -> float:
    return math.nan if value is None else float(value)


def _folder_name(key: str) -> str:
    """A key as a safe folder name."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", key)


class LatencyCache:
    """Measurements stored in an SQLite file, for one target on one machine.

    Entries are keyed by architecture key, target and hardware fingerprint; the cache object
    reads and writes those of its own target and fingerprint only, so one file can serve
    several targets and machines. Failed measurements are stored too (a candidate that crashes
    the converter is not tried again). Rows written before the quiet latency was measured
    (``quiet_ms`` empty) count as not measured: mixing methods would blur the predictor.

    Args:
        path: The SQLite file (created with its folder when missing).
        target: The target the measurements are for.
        fingerprint: The hardware fingerprint (:attr:`HardwareProfile.fingerprint`); None
            probes this machine's.
        threads: The inference threads, when not the default of every physical core (kept
            apart: ``openvino:int8:bs1:cpu:t1``).
        reference: Key of the reference model the measurements are relative to (kept apart:
            ``openvino:int8:bs1:cpu:ref=<key>``); None for absolute measurements.
    """

    _SCHEMA = """
        CREATE TABLE IF NOT EXISTS latency (
            arch_key TEXT NOT NULL,
            target TEXT NOT NULL,
            fingerprint TEXT NOT NULL,
            p50_ms REAL,
            ci_rel REAL,
            runs INTEGER NOT NULL,
            executed_precision TEXT NOT NULL,
            seconds REAL NOT NULL,
            reason TEXT,
            created_at TEXT NOT NULL,
            quiet_ms REAL,
            contention REAL,
            ratio REAL,
            reference_ms REAL,
            PRIMARY KEY (arch_key, target, fingerprint)
        )
    """
    _COLUMNS = (
        "arch_key, p50_ms, ci_rel, runs, executed_precision, seconds, reason, quiet_ms, "
        "contention, ratio, reference_ms"
    )
    _CURRENT = "(reason IS NOT NULL OR quiet_ms IS NOT NULL)"

    def __init__(
        self,
        path: Path,
        *,
        target: Target,
        fingerprint: str | None = None,
        threads: int | None = None,
        reference: str | None = None,
    ) -> None:
        if fingerprint is None:
            from hwfit.hardware import probe

            fingerprint = probe(include_runtimes=False).fingerprint
        self.path = Path(path)
        self.target = (
            str(target)
            + (f":t{threads}" if threads else "")
            + (f":ref={reference}" if reference else "")
        )
        self.fingerprint = fingerprint
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute(self._SCHEMA)
            db.execute(
                "CREATE TABLE IF NOT EXISTS reference_scale (target TEXT NOT NULL, "
                "fingerprint TEXT NOT NULL, ms REAL NOT NULL, PRIMARY KEY (target, fingerprint))"
            )
            columns = {row[1] for row in db.execute("PRAGMA table_info(latency)")}
            for column in ("quiet_ms", "contention", "ratio", "reference_ms"):  # older caches
                if column not in columns:
                    db.execute(f"ALTER TABLE latency ADD COLUMN {column} REAL")

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            db = sqlite3.connect(self.path, timeout=30.0)
        except sqlite3.Error as exc:
            raise UserError(
                f"Cannot open the latency cache {str(self.path)!r}: {exc}",
                hint="Check that the work folder is writable.",
            ) from exc
        try:
            with db:  # commits, or rolls back on error
                yield db
        except sqlite3.Error as exc:
            raise UserError(
                f"The latency cache {str(self.path)!r} cannot be used: {exc}",
                hint="Delete the file to start a new cache.",
            ) from exc
        finally:
            db.close()

    def get(self, arch_key: str) -> LatencyMeasurement | None:
        """The stored measurement of ``arch_key`` (``cached=True``), or None."""
        with self._connect() as db:
            row = db.execute(
                f"SELECT {self._COLUMNS} FROM latency "
                f"WHERE arch_key = ? AND target = ? AND fingerprint = ? AND {self._CURRENT}",
                (arch_key, self.target, self.fingerprint),
            ).fetchone()
        return None if row is None else _from_row(row)

    def put(self, measurement: LatencyMeasurement) -> None:
        """Store ``measurement``, replacing an older one of the same architecture."""
        m = measurement
        with self._connect() as db:
            db.execute(
                "INSERT OR REPLACE INTO latency (arch_key, target, fingerprint, p50_ms, ci_rel, "
                "runs, executed_precision, seconds, reason, created_at, quiet_ms, contention, "
                "ratio, reference_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    m.arch_key,
                    self.target,
                    self.fingerprint,
                    _nan_to_null(m.p50_ms),
                    _nan_to_null(m.ci_rel),
                    m.runs,
                    m.executed_precision,
                    m.seconds,
                    m.reason,
                    dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                    _nan_to_null(m.quiet_ms),
                    _nan_to_null(m.contention),
                    _nan_to_null(m.ratio),
                    _nan_to_null(m.reference_ms),
                ),
            )

    def get_reference_ms(self) -> float | None:
        """The reference model's own latency stored for this cache, or None."""
        with self._connect() as db:
            row = db.execute(
                "SELECT ms FROM reference_scale WHERE target = ? AND fingerprint = ?",
                (self.target, self.fingerprint),
            ).fetchone()
        return None if row is None else float(row[0])

    def put_reference_ms(self, ms: float) -> None:
        """Store the reference model's own latency (the scale of every ratio in this cache)."""
        with self._connect() as db:
            db.execute(
                "INSERT OR REPLACE INTO reference_scale VALUES (?, ?, ?)",
                (self.target, self.fingerprint, ms),
            )

    def measurements(self) -> list[LatencyMeasurement]:
        """Every stored measurement of this target and machine, oldest first."""
        with self._connect() as db:
            rows = db.execute(
                f"SELECT {self._COLUMNS} FROM latency "
                f"WHERE target = ? AND fingerprint = ? AND {self._CURRENT} "
                "ORDER BY created_at, rowid",
                (self.target, self.fingerprint),
            ).fetchall()
        return [_from_row(row) for row in rows]

    def __len__(self) -> int:
        return len(self.measurements())


def _from_row(row: Sequence[Any]) -> LatencyMeasurement:
    key, p50, ci, runs, precision, seconds, reason, quiet, contention, ratio, ref_ms = row
    return LatencyMeasurement(
        arch_key=key,
        p50_ms=_null_to_nan(p50),
        ci_rel=_null_to_nan(ci),
        quiet_ms=_null_to_nan(quiet),
        contention=_null_to_nan(contention),
        ratio=_null_to_nan(ratio),
        reference_ms=_null_to_nan(ref_ms),
        runs=int(runs),
        executed_precision=precision,
        seconds=float(seconds),
        reason=reason,
        cached=True,
    )


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
        workdir: Folder for the cache (``latency.sqlite``) and the temporary model files.
        duration_s: Length of each timed loop (the warm-up adds up to a quarter of it).
        threads: Inference threads; None uses every physical core.
        isolate: Run conversion, quantization and inference in a worker process, so a native
            crash fails one measurement only. False runs them in this process (faster to
            start, for trusted models).
        timeout_s: Seconds one measurement may take in the worker before it is killed.
        use_cache: Read and write the cache.
        keep_files: Keep each candidate's exported and quantized files under ``workdir``.
        reference: Pair every measurement with this model (alternating 50-ms windows in the
            same worker): the latency is then the ratio to the reference times the
            reference's own latency, measured once per cache. On a shared host, whose speed
            drifts by up to 2x over seconds to minutes, the ratio repeats within a few
            percent where a plain measurement does not (``benchmarks/latency_predictor.py
            --repeat``). Costs half the timed loop.

    Raises:
        UserError: The target is not valid (see :meth:`Target.validate`).
    """

    def __init__(
        self,
        target: Target,
        workdir: Path,
        *,
        duration_s: float = 2.0,
        threads: int | None = None,
        isolate: bool = True,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        use_cache: bool = True,
        keep_files: bool = False,
        reference: Reference | None = None,
    ) -> None:
        from hwfit.hardware import probe

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
                self.workdir / "latency.sqlite",
                target=target,
                fingerprint=self.fingerprint,
                threads=None if self.threads == all_cores else self.threads,
                reference=reference.key if reference is not None else None,
            )
            if use_cache
            else None
        )
        self.reference = reference
        self._reference_job: dict[str, Any] | None = None
        self.reference_ms = math.nan  # the reference's own latency: the scale of ratios
        if reference is not None and self.cache is not None:
            self.reference_ms = self.cache.get_reference_ms() or math.nan
        self._worker: _Worker | None = None  # started at the first measurement

    def __enter__(self) -> LatencyMeasurer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """End the worker process."""
        if self._worker is not None:
            self._worker.stop()
            self._worker = None

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
        seconds = time.perf_counter() - start
        if result.get("ok"):
            measured = LatencyMeasurement(
                arch_key=key,
                p50_ms=float(result["p50_ms"]),
                ci_rel=float(result["ci_rel"]),
                quiet_ms=float(result["quiet_ms"]),
                contention=float(result["contention"]),
                ratio=float(result.get("ratio", math.nan)),
                reference_ms=self.reference_ms if self.reference is not None else math.nan,
                runs=int(result["runs"]),
                executed_precision=str(result["executed_precision"]),
                seconds=seconds,
            )
            logger.info(
                "latency %s on %s: %.3f ms (quiet %.3f), %.3f ms median, %.0f%% CPU to others",
                key,
                self.target,
                measured.latency_ms,
                measured.quiet_ms,
                measured.p50_ms,
                100 * measured.contention,
            )
        else:
            measured = LatencyMeasurement.failure(key, str(result["error"]), seconds)
            logger.info("latency %s on %s failed: %s", key, self.target, measured.reason)
        if self.cache is not None:
            self.cache.put(measured)
        return measured

    def _ensure_reference(self) -> None:
        """Export the reference once and know its own latency (cached, else measured now)."""
        ref = self.reference
        if ref is None or self._reference_job is not None:
            return
        from hwfit.errors import UnsupportedModelError

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
        scale = self.reference_ms if math.isfinite(self.reference_ms) else None
        if scale is None:
            result = self._submit(dict(job))  # the reference alone: its quiet latency
            if not result.get("ok"):
                raise UnsupportedModelError(
                    f"The reference model {ref.key} cannot be measured on {self.target}: "
                    f"{result.get('error')}",
                    hint="Try another --target, or run with -v to see the measurement.",
                )
            scale = float(result["quiet_ms"])
            if self.cache is not None:
                self.cache.put_reference_ms(scale)
        self.reference_ms = scale
        self._reference_job = job

    def _submit(self, job: dict[str, Any]) -> dict[str, Any]:
        if self.isolate and self._worker is None:
            self._worker = _Worker()
        if self._worker is None:
            return run_job(job)
        return self._worker.run(job, self.timeout_s)

    def _run(
        self, model: nn.Module, shape: tuple[int, ...], samples: np.ndarray, folder: Path
    ) -> dict[str, Any]:
        if self.isolate and self._worker is None:
            self._worker = _Worker()  # its imports overlap with the export below
        folder.mkdir(parents=True, exist_ok=True)
        onnx_path = folder / "model.onnx"
        try:
            export_onnx(model, shape, onnx_path)
        except HwfitError as exc:
            return {"ok": False, "error": exc.message}
        job = self._job(onnx_path, shape, samples, folder)
        if self._reference_job is not None:
            job["reference"] = self._reference_job
        return self._submit(job)

    def _job(
        self, onnx_path: Path, shape: tuple[int, ...], samples: np.ndarray, folder: Path
    ) -> dict[str, Any]:
        from hwfit.precisions import RECIPES, recipe_key
        from hwfit.runtimes import RUNTIMES

        return {
            "onnx": str(onnx_path),
            "shape": list(shape),
            "runtime": self.target.runtime,
            "precision": self.target.precision,
            "recipe_path": RECIPES.path(recipe_key(self.target.runtime, self.target.precision)),
            "runtime_path": RUNTIMES.path(self.target.runtime_plugin),
            "threads": self.threads,
            "duration_s": self.duration_s,
            "calibration": samples,
            "out_dir": str(folder),
        }


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
) -> LatencyMeasurement:
    """Measure one model on ``target`` (cached in ``workdir``); see :class:`LatencyMeasurer`.

    For many models, keep one :class:`LatencyMeasurer` open instead: it reuses its worker.

    Args:
        model: The model (random weights are fine).
        input_shape: Its input shape, batch first; the batch is replaced by the target's.
        target: Where to measure.
        calibration: INT8 calibration inputs; None draws random ones.
        duration_s: Length of the timed loop.
        workdir: Folder of the cache and the temporary files.
        key: The architecture's key in the cache.
        isolate: Run the runtime in a worker process (a crash fails this measurement only).

    Returns:
        The measurement; failures are returned with a reason, never raised.

    Raises:
        UserError: Bad target, or calibration data of the wrong shape.
    """
    with LatencyMeasurer(target, workdir, duration_s=duration_s, isolate=isolate) as measurer:
        return measurer.measure(model, input_shape, key=key, calibration=calibration)


def export_onnx(model: nn.Module, shape: Sequence[int], path: Path) -> None:
    """Export ``model`` to an ONNX file with the static input ``shape``.

    Uses the TorchScript exporter (about 0.3 s for a MobileNetV2, against 3-5 s for the dynamo
    exporter), and the dynamo exporter when it fails on a model whose forward pass runs.

    Raises:
        UnsupportedModelError: Neither exporter can export the model (names the first error).
    """
    from hwfit.errors import UnsupportedModelError

    example = torch.zeros(tuple(shape))
    was_training = model.training
    model.eval()
    try:
        try:
            with warnings.catch_warnings(), torch.no_grad():
                # The TorchScript exporter is deprecated (still shipped by the pinned torch).
                warnings.simplefilter("ignore", DeprecationWarning)
                torch.onnx.export(
                    model,
                    (example,),
                    str(path),
                    dynamo=False,
                    opset_version=_ONNX_OPSET,
                    input_names=[_INPUT_NAME],
                    output_names=["output"],
                )
            return
        except Exception as exc:
            first_error = exc
        try:  # a model that cannot even run is not worth the slow second exporter
            with torch.no_grad():
                model(example)
        except Exception as exc:
            raise UnsupportedModelError(
                f"PyTorch -> ONNX export failed: the forward pass raised {first_line(exc)}"
            ) from exc
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                torch.onnx.export(
                    model,
                    (example,),
                    str(path),
                    dynamo=True,
                    opset_version=_ONNX_OPSET,
                    input_names=[_INPUT_NAME],
                    output_names=["output"],
                    external_data=False,
                    verbose=False,
                )
        except Exception:
            raise UnsupportedModelError(
                f"PyTorch -> ONNX export failed: {first_line(first_error)}"
            ) from first_error
    finally:
        model.train(was_training)


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


def run_job(job: dict[str, Any]) -> dict[str, Any]:
    """Convert, prepare, compile and time one exported model; errors become ``ok=False``.

    This is what the worker process runs (and what :class:`LatencyMeasurer` runs in-process
    with ``isolate=False``).
    """
    try:
        return _run_job(job)
    except HwfitError as exc:
        return {"ok": False, "error": exc.message}
    except Exception as exc:  # a converter's or runtime's own error fails this model only
        return {"ok": False, "error": f"{type(exc).__name__}: {first_line(exc)}"}


def _compile_job(job: dict[str, Any]) -> tuple[Any, Any]:
    """Convert, prepare (quantize) and compile the job's model: (compiled model, RunConfig)."""
    from hwfit.models.artifact import ModelArtifact
    from hwfit.precisions import Precision
    from hwfit.precisions.base import PrecisionRecipe, QuantData
    from hwfit.records import InputSpec, ModelInfo, RunConfig
    from hwfit.registry import import_path
    from hwfit.runtimes.base import Runtime

    out_dir = Path(job["out_dir"])
    spec = InputSpec(_INPUT_NAME, tuple(job["shape"]))
    kind = _SOURCE_KIND[job["runtime"]]
    path = Path(job["onnx"])
    if kind == "openvino":
        path = _onnx_to_ir(path, out_dir / "model_fp32.xml")
    name = out_dir.name
    info = ModelInfo(
        source=name, kind=kind, content_hash=name, input=spec, path=str(path), batch_fixed=True
    )
    recipe_cls: type[PrecisionRecipe] = import_path(job["recipe_path"])
    recipe = recipe_cls(job["runtime"], Precision(job["precision"]))
    data = QuantData(calibration=job["calibration"]) if recipe.needs_calibration else None
    prepared = recipe.prepare(ModelArtifact.from_info(info), spec, out_dir, data)
    if prepared.path is not None:
        info = dataclasses.replace(info, kind=prepared.kind, path=str(prepared.path))
    runtime_cls: type[Runtime] = import_path(job["runtime_path"])
    config = RunConfig(
        runtime=job["runtime"],
        batch=spec.shape[0],
        threads=int(job["threads"]),
        precision=job["precision"],
        duration_s=float(job["duration_s"]),
    )
    compiled = runtime_cls().compile(ModelArtifact.from_info(info), config)
    x = np.random.default_rng(0).standard_normal(spec.shape).astype(np.float32)
    compiled.bind(x)
    compiled.run()
    return compiled, config


_REFERENCES: dict[str, Any] = {}
"""Compiled reference models of this process, by folder: compiled once, kept for its life."""


def _reference(job: dict[str, Any]) -> Any:
    compiled = _REFERENCES.get(job["out_dir"])
    if compiled is None:
        from hwfit.bench.method import warm_up

        compiled, _ = _compile_job(job)
        warm_up(compiled.run, 0.5)
        _REFERENCES[job["out_dir"]] = compiled
    return compiled


def _window(fn: Any, window_s: float) -> list[float]:
    """Run ``fn`` for at least ``window_s`` and 3 runs; its latencies in ms."""
    from hwfit.bench.method import time_ms

    out: list[float] = []
    start = time.perf_counter()
    while len(out) < 3 or time.perf_counter() - start < window_s:
        out.append(time_ms(fn))
    return out


def _paired_loop(
    fn: Any, reference: Any, duration_s: float
) -> tuple[list[float], list[float], list[float]]:
    """Alternate windows of the reference and the model for ``duration_s``.

    Returns the model's latencies, each model window's median over the mean of the reference
    windows just before and after it (a drift during the window cancels out), and the model's
    window medians.
    """
    samples: list[float] = []
    ratios: list[float] = []
    medians: list[float] = []
    window_s = WINDOW_MS / 1000
    end = time.perf_counter() + duration_s
    before = float(np.median(_window(reference, window_s)))
    while time.perf_counter() < end or len(ratios) < 3:
        own = _window(fn, window_s)
        after = float(np.median(_window(reference, window_s)))
        samples.extend(own)
        medians.append(float(np.median(own)))
        ratios.append(medians[-1] / (0.5 * (before + after)))
        before = after
    return samples, ratios, medians


def _run_job(job: dict[str, Any]) -> dict[str, Any]:
    from hwfit.bench.contention import ContentionProbe
    from hwfit.bench.method import timed_loop, warm_up
    from hwfit.bench.stats import quiet_latency, summarize

    reference = _reference(job["reference"]).run if job.get("reference") else None
    compiled, config = _compile_job(job)
    try:
        fn = compiled.run
        duration = config.duration_s
        warmup_runs = warm_up(fn, 0.25 * duration)
        best: tuple[float, list[float], float, float, float] | None = None
        for attempt in range(CONTENDED_ATTEMPTS):
            if attempt:
                time.sleep(CONTENDED_WAIT_S)  # let a burst of other work pass
            probe = ContentionProbe().start()
            started = time.perf_counter()
            if reference is None:
                samples, timed_s = timed_loop(
                    fn,
                    duration_s=duration,
                    min_runs=10,
                    min_time_s=duration,  # the whole loop: the quiet windows need the time
                    max_runs=config.max_runs,
                    target_ci_rel=0.01,
                )
                quiet, ratio = quiet_latency(samples, window_ms=WINDOW_MS), math.nan
            else:
                samples, ratios, medians = _paired_loop(fn, reference, duration)
                timed_s = time.perf_counter() - started
                quiet, ratio = min(medians), float(np.median(ratios))
            contention = probe.stop()
            if best is None or contention < best[0]:
                best = (contention, samples, timed_s, quiet, ratio)
            if not contention > MAX_CONTENTION:  # NaN (unknown) is not retried
                break
        if best is None:
            raise InternalError("No timed loop ran.")
        contention, samples, timed_s, quiet, ratio = best
        stats = summarize(samples, warmup_runs=warmup_runs, timed_s=timed_s, target_ci_rel=0.01)
        executed = compiled.executed.precision
    finally:
        compiled.close()
    return {
        "ok": True,
        "p50_ms": stats.p50_ms,
        "ci_rel": stats.ci_rel,
        "runs": stats.n,
        "quiet_ms": quiet,
        "ratio": ratio,
        "contention": contention,
        "attempts": attempt + 1,
        "executed_precision": executed,
        "noise": list(stats.noise),
    }


def _onnx_to_ir(onnx_path: Path, target: Path) -> Path:
    """Convert an ONNX file to an FP32 OpenVINO IR next to it (no shared cache involved)."""
    import openvino as ov

    from hwfit.errors import UnsupportedModelError

    try:
        ov.save_model(ov.convert_model(str(onnx_path)), str(target), compress_to_fp16=False)
    except Exception as exc:
        raise UnsupportedModelError(
            f"ONNX -> OpenVINO conversion failed: {first_line(exc)}"
        ) from exc
    return target


class _Worker:
    """One ``spawn`` worker process that runs :func:`run_job` for each job it is sent.

    It is started when created and again after it crashed or was killed for a time-out.
    """

    def __init__(self) -> None:
        self._process: Any = None
        self._conn: Connection | None = None
        self._start()

    def _start(self) -> None:
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe()
        process = context.Process(target=_serve, args=(child,), daemon=True, name="hwfit-latency")
        process.start()
        child.close()
        self._process, self._conn = process, parent

    def run(self, job: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        """Send ``job`` and wait for its result; a dead or hung worker gives ``ok=False``."""
        if self._process is None or not self._process.is_alive():
            self._start()
        conn = self._conn
        if conn is None:
            raise InternalError("The latency worker has no connection.")
        try:
            conn.send(job)
            if not conn.poll(timeout_s):
                self._kill()
                return {"ok": False, "error": f"timed out after {timeout_s:.0f} s (worker killed)"}
            result: dict[str, Any] = conn.recv()
        except (EOFError, OSError, BrokenPipeError):
            return {"ok": False, "error": self._death()}
        except BaseException:  # Ctrl-C: end the worker, let the caller stop
            self._kill()
            raise
        return result

    def _death(self) -> str:
        process = self._process
        process.join(10)
        code = process.exitcode
        self._process, self._conn = None, None
        if code is not None and code < 0:
            return f"worker crashed with {signal.Signals(-code).name}"
        return f"worker exited with code {code} and no result"

    def _kill(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.join(10)
        if self._conn is not None:
            self._conn.close()
        self._process, self._conn = None, None

    def stop(self) -> None:
        """Ask the worker to exit, and kill it if it does not."""
        if self._process is None:
            return
        with contextlib.suppress(OSError, BrokenPipeError, AttributeError):
            self._conn.send(None)  # type: ignore[union-attr]  # None only with no process
        self._process.join(5)
        self._kill()


def _serve(conn: Connection) -> None:
    """The worker's loop: import the frameworks once, then run jobs until told to stop."""
    with contextlib.suppress(Exception):  # warm imports; a failure shows in the first job
        import nncf  # noqa: F401
        import onnxruntime  # noqa: F401
        import openvino  # noqa: F401
    try:
        while True:
            job = conn.recv()
            if job is None:
                return
            conn.send(run_job(job))
    except (EOFError, KeyboardInterrupt, BrokenPipeError):
        return
