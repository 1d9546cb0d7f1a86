"""The one progress protocol every command reports through.

A long-running command (``bench``, ``optimize``, ``frontier``, ``gap``, ``search``) takes an
optional ``progress`` callable and calls it with a :class:`ProgressEvent` after each step; the
CLI turns the events into its progress bar and lines (``cli/render``), the API user into
whatever they like. One signature for every command, as Optuna has one callback signature.
"""

from __future__ import annotations

import dataclasses
from typing import Protocol

__all__ = ["Progress", "ProgressEvent"]


@dataclasses.dataclass(frozen=True)
class ProgressEvent:
    """One step of a command.

    Attributes:
        command: The command reporting ("bench", "optimize", "frontier", "gap", "search").
        phase: The part of it now running (e.g. "measure", "screen", "train", "verify").
        done: Steps finished in this phase.
        total: Steps in this phase (None: not known in advance).
        label: What the step was about (a row's configuration, a candidate, an architecture).
        note: A short line for the user ("" for none).
        result: The record the step produced (a BenchResult, an Outcome, ...), or None.
    """

    command: str
    phase: str
    done: int
    total: int | None = None
    label: str = ""
    note: str = ""
    result: object | None = None


class Progress(Protocol):
    """Called with each :class:`ProgressEvent`; must not raise."""

    def __call__(self, event: ProgressEvent, /) -> None:
        """Receive one event."""
