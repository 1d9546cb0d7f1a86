"""The worker side of a paired measurement, and of a per-layer profile.

A paired measurement runs two compiled models in one process, one loop; a profile reads one
compiled model's per-layer counters (:func:`hwfit.bench.layer_profile`).

:func:`hwfit.bench.pair_rows` sends a ``pair`` job (two models, each with its run
configuration and runtime plug-in) to a worker process (:mod:`hwfit.bench.worker`); the
worker compiles both, binds an input to each, warms both up and runs
:func:`hwfit.bench.paired.measure_paired`. A crash or hang in either runtime ends that worker
only: the parent records why there is no paired figure.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

from hwfit.bench.jobs import (
    PairJob,
    PairJobResult,
    PairSide,
    ProfileJob,
    ProfileJobResult,
    SweepFigure,
    SweepJob,
    SweepJobResult,
)
from hwfit.bench.method import warm_up
from hwfit.bench.paired import measure_paired
from hwfit.errors import HwfitError, first_line
from hwfit.models.artifact import ModelArtifact
from hwfit.records import PairedRatio
from hwfit.registry import import_path
from hwfit.runtimes.base import CompiledModel, Runtime

__all__ = [
    "per_sample_figure",
    "run_pair",
    "run_pair_task",
    "run_profile",
    "run_profile_task",
    "run_sweep",
    "run_sweep_task",
]


Runner = tuple[Callable[[], None], int]  # the timed call, and the samples it processes


def _input(side: PairSide) -> np.ndarray:
    spec = side.model.input.with_batch(side.config.batch)
    return np.random.default_rng(0).standard_normal(spec.shape).astype(spec.dtype)


def _compile(side: PairSide) -> CompiledModel:
    runtime_cls: type[Runtime] = import_path(side.runtime_path)
    artifact = ModelArtifact.from_info(side.model, trust_model=side.trust_model)
    compiled = runtime_cls().compile(artifact, side.config)
    compiled.bind(_input(side))
    return compiled


def _runner(model: CompiledModel, side: PairSide, per_sample: bool) -> Runner:
    """The call the paired loop times, and the samples one call processes."""
    if per_sample:
        return model.throughput_runner(_input(side))
    return model.run, 1


def _figure(job: PairJob | SweepJob, a: Runner, b: Runner) -> PairedRatio:
    """Warm both sides up, then B's speed-up over A from alternating windows (per sample)."""
    for run, _ in (a, b):
        warm_up(run, job.warmup_s)
    figure = measure_paired(
        a[0], b[0], min_time_s=job.min_time_s, max_time_s=job.max_time_s, attempts=job.attempts
    )
    return per_sample_figure(figure, a[1], b[1]) if job.per_sample else figure


def per_sample_figure(figure: PairedRatio, a_samples: int, b_samples: int) -> PairedRatio:
    """A paired figure of calls turned into one of samples (time per sample on both sides).

    Every window ratio is scaled by the same factor, so the median and its interval are too.
    """
    scale = b_samples / a_samples
    return dataclasses.replace(
        figure,
        speedup=figure.speedup * scale,
        ci_low=figure.ci_low * scale,
        ci_high=figure.ci_high * scale,
        a_ms=figure.a_ms / a_samples,
        b_ms=figure.b_ms / b_samples,
    )


def run_pair(job: PairJob) -> PairJobResult:
    """Compile both sides and measure B's speed-up over A; errors become ``ok=False``.

    With ``job.per_sample`` each side runs its runtime's throughput way and the figure is per
    sample (:func:`per_sample_figure`).
    """
    compiled: list[CompiledModel] = []
    try:
        for side in (job.a, job.b):
            compiled.append(_compile(side))
        a, b = (
            _runner(model, side, job.per_sample)
            for model, side in zip(compiled, (job.a, job.b), strict=True)
        )
        return PairJobResult(ok=True, ratio=_figure(job, a, b))
    except HwfitError as exc:
        return job.failed(exc.message)
    except Exception as exc:  # a runtime's own error: no paired figure, the run goes on
        return job.failed(f"{type(exc).__name__}: {first_line(exc)}")
    finally:
        for model in compiled:
            model.close()


def _failure(exc: Exception) -> str:
    if isinstance(exc, HwfitError):
        return exc.message
    return f"{type(exc).__name__}: {first_line(exc)}"


def run_sweep(job: SweepJob) -> SweepJobResult:
    """Compile A once, then measure each variant paired against it; a variant fails alone."""
    try:
        reference = _compile(job.a)
    except Exception as exc:  # a runtime's own error too: no reference, no figures
        return job.failed(_failure(exc))
    figures: list[SweepFigure] = []
    try:
        a = _runner(reference, job.a, job.per_sample)
        for side in job.variants:
            variant: CompiledModel | None = None
            try:
                variant = _compile(side)
                figure = _figure(job, a, _runner(variant, side, job.per_sample))
                figures.append(SweepFigure(ratio=figure, executed=variant.executed))
            except Exception as exc:  # this variant's runtime error: the others go on
                figures.append(SweepFigure(error=_failure(exc)))
            finally:
                if variant is not None:
                    variant.close()
        return SweepJobResult(ok=True, figures=tuple(figures))
    except Exception as exc:
        return job.failed(_failure(exc))
    finally:
        reference.close()


def run_sweep_task(job: dict[str, Any]) -> dict[str, Any]:
    """The ``sweep`` task of the one-shot worker: JSON in, JSON out."""
    return run_sweep(SweepJob.from_dict(job)).to_dict()


def run_pair_task(job: dict[str, Any]) -> dict[str, Any]:
    """The ``pair`` task of the one-shot worker: JSON in, JSON out."""
    return run_pair(PairJob.from_dict(job)).to_dict()


def run_profile(job: ProfileJob) -> ProfileJobResult:
    """Compile one side and read its per-layer times; errors become ``ok=False``."""
    compiled: CompiledModel | None = None
    try:
        compiled = _compile(job.side)
        layers = compiled.layer_times(job.runs)
        if layers is None:
            return job.failed(f"{job.side.config.runtime} has no per-layer counters")
        return ProfileJobResult(ok=True, layers=layers, executed=compiled.executed.precision)
    except HwfitError as exc:
        return job.failed(exc.message)
    except Exception as exc:  # a runtime's own error: no profile, the run goes on
        return job.failed(f"{type(exc).__name__}: {first_line(exc)}")
    finally:
        if compiled is not None:
            compiled.close()


def run_profile_task(job: dict[str, Any]) -> dict[str, Any]:
    """The ``profile`` task of the one-shot worker: JSON in, JSON out."""
    return run_profile(ProfileJob.from_dict(job)).to_dict()
