"""Workers forked from a fork server that imported the frameworks once.

A fresh interpreter spends seconds importing PyTorch, torchvision and timm before a worker
does anything (about 5 s on a busy 2-core machine), and every benchmark row, paired figure,
first forward pass and quantization job starts one. multiprocessing's fork server imports
:data:`PRELOAD` once, in a process of its own started with the first worker, and forks each
worker from it: the worker starts with the frameworks loaded and with no state of the
caller's (the server is a fresh interpreter, not a copy of the caller).

Two things differ from a plain ``forkserver`` :class:`multiprocessing.Process`, both so that
a forked worker behaves as a fresh ``python -m hwfit.bench.worker`` would:

* The caller's ``__main__`` is not run again in the worker (multiprocessing re-imports it,
  which runs a user's script that lacks the ``if __name__ == "__main__"`` guard a second
  time); the worker gets the caller's ``sys.path`` and working folder.
* The worker gives back its copy of the fork server's "alive" pipe (:func:`detach`), so the
  server ends when the caller does instead of living on with its workers. The worker itself
  ends with its caller through :func:`hwfit.bench.lifecycle.end_with_caller` (the caller's
  pipe), which :func:`hwfit.bench.spawn.spawn_worker`'s worker arranges first thing: the
  server's own exit can lag the caller's by seconds on a busy machine.

Environment variables that native libraries read when they load (``OMP_NUM_THREADS``, say)
cannot reach a worker whose libraries the server loaded: :func:`usable` says no when they
changed since the server started, and the caller then starts a fresh interpreter.
"""

from __future__ import annotations

import io
import os
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from multiprocessing import forkserver, popen_forkserver, reduction, spawn, util
from multiprocessing.context import ForkServerProcess, set_spawning_popen
from typing import Any

__all__ = ["ENV_SWITCH", "PRELOAD", "detach", "start", "usable"]

#: Imported once by the fork server: what nearly every job needs and what costs the most to
#: import. None of them starts a thread when imported, so forking after them is safe.
PRELOAD = ("numpy", "torch", "torchvision", "timm", "hwfit.bench.worker")
ENV_SWITCH = "HWFIT_FORKSERVER"  # "0": every worker starts a fresh interpreter
# Prefixes of the variables read once, when a preloaded library or Python itself loads: GNU
# OpenMP (PyTorch's thread pool), oneMKL (PyTorch's, to be safe), OpenBLAS (numpy's), the
# dynamic loader, glibc's malloc, the interpreter. Others reach a forked worker as they are
# when it starts: those read later (TORCH_*, CUDA_*, oneDNN's, read at first use), those of
# libraries the worker loads itself (OpenVINO, ONNX Runtime), and Intel OpenMP's KMP_*, which
# importing scikit-learn sets in the caller and no preloaded library reads.
_LOAD_TIME_ENV = ("OMP_", "GOMP_", "MKL_", "OPENBLAS_", "LD_", "MALLOC_", "PYTHON")
_MAIN_KEYS = ("init_main_from_path", "init_main_from_name")
_started_env: dict[str, str] | None = None  # those variables when the server started
_lock = threading.Lock()


def usable(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether a worker forked now would see what a fresh interpreter would see.

    False off Linux, with ``HWFIT_FORKSERVER=0``, and when a variable that a preloaded
    library read when it loaded has changed since the fork server started.
    """
    if environ.get(ENV_SWITCH, "1") == "0" or not sys.platform.startswith("linux"):
        return False
    return _started_env is None or _started_env == _load_time_env(environ)


def start(target: Callable[..., Any], args: Sequence[Any], name: str) -> ForkServerProcess:
    """Fork a worker from the fork server (started here when none runs) and return it.

    ``target`` must be importable by name (a module-level function): it travels pickled.
    """
    global _started_env
    with _lock:
        if _started_env is None:
            forkserver.set_forkserver_preload(list(PRELOAD))
            _started_env = _load_time_env(os.environ)
    process = _WorkerProcess(target=target, args=tuple(args), name=name)
    process.start()
    return process


def detach() -> None:
    """In a forked worker: close its copy of the fork server's "alive" pipe.

    The server ends when every holder of that pipe has closed it; a worker holding a copy
    would keep the server, and so itself, running after its caller died.
    """
    server: Any = forkserver._forkserver  # its fields are private and untyped
    fd = server._forkserver_alive_fd
    if fd is not None:
        os.close(fd)
        server._forkserver_alive_fd = None


def _load_time_env(environ: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in environ.items() if k.upper().startswith(_LOAD_TIME_ENV)}


class _Popen(popen_forkserver.Popen):
    """The fork server's launch (Python 3.11's own, line for line) less the main module."""

    def _launch(self, process_obj: Any) -> None:
        prep_data = spawn.get_preparation_data(process_obj._name)
        for key in _MAIN_KEYS:  # the only change: do not run the caller's __main__ again
            prep_data.pop(key, None)
        buf = io.BytesIO()
        set_spawning_popen(self)
        try:
            reduction.dump(prep_data, buf)
            reduction.dump(process_obj, buf)
        finally:
            set_spawning_popen(None)
        self.sentinel, w = forkserver.connect_to_new_process(self._fds)  # type: ignore[attr-defined]
        # A duplicate of the data pipe's write end: the child's sentinel of its parent.
        parent_w = os.dup(w)
        close_fds = util.close_fds  # type: ignore[attr-defined]
        self.finalizer = util.Finalize(self, close_fds, (parent_w, self.sentinel))
        with os.fdopen(w, "wb") as f:
            f.write(buf.getbuffer())
        self.pid = forkserver.read_signed(self.sentinel)


class _WorkerProcess(ForkServerProcess):
    @staticmethod
    def _Popen(process_obj: Any) -> _Popen:
        return _Popen(process_obj)
