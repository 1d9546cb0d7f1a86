"""The hwfit error tree.

Every error hwfit raises on purpose derives from :class:`HwfitError`::

    HwfitError
    ├── UserError                 bad input; the message names the thing, ``hint`` says what to do
    │   ├── UnknownNameError      unknown model, runtime or precision name (with suggestions)
    │   ├── ModelSourceError      missing, unreadable or corrupt model file; bad factory
    │   │   └── UntrustedModelError  a model file that runs code when loaded, not trusted
    │   ├── InputShapeError       shape missing, malformed, dynamic, or not accepted by the model
    │   ├── PluginUnavailableError  a runtime's package is not installed
    │   └── DatabaseError         the results database cannot be opened or written
    ├── RuntimeFailure            a crash inside one runtime (a FAILED row; the run goes on)
    │   └── UnsupportedModelError the runtime cannot run this model (names the operator)
    └── InternalError             a bug in hwfit: please report it

The CLI turns a :class:`HwfitError` into one red line plus the hint and a non-zero exit code.
"""

from __future__ import annotations

__all__ = [
    "DatabaseError",
    "HwfitError",
    "InputShapeError",
    "InternalError",
    "ModelSourceError",
    "PluginUnavailableError",
    "RuntimeFailure",
    "UnknownNameError",
    "UnsupportedModelError",
    "UntrustedModelError",
    "UserError",
    "first_line",
]


def first_line(exc: BaseException, limit: int = 400) -> str:
    r"""The first line of an exception's message (its type name when empty), cut at ``limit``.

    Example:
        >>> first_line(ValueError("bad shape\ndetails..."))
        'bad shape'
        >>> first_line(RuntimeError())
        'RuntimeError'
    """
    text = str(exc).strip()
    return text.splitlines()[0][:limit] if text else type(exc).__name__


class HwfitError(Exception):
    """Root of every error hwfit raises on purpose.

    Args:
        message: What went wrong, naming the offending thing.
        hint: What the user can do about it; shown on its own line by the CLI.
    """

    exit_code: int = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} {self.hint}"


class UserError(HwfitError):
    """Bad input: the user can fix it (exit code 2)."""

    exit_code = 2


class UnknownNameError(UserError):
    """A name (model, runtime, precision) that hwfit does not know."""


class ModelSourceError(UserError):
    """A model file or factory that cannot be found, read or built."""


class UntrustedModelError(ModelSourceError):
    """A model file that would run code when loaded (a pickle, TorchScript), not trusted.

    The user allows it with ``--trust-model`` (API: ``trust_model=True``).
    """


class InputShapeError(UserError):
    """An input shape that is missing, malformed, dynamic, or rejected by the model."""


class PluginUnavailableError(UserError):
    """A plug-in whose package is not installed."""


class DatabaseError(UserError):
    """The results database cannot be reached, opened or written."""


class RuntimeFailure(HwfitError):
    """A failure inside one runtime; it fails that benchmark row only."""


class UnsupportedModelError(RuntimeFailure):
    """The runtime cannot run this model (the message names the operator when known)."""


class InternalError(HwfitError):
    """A bug in hwfit."""

    exit_code = 3
