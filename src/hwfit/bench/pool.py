"""A persistent worker process for many small measurements (the search, the tuner).

The one-shot worker (:func:`hwfit.bench.spawn.spawn_worker`) starts a fresh process per job:
the strongest isolation, forked from a fork server with PyTorch loaded, but each job still
imports its runtime and NNCF and compiles its reference again, which is more than measuring
a small model takes. :class:`WorkerPool` keeps one ``spawn`` process that imports the
frameworks once and runs job after job, with the same guarantees for the caller:

* A worker that crashes (a segfault or abort in native code), exits, or hangs past the job's
  time-out gives that job's :meth:`~hwfit.bench.jobs.Job.failed` result, naming the signal or
  the time-out; the next job starts a new worker.
* Ctrl-C in the parent kills the worker and is raised again.
* The worker ends with its parent (:func:`hwfit.bench.lifecycle.die_with_parent`) and runs in
  its own session, as the one-shot worker does: a Ctrl-C in the terminal reaches only the
  parent, which ends the worker. Handlers time their loops ahead of other work where allowed
  (:func:`hwfit.bench.priority.ahead_of_others`).

Jobs are the typed records of :mod:`hwfit.bench.jobs` (or any picklable record with a ``task``
and a ``failed`` method); they and their results travel pickled through a pipe. The worker
looks the job's ``task`` up in :data:`HANDLERS` (``"module:function"``, imported on first use
with :func:`hwfit.registry.import_path`); the handler takes the job and returns its result.
State a handler keeps in its module (a compiled reference model) lives as long as the worker.
"""

from __future__ import annotations

import contextlib
import importlib
import multiprocessing
import os
import pickle
import signal
from collections.abc import Callable, Mapping, Sequence
from multiprocessing.connection import Connection
from typing import Any, TypeVar, cast

from hwfit.bench.jobs import Job, PairJob, PairJobResult, RowJob
from hwfit.bench.lifecycle import die_with_parent
from hwfit.errors import HwfitError, InternalError, first_line
from hwfit.records import BenchResult
from hwfit.registry import import_path

__all__ = ["HANDLERS", "WARM_IMPORTS", "WorkerPool"]

R = TypeVar("R")

#: The handler of each task: ``"module:function"`` taking the job and returning its result.
HANDLERS: dict[str, str] = {
    "latency": "hwfit.nas.latency._job:run_latency_job",
    "pair": "hwfit.bench.pool:run_pair_job",
    "row": "hwfit.bench.pool:run_row_job",
}
#: Imported by a new worker before its first job (a failure shows in that job instead).
WARM_IMPORTS = ("numpy", "onnxruntime", "openvino", "nncf")
_STOP_WAIT_S = 5.0


