"""The worker side of a latency measurement: the ``latency`` task of :mod:`hwfit.bench.pool`.

One :class:`~hwfit.bench.jobs.LatencyJob` goes through the steps a deployment does: the exported
ONNX file is converted (:func:`hwfit.models.convert.onnx_to_openvino` for OpenVINO), prepared
with the target's precision recipe (:data:`hwfit.precisions.RECIPES`: NNCF INT8 for OpenVINO,
static QDQ INT8 for ONNX Runtime), compiled with the target's runtime plug-in and timed:

* with a reference, paired against it (:func:`hwfit.bench.paired.measure_paired`: alternating
  50-ms windows, retried while contended or noisy). The reference is compiled once per worker
  process and kept for the worker's life, so every candidate is timed against the same one;
* without one, a timed loop (:func:`hwfit.bench.method.timed_loop`) whose quiet latency
  (:func:`hwfit.bench.stats.quiet_latency`) is the figure, retried while contended.
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path

import numpy as np

from hwfit.bench.contention import ContentionProbe
from hwfit.bench.jobs import LatencyJob, LatencyJobResult
from hwfit.bench.method import timed_loop, warm_up
from hwfit.bench.paired import ATTEMPTS, MAX_CONTENTION, RETRY_WAIT_S, WINDOW_MS, measure_paired
from hwfit.bench.priority import ahead_of_others
from hwfit.bench.stats import quiet_latency, summarize
from hwfit.errors import HwfitError, InternalError, first_line
from hwfit.records import LatencyStats
from hwfit.runtimes.base import CompiledModel

__all__ = ["SOURCE_KIND", "run_latency_job"]

#: The model format each runtime is handed (OpenVINO gets an IR so nothing is converted twice).
SOURCE_KIND = {"openvino": "openvino", "onnxruntime": "onnx"}
_INPUT_NAME = "input"
_TARGET_CI_REL = 0.01

_REFERENCES: dict[str, CompiledModel] = {}
"""Compiled reference models of this process, by folder: compiled once, kept for its life."""


def run_latency_job(job: LatencyJob) -> LatencyJobResult:
    """Convert, prepare, compile and time one exported model; errors become ``ok=False``.

    The pool's worker runs it, and :class:`~hwfit.nas.latency.LatencyMeasurer` runs it in its
    own process with ``isolate=False``.
    """
    try:
        return _measure(job)
    except HwfitError as exc:
        return job.failed(exc.message)
    except Exception as exc:  # a converter's or runtime's own error fails this model only
        return job.failed(f"{type(exc).__name__}: {first_line(exc)}")


def _compile(job: LatencyJob) -> CompiledModel:
    """Convert, prepare (quantize) and compile the job's model, with an input bound."""
    from hwfit.models.artifact import ModelArtifact
    from hwfit.models.convert import onnx_to_openvino
    from hwfit.precisions import Precision
    from hwfit.precisions.base import PrecisionRecipe, QuantData
    from hwfit.records import InputSpec, ModelInfo, RunConfig
    from hwfit.registry import import_path
    from hwfit.runtimes.base import Runtime

    out_dir = Path(job.out_dir)
    spec = InputSpec(_INPUT_NAME, tuple(job.shape))
    kind = SOURCE_KIND[job.runtime]
    path = Path(job.onnx_path)
    if kind == "openvino":
        path = onnx_to_openvino(path, out_dir / "model_fp32.xml")
    info = ModelInfo(
        source=out_dir.name,
        kind=kind,
        content_hash=out_dir.name,
        input=spec,
        path=str(path),
        batch_fixed=True,
    )
    recipe_cls: type[PrecisionRecipe] = import_path(job.recipe_path)
    recipe = recipe_cls(job.runtime, Precision(job.precision))
    data = None
    if recipe.needs_calibration and job.calibration_path is not None:
        with np.load(job.calibration_path) as saved:
            data = QuantData(calibration=saved["x"])
    prepared = recipe.prepare(ModelArtifact.from_info(info), spec, out_dir, data)
    if prepared.path is not None:
        info = dataclasses.replace(info, kind=prepared.kind, path=str(prepared.path))
    runtime_cls: type[Runtime] = import_path(job.runtime_path)
    config = RunConfig(
        runtime=job.runtime,
        batch=spec.shape[0],
        threads=job.threads,
        precision=job.precision,
        duration_s=job.duration_s,
    )
    compiled = runtime_cls().compile(ModelArtifact.from_info(info), config)
    compiled.bind(np.random.default_rng(0).standard_normal(spec.shape).astype(np.float32))
    compiled.run()
    return compiled


def _reference(job: LatencyJob) -> CompiledModel:
    compiled = _REFERENCES.get(job.out_dir)
    if compiled is None:
        compiled = _compile(job)
        _REFERENCES[job.out_dir] = compiled
    return compiled


def _measure(job: LatencyJob) -> LatencyJobResult:
    reference = _reference(job.reference) if job.reference is not None else None
    compiled = _compile(job)
    try:
        duration = job.duration_s
        warmup_runs = warm_up(compiled.run, 0.25 * duration)
        if reference is None:
            result = _timed(compiled, duration, warmup_runs)
        else:
            warm_up(reference.run, 0.25 * duration)  # the candidate's compile ran in between
            figure = measure_paired(
                reference.run, compiled.run, min_time_s=0.5 * duration, max_time_s=duration
            )
            result = LatencyJobResult(
                ok=True,
                p50_ms=figure.b_ms,
                ci_rel=figure.ci_rel,
                runs=figure.pairs,
                contention=figure.contention,
                attempts=figure.attempts,
                noise=figure.noise,
                paired=figure,
                priority=figure.priority,
            )
        executed = compiled.executed.precision
    finally:
        compiled.close()
    return dataclasses.replace(result, executed_precision=executed)


def _timed(compiled: CompiledModel, duration_s: float, warmup_runs: int) -> LatencyJobResult:
    """The timed loop alone, run again (up to 3 loops) while others take the CPU.

    Each loop runs ahead of other work where the system allows it
    (:func:`hwfit.bench.priority.ahead_of_others`).
    """
    best: tuple[float, list[float], float] | None = None
    attempt = 0
    for attempt in range(1, ATTEMPTS + 1):
        if attempt > 1:
            time.sleep(RETRY_WAIT_S)  # let a burst of other work pass
        with ahead_of_others() as priority:
            probe = ContentionProbe().start()
            samples, timed_s = timed_loop(
                compiled.run,
                duration_s=duration_s,
                min_runs=10,
                min_time_s=duration_s,  # the whole loop: the quiet windows need the time
                max_runs=100_000,
                target_ci_rel=_TARGET_CI_REL,
            )
            contention = probe.stop()
        if best is None or contention < best[0]:
            best = (contention, samples, timed_s)
        if not contention > MAX_CONTENTION:  # NaN (unknown) is not retried
            break
    if best is None:
        raise InternalError("No timed loop ran.")
    contention, samples, timed_s = best
    stats: LatencyStats = summarize(
        samples, warmup_runs=warmup_runs, timed_s=timed_s, target_ci_rel=_TARGET_CI_REL
    )
    noise = stats.noise
    if contention > MAX_CONTENTION:
        noise = (*noise, f"busy machine: others took {contention:.0%} of the CPU")
    return LatencyJobResult(
        ok=True,
        p50_ms=stats.p50_ms,
        ci_rel=stats.ci_rel,
        runs=stats.n,
        quiet_ms=quiet_latency(samples, window_ms=WINDOW_MS),
        contention=None if math.isnan(contention) else contention,
        attempts=attempt,
        noise=noise,
        priority=priority,
    )
