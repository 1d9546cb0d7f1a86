"""The stdout and stderr consoles, the progress bar and JSON output of every command."""

from __future__ import annotations

import json
import logging

from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

__all__ = [
    "FULL_WIDTH",
    "console",
    "console_err",
    "log_handler",
    "print_error",
    "print_interrupted",
    "print_json",
    "progress_bar",
]

FULL_WIDTH = 100_000
"""The width of stdout when it is not a terminal (a log, CI, ``| tee``): no table is cut."""


def console() -> Console:
    """The stdout console: the terminal's width, or :data:`FULL_WIDTH` when not a terminal.

    rich falls back to 80 columns (or ``$COLUMNS``) when stdout is a pipe or a file, and
    shrinks tables to fit, so numbers in a log read ``56.…``; a file has no width to fit.
    """
    out = Console(soft_wrap=False)
    if not out.is_terminal:
        out.width = FULL_WIDTH
    return out


def console_err() -> Console:
    """The stderr console (errors, progress); as wide as :func:`console` when not a terminal."""
    err = Console(stderr=True)
    if not err.is_terminal:
        err.width = FULL_WIDTH
    return err


def progress_bar(disable: bool) -> Progress:
    """The progress bar of long commands, on stderr; off for --json and when not a terminal."""
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console_err(),
        transient=True,
        disable=disable or not console_err().is_terminal,
    )


def print_json(data: object) -> None:
    """Print machine-readable JSON on stdout (no colours, no wrapping)."""
    print(json.dumps(data, indent=2))


def print_error(message: str, hint: str | None) -> None:
    """The one error line (and its hint) on stderr; markup in either is shown as text.

    Escaped: "pip install 'psycopg[binary]'" must not lose "[binary]" as a markup tag.
    """
    err = console_err()
    err.print(f"[bold red]Error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    if hint:
        err.print(f"[dim]{escape(hint)}[/]", highlight=False, soft_wrap=True)


def print_interrupted() -> None:
    """The line a Ctrl-C (or SIGTERM) that no command reported ends with."""
    console_err().print("[yellow]Interrupted.[/]")


def log_handler() -> logging.Handler:
    """The handler that shows log records (``-v``) on stderr."""
    return RichHandler(show_path=False)
