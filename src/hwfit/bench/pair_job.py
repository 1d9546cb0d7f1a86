"""The worker side of a paired measurement: two compiled models, one process, one loop.

:func:`hwfit.bench.pair_rows` sends a ``pair`` job (two models, each with its run
configuration and runtime plug-in) to a worker process (:mod:`hwfit.bench.worker`); the
worker compiles both, binds an input to each, warms both up and runs
:func:`hwfit.bench.paired.measure_paired`. A crash or hang in either runtime ends that worker
only: the parent records why there is no paired figure.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from hwfit.bench.method import warm_up
from hwfit.bench.paired import measure_paired
from hwfit.bench.priority import raise_priority
from hwfit.errors import HwfitError, first_line
from hwfit.models.artifact import ModelArtifact
from hwfit.records import ModelInfo, RunConfig, from_dict, to_dict
from hwfit.registry import import_path
from hwfit.runtimes.base import CompiledModel, Runtime

__all__ = ["pair_side", "run_pair"]


def pair_side(info: ModelInfo, config: RunConfig, runtime_path: str) -> dict[str, Any]:
    """One side of a ``pair`` job, as JSON."""
    return {"model": to_dict(info), "config": to_dict(config), "runtime_path": runtime_path}


def _compile(side: dict[str, Any]) -> CompiledModel:
    info = from_dict(ModelInfo, side["model"])
    config = from_dict(RunConfig, side["config"])
    runtime_cls: type[Runtime] = import_path(side["runtime_path"])
    compiled = runtime_cls().compile(ModelArtifact.from_info(info), config)
    spec = info.input.with_batch(config.batch)
    x = np.random.default_rng(0).standard_normal(spec.shape).astype(spec.dtype)
    compiled.bind(x)
    return compiled


def run_pair(job: dict[str, Any]) -> dict[str, Any]:
    """Compile both sides and measure B's speed-up over A; errors become ``ok=False``."""
    compiled: list[CompiledModel] = []
    priority = raise_priority()  # before the runtimes start their threads
    try:
        for side in (job["a"], job["b"]):
            compiled.append(_compile(side))
        a, b = compiled
        warm = float(job.get("warmup_s", 1.0))
        for model in (a, b):
            warm_up(model.run, warm)
        figure = measure_paired(
            a.run,
            b.run,
            min_time_s=float(job["min_time_s"]),
            max_time_s=float(job["max_time_s"]),
            attempts=int(job.get("attempts", 3)),
        )
        return {"ok": True, "ratio": to_dict(dataclasses.replace(figure, priority=priority))}
    except HwfitError as exc:
        return {"ok": False, "error": exc.message}
    except Exception as exc:  # a runtime's own error: no paired figure, the run goes on
        return {"ok": False, "error": f"{type(exc).__name__}: {first_line(exc)}"}
    finally:
        for model in compiled:
            model.close()
