"""Run one worker job in a fresh process (the one-shot isolated worker).

A segfault or hang inside a runtime ends that worker only: the parent reads a result file
or, when there is none, says why (signal, time-out, exit code and the worker's last line).
The worker ends with its parent (see :mod:`hwfit.bench.lifecycle`): a parent killed with
``kill -9`` leaves no worker running and no temporary folder behind.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hwfit.bench import _forkserver
from hwfit.bench.jobs import error_from_dict
from hwfit.bench.lifecycle import PARENT_PID_ENV, TMP_PREFIX, end_with_caller
from hwfit.errors import ModelSourceError
from hwfit.records import ModelInfo, from_dict

__all__ = [
    "CHECK_TIMEOUT_S",
    "describe_in_worker",
    "spawn_worker",
]

CHECK_TIMEOUT_S = 600.0  # building a large model and one forward pass on a slow, busy CPU


def spawn_worker(job: dict[str, Any], timeout_s: float) -> tuple[dict[str, Any] | None, str]:
    """Run one worker job in a fresh process; return ``(result, "")`` or ``(None, why)``.

    ``why`` names the timeout, the signal of a crash, or the exit code and the last line the
    worker printed. Ctrl-C (or SIGTERM, which the CLI raises as an interrupt) in the parent
    ends the worker and is raised again; a parent that dies without a word is noticed by the
    worker itself, which removes the temporary folder and exits.

    The worker is forked from a fork server that imported PyTorch, torchvision and timm once
    (:mod:`hwfit.bench._forkserver`; a fresh interpreter spends seconds importing them for
    every job) and runs in a session of its own, with this process's environment, as a fresh
    interpreter would. Where the environment changed since the fork server started in a way
    the preloaded libraries read when they load (``OMP_NUM_THREADS``, say), or
    ``HWFIT_FORKSERVER=0`` is set, it starts a fresh interpreter instead
    (``python -m hwfit.bench.worker``).
    """
    with tempfile.TemporaryDirectory(prefix=TMP_PREFIX) as tmp:
        job_path, result_path, log_path = (
            Path(tmp) / n for n in ("job.json", "result.json", "log.txt")
        )
        job_path.write_text(json.dumps(job))
        argv = [str(job_path), str(result_path)]
        if _forkserver.usable():
            code = _run_forked(argv, log_path, timeout_s)
        else:
            code = _run_exec(argv, log_path, timeout_s)
        if code is None:
            return None, f"timed out after {timeout_s:.0f} s (worker killed)"
        if result_path.exists():
            return json.loads(result_path.read_text()), ""
        tail = _last_line(log_path)
        if code < 0:
            why = f"worker crashed with {signal.Signals(-code).name}"
        else:
            why = f"worker exited with code {code} and no result"
        return None, why + (f": {tail}" if tail else "")


def _run_exec(argv: list[str], log_path: Path, timeout_s: float) -> int | None:
    """Run the worker in a fresh interpreter; its exit code, or None after a time-out."""
    env = dict(os.environ)
    # The worker must import what the parent can (plug-ins registered from user modules).
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p and Path(p).exists())
    env[PARENT_PID_ENV] = str(os.getpid())
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "hwfit.bench.worker", *argv],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,  # Ctrl-C reaches the parent only; we end the worker
        )
        try:
            return proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            _kill_group(proc.pid)
            proc.wait()
            return None
        except BaseException:
            _kill_group(proc.pid)
            proc.wait()
            raise


def _run_forked(argv: list[str], log_path: Path, timeout_s: float) -> int | None:
    """Run the worker forked from the fork server; its exit code, or None after a time-out."""
    process = _forkserver.start(
        _forked_main, (argv, str(log_path), dict(os.environ)), "hwfit-worker"
    )
    pid = int(process.pid or 0)  # set once started
    timed_out = True
    try:
        process.join(timeout_s)
        timed_out = process.exitcode is None
    finally:
        if process.exitcode is None:  # timed out, or Ctrl-C or SIGTERM while waiting
            _kill_group(pid)
            process.join()
        code = process.exitcode
        process.close()
    return None if timed_out or code is None else code


def _forked_main(argv: list[str], log_path: str, env: dict[str, str]) -> None:
    """A forked worker's first steps: what a fresh interpreter would have, then the job."""
    _forkserver.detach()
    # A fresh interpreter's default start method: a fork server's child inherits "forkserver",
    # and a library that starts a multiprocessing.Pool in the worker would start a second server.
    multiprocessing.set_start_method(None, force=True)
    caller = multiprocessing.parent_process()  # this process's caller, not its parent
    if caller is not None:  # always, in a multiprocessing child; ends at once if it is gone
        end_with_caller(caller.sentinel, cleanup=Path(argv[0]).parent)
    os.setsid()  # its own session, as spawn's start_new_session: Ctrl-C reaches the parent only
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    os.environ.clear()
    os.environ.update(env)
    # The worker also watches the fork server, its parent (see die_with_parent).
    os.environ[PARENT_PID_ENV] = str(os.getppid())
    tempfile.tempdir = None  # TMPDIR as the parent has it now
    from hwfit.bench.worker import main

    sys.exit(main(argv))


def describe_in_worker(
    spec: str, input_shape: Sequence[int] | None, weights: str | None, trust_model: bool = False
) -> ModelInfo:
    """Build a PyTorch model and run its first forward pass in a worker; return its info.

    The CLI loads models this way (see :func:`hwfit.models.sources.describe_torch_with`): a
    model whose forward pass crashes natively (segfault, abort) or hangs then fails as one
    error line instead of taking the CLI down with it.

    Raises:
        UserError: What :func:`hwfit.models.sources.describe` raises, raised again here
            (unknown name, bad weights, a shape the model rejects).
        ModelSourceError: The worker crashed, exited without a result, or timed out.
    """
    job = {
        "task": "describe",
        "spec": spec,
        "input_shape": list(input_shape) if input_shape is not None else None,
        "weights": weights,
        "trust_model": trust_model,
    }
    result, why = spawn_worker(job, CHECK_TIMEOUT_S)
    if result is None:
        raise ModelSourceError(
            f"Model {spec!r} could not run one forward pass: {why}.",
            hint="hwfit stopped before measuring. The model, or a native library it calls, "
            "crashes or hangs in PyTorch on this machine; run it once in plain Python to see "
            "where.",
        )
    if "error" in result:
        raise error_from_dict(result["error"])
    return from_dict(ModelInfo, result["info"])


def _kill_group(pid: int) -> None:
    """Kill the worker and what it started (its session); the worker alone if it has none yet."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:  # forked, but not yet in a session of its own
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _last_line(path: Path) -> str:
    lines = [ln.strip() for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    return lines[-1][:300] if lines else ""
