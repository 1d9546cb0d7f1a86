"""One benchmark row in its own process: ``python -m hwfit.bench.worker JOB.json RESULT.json``.

The parent process starts one worker per (model, runtime, config) with a timeout, so a
segfault or a hang inside a runtime ends that row only. The worker writes a
:class:`~hwfit.records.BenchResult` as JSON; a worker that dies writes nothing, and the parent
records the row as failed with the signal or exit code.
"""

from __future__ import annotations

import json
import resource
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from hwfit.bench.method import timed_loop, warm_up
from hwfit.bench.stats import summarize
from hwfit.errors import HwfitError
from hwfit.models.artifact import ModelArtifact
from hwfit.records import BenchResult, ModelInfo, RowState, RunConfig, from_dict, to_dict
from hwfit.registry import import_path
from hwfit.runtimes.base import Runtime

__all__ = ["run_job"]


def run_job(job: dict[str, Any]) -> BenchResult:
    """Compile and measure one configuration; failures become a FAILED result, not an exception."""
    info = from_dict(ModelInfo, job["model"])
    config = from_dict(RunConfig, job["config"])
    try:
        runtime_cls: type[Runtime] = import_path(job["runtime_path"])
        availability = runtime_cls.probe()
        version = availability.version
        return _measure(runtime_cls(), info, config, version, job.get("eval"))
    except HwfitError as exc:
        return BenchResult(model=info, config=config, state=RowState.FAILED, reason=exc.message)
    except Exception as exc:  # a runtime's own error: recorded for this row, the run goes on
        where = traceback.extract_tb(exc.__traceback__)[-1]
        text = str(exc).strip().splitlines()[0][:400] if str(exc).strip() else ""
        reason = f"{type(exc).__name__}: {text} (at {Path(where.filename).name}:{where.lineno})"
        return BenchResult(model=info, config=config, state=RowState.FAILED, reason=reason)


def _measure(
    runtime: Runtime,
    info: ModelInfo,
    config: RunConfig,
    version: str | None,
    evaluation: dict[str, str] | None = None,
) -> BenchResult:
    rss_before = psutil.Process().memory_info().rss
    artifact = ModelArtifact.from_info(info)
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
    samples, timed_s = timed_loop(
        fn,
        duration_s=config.duration_s,
        min_runs=config.min_runs,
        min_time_s=config.min_time_s,
        max_runs=config.max_runs,
        target_ci_rel=config.target_ci_rel,
    )
    stats = summarize(
        samples, warmup_runs=warmup_runs, timed_s=timed_s, target_ci_rel=config.target_ci_rel
    )

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
        _evaluate(compiled, config.batch, Path(evaluation["data"]), Path(evaluation["out"]))
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
    )


def _evaluate(compiled: Any, batch: int, data: Path, out: Path) -> None:
    """Run the compiled model over ``x`` of an ``.npz``; save the outputs as ``logits``."""
    np.savez(out, logits=compiled.infer_all(np.load(data)["x"], batch))


def main(argv: list[str]) -> int:
    """Entry point: read the job file, write the result file."""
    job = json.loads(Path(argv[0]).read_text())
    if job.get("task") == "prepare":
        from hwfit.precisions.job import run_prepare

        Path(argv[1]).write_text(json.dumps(run_prepare(job)))
        return 0
    result = run_job(job)
    Path(argv[1]).write_text(json.dumps(to_dict(result)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
