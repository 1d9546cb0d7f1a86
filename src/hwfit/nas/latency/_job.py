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
from pathlib import Path

import numpy as np

from hwfit.bench.jobs import LatencyJob, LatencyJobResult
from hwfit.bench.method import warm_up
from hwfit.bench.paired import WINDOW_MS, measure_alone, measure_paired
from hwfit.bench.stats import quiet_latency
from hwfit.errors import HwfitError, first_line
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
    """The timed loop alone (:func:`hwfit.bench.paired.measure_alone`), for the whole duration."""
    loop = measure_alone(
        compiled.run,
        duration_s=duration_s,
        min_runs=10,
        min_time_s=duration_s,  # the whole loop: the quiet windows need the time
        max_runs=100_000,
        target_ci_rel=_TARGET_CI_REL,
        warmup_runs=warmup_runs,
    )
    stats, contention = loop.stats, loop.contention
    return LatencyJobResult(
        ok=True,
        p50_ms=stats.p50_ms,
        ci_rel=stats.ci_rel,
        runs=stats.n,
        quiet_ms=quiet_latency(loop.samples, window_ms=WINDOW_MS),
        contention=None if math.isnan(contention) else contention,
        attempts=loop.attempts,
        noise=stats.noise,
        priority=loop.priority,
    )
