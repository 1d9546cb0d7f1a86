"""Options several commands share: one name, type, short flag, help and default each.

Every command declares a shared option through the factories here, so ``--batch`` is the same
comma-separated list with ``-b`` in ``bench``, ``optimize`` and ``frontier``, and ``--duration``
has one meaning and one default everywhere. A command that cannot sweep a value still takes the
list syntax and refuses more than one value in one line (:func:`single`), rather than taking a
different type. ``tests/cli/test_options.py`` walks every command's options and checks that
they agree.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TypeVar

import typer
from typer.models import OptionInfo

from hwfit.errors import UserError

__all__ = [
    "DURATION_HELP",
    "DURATION_S",
    "LIST",
    "batch_option",
    "db_option",
    "duration_option",
    "family_option",
    "int_list",
    "json_option",
    "models_option",
    "no_save_option",
    "out_option",
    "precision_option",
    "runtime_option",
    "single",
    "str_list",
    "strict_data_option",
    "threads_option",
    "threads_warning",
    "trust_model_option",
    "usable_cores",
]

T = TypeVar("T")

LIST = "LIST"
"""The metavar of every comma-separated option (``--help`` shows it in the type column)."""

DURATION_S = 5.0
"""The one default of ``--duration``: the time limit of each timed loop, seconds."""

DURATION_HELP = (
    "Time limit of each timed loop (one per row, candidate or model), seconds; a loop ends "
    "sooner once the 95% CI of its median is within +-2%."
)


def _info(option: object) -> OptionInfo:
    # typer.Option is typed as returning Any; it returns the OptionInfo Annotated carries.
    if not isinstance(option, OptionInfo):  # pragma: no cover - typer's own contract
        raise TypeError(f"typer.Option returned {type(option).__name__}")
    return option


def runtime_option(help_text: str) -> OptionInfo:
    """``--runtime/-r``: comma-separated runtime names."""
    return _info(typer.Option("--runtime", "-r", metavar=LIST, help=help_text))


def batch_option(help_text: str) -> OptionInfo:
    """``--batch/-b``: comma-separated batch sizes."""
    return _info(typer.Option("--batch", "-b", metavar=LIST, help=help_text))


def threads_option(help_text: str) -> OptionInfo:
    """``--threads/-t``: comma-separated thread counts."""
    return _info(typer.Option("--threads", "-t", metavar=LIST, help=help_text))


def precision_option(help_text: str) -> OptionInfo:
    """``--precision/-p``: comma-separated precisions."""
    return _info(typer.Option("--precision", "-p", metavar=LIST, help=help_text))


def family_option(help_text: str) -> OptionInfo:
    """``--family/-f``: comma-separated zoo families."""
    return _info(typer.Option("--family", "-f", metavar=LIST, help=help_text))


def models_option(help_text: str) -> OptionInfo:
    """``--models``: comma-separated model names."""
    return _info(typer.Option("--models", metavar=LIST, help=help_text))


def out_option(help_text: str) -> OptionInfo:
    """``--out/-o``: the output folder."""
    return _info(typer.Option("--out", "-o", help=help_text))


def duration_option() -> OptionInfo:
    """``--duration``: one meaning (:data:`DURATION_HELP`), one default (:data:`DURATION_S`)."""
    return _info(typer.Option("--duration", help=DURATION_HELP))


def no_save_option(
    help_text: str = "Do not store the measurements in the database.",
) -> OptionInfo:
    """``--no-save``: offered by every command that stores rows."""
    return _info(typer.Option("--no-save", help=help_text))


def db_option(
    help_text: str = "Database URL or SQLite file (default: your data folder).",
) -> OptionInfo:
    """``--db``: the results database."""
    return _info(typer.Option("--db", help=help_text))


def json_option(help_text: str = "Print JSON instead of the table.") -> OptionInfo:
    """``--json``: machine-readable output."""
    return _info(typer.Option("--json", help=help_text))


def trust_model_option() -> OptionInfo:
    """``--trust-model``: offered by every command that loads a model file (README "Security")."""
    return _info(
        typer.Option(
            "--trust-model",
            help="Allow model files that unpickle on load (TorchScript, pickled torch.export "
            "parts); only for files you trust.",
        )
    )


def strict_data_option() -> OptionInfo:
    """``--strict-data``: offered by every command that reads the user's images."""
    return _info(
        typer.Option(
            "--strict-data",
            help="Fail on the first image that cannot be decoded (default: skip and count it).",
        )
    )


def str_list(text: str | None) -> list[str] | None:
    """``"a, b,,c"`` -> ``["a", "b", "c"]``; None or blank -> None.

    Example:
        >>> str_list(" onnxruntime, openvino ,")
        ['onnxruntime', 'openvino']
        >>> str_list("") is None
        True
    """
    if text is None:
        return None
    values = [t.strip() for t in text.split(",") if t.strip()]
    return values or None


def int_list(text: str, option: str) -> list[int]:
    """Comma-separated positive integers, or a one-line :class:`UserError` naming ``option``.

    Example:
        >>> int_list("1, 8,32", "--batch")
        [1, 8, 32]
    """
    try:
        values = [int(v) for v in text.replace(" ", "").split(",") if v]
    except ValueError:
        values = []
    if not values or any(v < 1 for v in values):
        raise UserError(
            f"{option} takes comma-separated integers >= 1, got {text!r}.",
            hint=f"E.g. {option} 1,2",
        )
    return values


def single(values: Sequence[T], option: str, command: str, hint: str) -> T:
    """The one value of a list option that ``command`` cannot sweep, or a one-line error.

    Example:
        >>> single([8], "--batch", "optimize", "")
        8
    """
    if len(values) != 1:
        shown = ",".join(str(v) for v in values)
        raise UserError(f"hwfit {command} takes one {option} value, got {shown!r}.", hint=hint)
    return values[0]


def usable_cores() -> int:
    """Hardware threads this process may run on (its CPU affinity)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def threads_warning(threads: Sequence[int | None]) -> str | None:
    """The warning line when a requested thread count exceeds the usable cores, else None.

    Example:
        >>> threads_warning([None, 1]) is None
        True
    """
    cores = usable_cores()
    over = sorted({t for t in threads if t is not None and t > cores})
    if not over:
        return None
    shown = ",".join(str(t) for t in over)
    return (
        f"Warning: --threads {shown} is more than the {cores} cores this process may use; "
        "those rows oversubscribe the CPU and measure the contention, not the model."
    )
