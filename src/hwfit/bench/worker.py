"""One benchmark row in its own process: ``python -m hwfit.bench.worker JOB.json RESULT.json``.

The parent process starts one worker per (model, runtime, config) with a timeout, so a
segfault or a hang inside a runtime ends that row only. The worker writes a
:class:`~hwfit.records.BenchResult` as JSON; a worker that dies writes nothing, and the parent
records the row as failed with the signal or exit code. Jobs with a ``task`` (see
:data:`TASKS`) run the same way. A worker ends with its parent, removing the parent's
temporary folder, when the parent dies first (:mod:`hwfit.bench.lifecycle`).
"""

from __future__ import annotations

import importlib
import json
import math
import os
import resource
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from hwfit.bench.jobs import EvalPaths, RowJob, error_to_dict
from hwfit.bench.lifecycle import PARENT_PID_ENV, TMP_PREFIX, die_with_parent
from hwfit.bench.method import warm_up
from hwfit.bench.paired import measure_alone
from hwfit.errors import HwfitError, InternalError
from hwfit.models.artifact import ModelArtifact
from hwfit.records import (
    BenchResult,
    ModelInfo,
    RowState,
    RunConfig,
    to_dict,
)
from hwfit.registry import import_path
from hwfit.runtimes.base import Runtime

__all__ = ["read_outputs", "run_job"]


def run_job(job: RowJob) -> BenchResult:
    """Compile and measure one configuration; failures become a FAILED result, not an exception."""
    try:
        runtime_cls: type[Runtime] = import_path(job.runtime_path)
        availability = runtime_cls.probe()
        version = availability.version
        return _measure(
            runtime_cls(), job.model, job.config, version, job.eval, trust_model=job.trust_model
        )
    except HwfitError as exc:
        return job.failed(exc.message)
    except Exception as exc:  # a runtime's own error: recorded for this row, the run goes on
        where = traceback.extract_tb(exc.__traceback__)[-1]
        text = str(exc).strip().splitlines()[0][:400] if str(exc).strip() else ""
        return job.failed(
            f"{type(exc).__name__}: {text} (at {Path(where.filename).name}:{where.lineno})"
        )


def run_row_task(job: dict[str, Any]) -> dict[str, Any]:
    """The ``row`` task of the one-shot worker: JSON in, JSON out."""
    return to_dict(run_job(RowJob.from_dict(job)))


def _measure(
    runtime: Runtime,
    info: ModelInfo,
    config: RunConfig,
    version: str | None,
    evaluation: EvalPaths | None = None,
    *,
    trust_model: bool = False,
) -> BenchResult:
    rss_before = psutil.Process().memory_info().rss
    artifact = ModelArtifact.from_info(info, trust_model=trust_model)
    start = time.perf_counter()
    compiled = runtime.compile(artifact, config)
    compile_s = time.perf_counter() - start - compiled.convert_s

    spec = info.input.with_batch(config.batch)
    x = np.random.default_rng(0).standard_normal(spec.shape).astype(spec.dtype)
    compiled.bind(x)
    fn: Callable[[], None] = (lambda: compiled.run_copy(x)) if config.end_to_end else compiled.run
    start = time.perf_counter()
    fn()
    first_run_ms = (time.perf_counter() - start) * 1e3

    warmup_max = (
        config.warmup_max_s if config.warmup_max_s is not None else 0.3 * config.duration_s
    )
    warmup_runs = warm_up(fn, warmup_max)
    loop = measure_alone(
        fn,
        duration_s=config.duration_s,
        min_runs=config.min_runs,
        min_time_s=config.min_time_s,
        max_runs=config.max_runs,
        target_ci_rel=config.target_ci_rel,
        warmup_runs=warmup_runs,
    )
    stats, contention = loop.stats, loop.contention

    executed = compiled.executed
    async_tp = None
    if config.async_throughput:
        measured = compiled.async_throughput(x, max(1.0, config.duration_s / 3))
        if measured is not None:
            async_tp, details = measured
            executed = type(executed)(
                **{
                    **executed.__dict__,
                    "details": {
                        **executed.details,
                        **{f"async_{k}": v for k, v in details.items()},
                    },
                }
            )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    if evaluation is not None:  # after timing, so it cannot disturb the measurement
        _evaluate(compiled, config.batch, Path(evaluation.data), Path(evaluation.out))
    compiled.close()
    return BenchResult(
        model=info,
        config=config,
        state=RowState.COMPLETE,
        runtime_version=version,
        executed=executed,
        latency=stats,
        throughput=config.batch * 1e3 / stats.p50_ms,
        async_throughput=async_tp,
        convert_s=compiled.convert_s,
        compile_s=compile_s,
        first_run_ms=first_run_ms,
        peak_rss_mb=peak / 2**20,
        rss_model_mb=max(0, peak - rss_before) / 2**20,
        artifact_size_bytes=compiled.artifact_size_bytes,
        contention=None if math.isnan(contention) else contention,
        attempts=loop.attempts,
        priority=loop.priority,
    )


