"""Run one worker job in a fresh process (the one-shot isolated worker).

A segfault or hang inside a runtime ends that worker only: the parent reads a result file
or, when there is none, says why (signal, time-out, exit code and the worker's last line).
The worker ends with its parent (see :mod:`hwfit.bench.lifecycle`): a parent killed with
``kill -9`` leaves no worker running and no temporary folder behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hwfit import errors
from hwfit.errors import HwfitError, ModelSourceError
from hwfit.records import ModelInfo, from_dict

__all__ = [
    "CHECK_TIMEOUT_S",
    "PARENT_PID_ENV",
    "TMP_PREFIX",
    "describe_in_worker",
    "error_from_dict",
    "error_to_dict",
    "spawn_worker",
]

PARENT_PID_ENV = "HWFIT_PARENT_PID"  # the worker ends when this process does
TMP_PREFIX = "hwfit-worker-"  # a worker's folder (job, result, log); an orphaned worker removes it
CHECK_TIMEOUT_S = 600.0  # building a large model and one forward pass on a slow, busy CPU


def spawn_worker(job: dict[str, Any], timeout_s: float) -> tuple[dict[str, Any] | None, str]:
    """Run one worker job in a fresh process; return ``(result, "")`` or ``(None, why)``.

    ``why`` names the timeout, the signal of a crash, or the exit code and the last line the
    worker printed. Ctrl-C (or SIGTERM, which the CLI raises as an interrupt) in the parent
    ends the worker and is raised again; a parent that dies without a word is noticed by the
    worker itself, which removes the temporary folder and exits.
    """
    with tempfile.TemporaryDirectory(prefix=TMP_PREFIX) as tmp:
        job_path, result_path, log_path = (
            Path(tmp) / n for n in ("job.json", "result.json", "log.txt")
        )
        job_path.write_text(json.dumps(job))
        env = dict(os.environ)
        # The worker must import what the parent can (plug-ins registered from user modules).
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p and Path(p).exists())
        env[PARENT_PID_ENV] = str(os.getpid())
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "hwfit.bench.worker", str(job_path), str(result_path)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,  # Ctrl-C reaches the parent only; we end the worker
            )
            try:
                code = proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                _kill(proc)
                return None, f"timed out after {timeout_s:.0f} s (worker killed)"
            except BaseException:
                _kill(proc)
                raise
        if result_path.exists():
            return json.loads(result_path.read_text()), ""
        tail = _last_line(log_path)
        if code < 0:
            why = f"worker crashed with {signal.Signals(-code).name}"
        else:
            why = f"worker exited with code {code} and no result"
        return None, why + (f": {tail}" if tail else "")


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


def error_to_dict(exc: HwfitError) -> dict[str, str | None]:
    """An hwfit error as a worker writes it into its result file."""
    return {"type": type(exc).__name__, "message": exc.message, "hint": exc.hint}


def error_from_dict(data: dict[str, Any]) -> HwfitError:
    """The hwfit error a worker wrote with :func:`error_to_dict` (a UserError if unknown)."""
    cls = getattr(errors, str(data.get("type")), None)
    if not (isinstance(cls, type) and issubclass(cls, HwfitError)):
        cls = errors.UserError
    return cls(str(data.get("message")), hint=data.get("hint"))


def _kill(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _last_line(path: Path) -> str:
    lines = [ln.strip() for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    return lines[-1][:300] if lines else ""
