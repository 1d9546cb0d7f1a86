"""A worker process ends with its parent: :func:`die_with_parent`.

A worker whose parent is gone (``kill -9`` of the CLI, an out-of-memory kill, a closed
terminal) has no one to read its result and no one to remove the parent's temporary folder.
Left alone it would keep the machine busy until its own job ends, which for a hung runtime is
never. :func:`die_with_parent` covers that three ways, each catching what the others miss:

* On Linux, ``prctl(PR_SET_PDEATHSIG)``: the kernel sends :data:`DEATH_SIGNAL` the moment the
  parent dies, and its handler removes the folder and exits with 143. The signal is not
  SIGTERM, so "the parent died" is never mistaken for "someone asked this worker to stop":
  some kernels deliver the death signal before ``getppid()`` names the new parent, so the
  handler waits (up to :data:`REPARENT_WAIT_S`) for it to change.
* A SIGTERM handler: when the parent is gone it cleans up and exits likewise; when the parent
  is alive (the parent, or a user, ended this worker) the worker dies of SIGTERM as it would
  without the handler, and the folder stays for the parent to read and remove.
* A daemon thread that polls ``os.getppid()`` every :data:`POLL_S` seconds: systems without
  prctl, and a main thread busy inside native code, where a Python signal handler cannot run
  until the call returns (runtimes release the GIL while they compute, so the thread can).

A worker forked by a fork server (:mod:`hwfit.bench._forkserver`) has the server as its parent,
not its caller: there :func:`end_with_caller` adds a fourth way, a thread that wakes when the
caller's end of a pipe closes.

A worker stuck in native code that holds the GIL is out of reach of all of them; the parent's
own time-out and kill cover it while the parent lives. Children the worker forks inherit the
handlers but not their meaning: in them the handlers act as if they were not installed.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType
from typing import NoReturn

__all__ = [
    "DEATH_SIGNAL",
    "EXIT_TERMINATED",
    "PARENT_PID_ENV",
    "POLL_S",
    "REPARENT_WAIT_S",
    "TMP_PREFIX",
    "die_with_parent",
    "end_with_caller",
]

EXIT_TERMINATED = 143  # 128 + SIGTERM: what a shell reports for a process ended by SIGTERM
DEATH_SIGNAL = signal.SIGUSR2  # what the kernel sends when the parent dies (Linux)
POLL_S = 0.5  # the watchdog's period: an orphaned worker ends within about this long
REPARENT_WAIT_S = 1.0  # how long the death signal's handler waits for getppid() to change
PARENT_PID_ENV = "HWFIT_PARENT_PID"  # the pid a worker watches: it ends when that process does
TMP_PREFIX = "hwfit-worker-"  # a worker's folder (job, result, log); an orphaned worker removes it
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
_ENDING = threading.RLock()


def die_with_parent(parent_pid: int, cleanup: Path | None = None) -> None:
    """Make this process end when its parent ``parent_pid`` ends; call it first thing.

    It reads no ``argv`` and starts no process, so a worker started by :mod:`subprocess` or by
    :mod:`multiprocessing` (any start method) calls it the same way. Call it from the main
    thread: elsewhere no signal handler can be installed, and only the watchdog thread
    notices the parent's death. The Linux death signal follows the parent *thread* that
    started this process; when that thread ends but the parent lives, the worker goes on.

    Args:
        parent_pid: The parent's pid as the parent sent it (an environment variable, an
            argument). It cannot be read here: a parent that died before this call would
            already have been replaced by the process that adopted this one.
        cleanup: A folder to remove when the parent is gone (the parent's temporary folder
            for this worker), with everything in it; None removes nothing.

    Example:
        >>> import os
        >>> die_with_parent(os.getppid())  # doctest: +SKIP
    """
    owner = os.getpid()

    def orphaned(wait_s: float = 0.0) -> bool:
        deadline = time.monotonic() + wait_s
        while os.getppid() == parent_pid:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)
        return True

    def on_death_signal(signum: int, frame: FrameType | None) -> None:
        if os.getpid() != owner:
            _as_if_unhandled(signum)
        if orphaned(REPARENT_WAIT_S):
            _end_orphan(cleanup)
        # The parent lives; only the thread that started this worker ended. Go on watching.

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        if os.getpid() == owner and orphaned():
            _end_orphan(cleanup)
        # The parent (or a user) asked this worker to stop: die of SIGTERM, as without
        # this handler, so the parent reports the signal and reads what is left.
        _as_if_unhandled(signum)

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, on_sigterm)
        signal.signal(DEATH_SIGNAL, on_death_signal)
        _set_parent_death_signal(DEATH_SIGNAL)  # only with its handler in place
    if orphaned():  # the parent died before the death signal was arranged
        _end_orphan(cleanup)
    threading.Thread(
        target=_watch, args=(parent_pid, cleanup), name="hwfit-die-with-parent", daemon=True
    ).start()


def end_with_caller(sentinel: int, cleanup: Path | None = None) -> None:
    """End this process as soon as ``sentinel`` reaches its end; call it first thing.

    For a process whose parent is not its caller (a worker forked by a fork server):
    :func:`die_with_parent` watches the parent, which may outlive the caller by seconds (a
    fork server shutting down on a core that a real-time worker keeps busy). ``sentinel`` is
    the read end of a pipe whose write end only the caller holds (multiprocessing's
    ``parent_process().sentinel``): the kernel closes it when the caller dies, however it
    dies, and a thread blocked on it wakes at once.

    Args:
        sentinel: The pipe's read end.
        cleanup: A folder to remove when the caller is gone, as for :func:`die_with_parent`.
    """

    def watch() -> None:
        with contextlib.suppress(OSError):
            while os.read(sentinel, 4096):  # data the caller sent and nobody read: not an end
                pass
        _end_orphan(cleanup)

    threading.Thread(target=watch, name="hwfit-end-with-caller", daemon=True).start()


def _set_parent_death_signal(sig: signal.Signals) -> bool:
    """Ask Linux to send ``sig`` when the parent dies; False where that is not available."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)  # the C library this process already uses
        return bool(libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0)
    except (OSError, AttributeError):  # no libc symbol table (static builds, some sandboxes)
        return False


def _watch(parent_pid: int, cleanup: Path | None) -> None:
    while True:
        time.sleep(POLL_S)
        if os.getppid() != parent_pid:
            _end_orphan(cleanup)


def _as_if_unhandled(signum: int) -> None:
    """Take the default action of ``signum`` (for SIGTERM and SIGUSR2: the process ends)."""
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def _end_orphan(cleanup: Path | None) -> NoReturn:
    """Remove the parent's folder, end this worker's own helper processes, and exit."""
    # The signal handler and the watchdog may both get here: the second waits, so neither
    # exits while the other is half-way through the folder (re-entrant for the main thread).
    _ENDING.acquire()
    if cleanup is not None:
        shutil.rmtree(cleanup, ignore_errors=True)
    # A worker that leads its own process group (spawn_worker starts it in a new session)
    # takes the processes it started along. One that does not (a multiprocessing child shares
    # its parent's group) must not signal the group: that would reach its parent's siblings.
    if os.getpgrp() == os.getpid():
        with contextlib.suppress(OSError):
            os.killpg(os.getpid(), signal.SIGKILL)
    os._exit(EXIT_TERMINATED)