def _evaluate(compiled: Any, batch: int, data: Path, out: Path) -> None:
    """Run the compiled model over ``x`` of an ``.npz``; save its outputs.

    The first output is saved as ``logits``, any further ones as ``output_1``, ``output_2``, ...
    (:func:`read_outputs` reads them back in order).
    """
    outputs = compiled.infer_all_outputs(np.load(data)["x"], batch)
    more = {f"output_{i}": o for i, o in enumerate(outputs[1:], start=1)}
    np.savez(out, logits=outputs[0], **more)


def read_outputs(path: Path) -> tuple[np.ndarray, ...]:
    """The outputs :func:`_evaluate` saved, the first one first."""
    with np.load(path) as data:
        extra = sorted(
            (k for k in data.files if k.startswith("output_")), key=lambda k: int(k[7:])
        )
        return (data["logits"], *(data[k] for k in extra))


#: Worker jobs other than a benchmark row, by their ``task``: ``"module:function"``, imported
#: when run; the function takes the job and returns its JSON-ready result.
TASKS: dict[str, str] = {
    "describe": "hwfit.bench.worker:run_describe",
    "pair": "hwfit.bench.pair_job:run_pair_task",
    "prepare": "hwfit.precisions.job:run_prepare",
    "profile": "hwfit.bench.pair_job:run_profile_task",
    "prune": "hwfit.tune.prune:run_prune",
    "row": "hwfit.bench.worker:run_row_task",
    "sweep": "hwfit.bench.pair_job:run_sweep_task",
}


def run_describe(job: dict[str, Any]) -> dict[str, Any]:
    """The ``describe`` task: build a model and run its first forward pass, in this process.

    Args:
        job: ``spec``, ``input_shape`` (a list, or None), ``weights`` (a path, or None) and
            ``trust_model`` (see :func:`hwfit.models.load_model`).

    Returns:
        ``{"info": ModelInfo as a dict}``, or ``{"error": ...}`` for an hwfit error (see
        :func:`~hwfit.bench.jobs.error_to_dict`). Other exceptions propagate: the worker
        prints them, and the parent reports their last line.
    """
    from hwfit.models.sources import describe

    shape = job.get("input_shape")
    try:
        info, _ = describe(
            job["spec"],
            input_shape=tuple(int(d) for d in shape) if shape is not None else None,
            weights=job.get("weights"),
            trust_model=bool(job.get("trust_model", False)),
        )
    except HwfitError as exc:
        return {"error": error_to_dict(exc)}
    return {"info": to_dict(info)}


def main(argv: list[str]) -> int:
    """Entry point: ``JOB.json RESULT.json``: read the job, run it, write the result.

    The worker first arranges to end with its parent (:func:`die_with_parent`), whose pid
    :func:`~hwfit.bench.spawn.spawn_worker` passes in ``HWFIT_PARENT_PID``; the job file's
    folder, the parent's temporary folder for this worker, goes with it.
    """
    job_path, result_path = Path(argv[0]), Path(argv[1])
    folder = job_path.resolve().parent
    die_with_parent(
        int(os.environ.get(PARENT_PID_ENV) or os.getppid()),
        cleanup=folder if folder.name.startswith(TMP_PREFIX) else None,  # never a user's folder
    )
    job = json.loads(job_path.read_text())
    task = job.get("task")
    if task in TASKS:
        module, _, name = TASKS[task].partition(":")
        result = getattr(importlib.import_module(module), name)(job)
    else:
        raise InternalError(f"Unknown worker task {task!r}; known: {', '.join(sorted(TASKS))}.")
    result_path.write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