class WorkerPool:
    """One persistent worker process (``spawn``) that runs jobs one at a time.

    Use it as a context manager, or call :meth:`close`. The worker starts with the first job
    (or :meth:`start`) and again after it died or was killed.

    Args:
        handlers: Tasks to add to (or override in) :data:`HANDLERS`, ``"module:function"``.
        warm_imports: Modules the worker imports when it starts.
        name: The worker's process name.

    Example:
        >>> with WorkerPool() as pool:  # doctest: +SKIP
        ...     result = pool.run(job, timeout_s=300)
    """

    def __init__(
        self,
        *,
        handlers: Mapping[str, str] | None = None,
        warm_imports: Sequence[str] = WARM_IMPORTS,
        name: str = "hwfit-pool",
    ) -> None:
        self.handlers = {**HANDLERS, **(handlers or {})}
        self.warm_imports = tuple(warm_imports)
        self.name = name
        self._process: Any = None  # multiprocessing's SpawnProcess
        self._conn: Connection | None = None

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def pid(self) -> int | None:
        """The worker's process id while one runs, else None."""
        alive = self._process is not None and self._process.is_alive()
        return int(self._process.pid) if alive else None

    def start(self) -> None:
        """Start the worker now, when none runs (its imports then overlap the caller's work)."""
        if self._process is not None and self._process.is_alive():
            return
        self._kill()
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe()
        process = context.Process(
            target=_serve,
            args=(child, os.getpid(), self.handlers, self.warm_imports),
            daemon=True,
            name=self.name,
        )
        process.start()
        child.close()
        self._process, self._conn = process, parent

    def run(self, job: Job[R], timeout_s: float) -> R:
        """Run ``job`` in the worker and return its result.

        Args:
            job: The job; its ``task`` names the handler.
            timeout_s: Seconds the job may take; then the worker is killed.

        Returns:
            The handler's result, or ``job.failed(reason)`` when the worker crashed, exited
            without a result or timed out (the reason names the signal or the time-out).

        Raises:
            KeyboardInterrupt: Ctrl-C while waiting; the worker was killed.
        """
        self.start()
        conn = self._conn
        if conn is None:
            raise InternalError("The worker pool has no connection to its worker.")
        try:
            conn.send(job)
            if not conn.poll(timeout_s):
                self._kill()
                return job.failed(f"timed out after {timeout_s:.0f} s (worker killed)")
            result = conn.recv()
        except (EOFError, OSError):
            return job.failed(self._death())
        except BaseException:  # Ctrl-C: end the worker, let the caller stop
            self._kill()
            raise
        return cast(R, result)

    def close(self) -> None:
        """Ask the worker to exit, and kill it if it does not."""
        if self._process is None:
            return
        if self._conn is not None:
            with contextlib.suppress(OSError, ValueError):
                self._conn.send(None)
        self._process.join(_STOP_WAIT_S)
        self._kill()

    def _death(self) -> str:
        """Why the worker is gone; forgets it, so the next job starts a new one."""
        process = self._process
        process.join(10)
        code = process.exitcode
        self._kill()
        if code is not None and code < 0:
            return f"worker crashed with {signal.Signals(-code).name}"
        return f"worker exited with code {code} and no result"

    def _kill(self) -> None:
        if self._process is not None:
            with contextlib.suppress(OSError, ValueError):
                self._process.kill()
            self._process.join(10)
            with contextlib.suppress(ValueError):
                self._process.close()
        if self._conn is not None:
            self._conn.close()
        self._process, self._conn = None, None


def _serve(
    conn: Connection, parent_pid: int, handlers: Mapping[str, str], warm_imports: Sequence[str]
) -> None:
    """The worker's loop: import the frameworks once, then run jobs until told to stop."""
    die_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent ends this worker on Ctrl-C
    with contextlib.suppress(OSError):
        os.setsid()  # signals to the terminal's process group reach only the parent
    for module in warm_imports:
        with contextlib.suppress(Exception):
            importlib.import_module(module)
    resolved: dict[str, Callable[[Any], Any]] = {}
    try:
        while True:
            job = conn.recv()
            if job is None:
                return
            result = _handle(job, handlers, resolved)
            try:
                conn.send(result)
            except (pickle.PicklingError, TypeError, AttributeError) as exc:  # cannot pickle
                conn.send(job.failed(f"the result could not be sent back: {first_line(exc)}"))
    except (EOFError, BrokenPipeError):  # the parent closed the pipe: it is done with us
        return


def _handle(
    job: Any, handlers: Mapping[str, str], resolved: dict[str, Callable[[Any], Any]]
) -> Any:
    """Run ``job``'s handler; an error becomes the job's failed result, not a dead worker."""
    task = str(getattr(job, "task", None))
    if task not in handlers:
        known = ", ".join(sorted(handlers))
        return job.failed(f"no handler for the worker task {task!r}; known: {known}")
    try:
        if task not in resolved:
            resolved[task] = import_path(handlers[task])
        return resolved[task](job)
    except HwfitError as exc:
        return job.failed(exc.message)
    except Exception as exc:  # a converter's or runtime's own error fails this job only
        return job.failed(f"{type(exc).__name__}: {first_line(exc)}")


def run_row_job(job: RowJob) -> BenchResult:
    """The ``row`` task in a pool worker: :func:`hwfit.bench.worker.run_job`."""
    from hwfit.bench.worker import run_job

    return run_job(job)


def run_pair_job(job: PairJob) -> PairJobResult:
    """The ``pair`` task in a pool worker: :func:`hwfit.bench.pair_job.run_pair`."""
    from hwfit.bench.pair_job import run_pair

    return run_pair(job)
