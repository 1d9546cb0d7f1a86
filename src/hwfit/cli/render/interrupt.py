"""Ctrl-C and SIGTERM: one path that keeps what finished, says so, and exits 130 (or 143)."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType
from typing import NoReturn

import typer

from hwfit.bench.lifecycle import EXIT_TERMINATED
from hwfit.cli.render.console import console_err

__all__ = [
    "EXIT_INTERRUPTED",
    "Terminated",
    "interrupt_reported",
    "interrupted_exit_code",
    "sigterm_as_interrupt",
    "stop_interrupted",
]

EXIT_INTERRUPTED = 130  # 128 + SIGINT: Ctrl-C
# EXIT_TERMINATED (143, 128 + SIGTERM): kill, a service manager, a CI job's time-out
_reported: list[str] = []  # what a command said when Ctrl-C (or SIGTERM) stopped it
_terminated: list[int] = []  # SIGTERM arrived: the exit code is 143, not 130


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C raises KeyboardInterrupt (:func:`sigterm_as_interrupt`)."""


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Inside the block SIGTERM stops a command as Ctrl-C does, and the exit code is 143.

    So every command's Ctrl-C path (keep what finished, say so, end the workers) serves
    ``kill`` as well. The previous handler is put back afterwards. Outside the main thread
    (where no handler can be installed), and where SIGTERM was ignored when the process
    started, it is left as it is.
    """
    _reported.clear()
    _terminated.clear()

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        _terminated.append(signum)
        raise Terminated

    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGTERM) is signal.SIG_IGN  # as Python leaves SIGINT
    ):
        yield
        return
    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


def interrupted_exit_code() -> int:
    """The exit code of an interrupted command: 143 after SIGTERM, else 130 (Ctrl-C)."""
    return EXIT_TERMINATED if _terminated else EXIT_INTERRUPTED


def stop_interrupted(message: str) -> NoReturn:
    """Say what Ctrl-C (or SIGTERM) left behind (stderr, yellow) and exit 130 (or 143)."""
    _reported.append(message)
    console_err().print(f"[yellow]{message}[/]", highlight=False, soft_wrap=True)
    raise typer.Exit(interrupted_exit_code())


def interrupt_reported() -> bool:
    """True when a command already said why it stopped (:func:`stop_interrupted`)."""
    return bool(_reported)
