"""A model compiled in a worker process and called from this one, like a function.

A user's evaluator (:mod:`hwfit.accuracy.evaluators`) runs in ``optimize``'s own process, with
whatever it closes over, while the candidate it scores runs in a
:class:`~hwfit.bench.pool.WorkerPool` worker: a crash in a runtime's native code ends that
worker and fails the call with the signal, never the run. :class:`ServedModel` compiles once
and runs each call as one job.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from hwfit.bench.pool import WorkerPool
from hwfit.errors import InputShapeError, RuntimeFailure
from hwfit.records import ModelInfo, RunConfig
from hwfit.runtimes import RUNTIMES

__all__ = ["ServedModel"]

_HANDLERS = {
    "serve-load": "hwfit.bench.serve:_load",
    "serve-infer": "hwfit.bench.serve:_infer",
}
_COMPILED: dict[str, Any] = {}  # in the worker: the compiled model, and its batch


@dataclasses.dataclass(frozen=True)
class _Reply:
    ok: bool
    error: str | None = None
    outputs: tuple[npt.NDArray[Any], ...] | None = None


@dataclasses.dataclass(frozen=True)
class _LoadJob:
    task: ClassVar[str] = "serve-load"
    model: ModelInfo
    config: RunConfig
    runtime_path: str
    trust_model: bool = False

    def failed(self, reason: str) -> _Reply:
        return _Reply(ok=False, error=reason)


@dataclasses.dataclass(frozen=True)
class _InferJob:
    task: ClassVar[str] = "serve-infer"
    x: npt.NDArray[np.float32]

    def failed(self, reason: str) -> _Reply:
        return _Reply(ok=False, error=reason)


class ServedModel:
    """``model`` compiled under ``config`` in a worker; calling it returns the outputs.

    Use it as a context manager (the worker ends on exit). ``runtime``, ``precision``,
    ``batch`` and ``label`` say what it runs.

    Args:
        model: The model.
        config: Its run configuration (runtime, precision, threads, batch, options).
        trust_model: The worker may load a model file that runs code when loaded.
        timeout_s: Seconds the compile, and each call, may take.
        label: How the model is named in messages.
    """

    def __init__(
        self,
        model: ModelInfo,
        config: RunConfig,
        *,
        trust_model: bool = False,
        timeout_s: float = 600.0,
        label: str = "",
    ) -> None:
        self.runtime = config.runtime
        self.precision = config.precision
        self.batch = config.batch
        self.label = label or f"{config.runtime} {config.precision} b{config.batch}"
        self.input_shape = tuple(model.input.shape)
        self._timeout_s = timeout_s
        self._pool = WorkerPool(handlers=_HANDLERS, warm_imports=("numpy",), name="hwfit-serve")
        self._load = _LoadJob(model, config, RUNTIMES.path(config.runtime), trust_model)
        self._loaded = False

    def __enter__(self) -> ServedModel:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __call__(self, x: npt.ArrayLike) -> npt.NDArray[np.float32] | tuple[npt.NDArray[Any], ...]:
        """The model's outputs for preprocessed inputs ``(N, ...)``, any N.

        One array for a model with one output, else a tuple of arrays in the model's order.

        Raises:
            InputShapeError: ``x`` does not have the model's sample shape.
            RuntimeFailure: The model could not be compiled or run (the worker's reason).
        """
        array = np.ascontiguousarray(x, dtype=np.float32)
        if array.ndim != len(self.input_shape) or array.shape[1:] != self.input_shape[1:]:
            raise InputShapeError(
                f"predict() got inputs shaped {array.shape}; the model takes "
                f"(N, {', '.join(map(str, self.input_shape[1:]))}).",
                hint="Pass data.x, or inputs preprocessed the same way.",
            )
        if not self._loaded:
            self._reply(self._pool.run(self._load, self._timeout_s), "compiling")
            self._loaded = True
        reply = self._reply(self._pool.run(_InferJob(array), self._timeout_s), "running")
        if not reply.outputs:
            raise RuntimeFailure(f"{self.label} returned no outputs.")
        return reply.outputs[0] if len(reply.outputs) == 1 else reply.outputs

    def close(self) -> None:
        """End the worker."""
        self._pool.close()
        self._loaded = False

    def _reply(self, reply: _Reply, doing: str) -> _Reply:
        if not reply.ok:
            self._loaded = False  # a dead worker compiles again on the next call
            raise RuntimeFailure(f"{doing} {self.label} failed: {reply.error}")
        return reply


def _load(job: _LoadJob) -> _Reply:
    """The ``serve-load`` task: compile the model and keep it in this worker."""
    from hwfit.models.artifact import ModelArtifact
    from hwfit.registry import import_path
    from hwfit.runtimes.base import Runtime

    _COMPILED.clear()
    runtime_cls: type[Runtime] = import_path(job.runtime_path)
    artifact = ModelArtifact.from_info(job.model, trust_model=job.trust_model)
    _COMPILED["model"] = runtime_cls().compile(artifact, job.config)
    _COMPILED["batch"] = job.config.batch
    return _Reply(ok=True)


def _infer(job: _InferJob) -> _Reply:
    """The ``serve-infer`` task: run the kept model over the inputs, in chunks of its batch."""
    compiled = _COMPILED.get("model")
    if compiled is None:
        return _Reply(ok=False, error="no model compiled in this worker")
    return _Reply(ok=True, outputs=compiled.infer_all_outputs(job.x, int(_COMPILED["batch"])))
