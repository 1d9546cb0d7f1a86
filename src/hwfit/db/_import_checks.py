"""What ``hwfit import`` checks in a row before storing it: names it knows, clean paths, text.

An exchange file comes from another machine or another person; its rows end up in the history
tables, the reports and, on a team's server, in everybody's. A row is stored only when its
values are ones hwfit itself writes:

* the runtime is a registered one (:data:`hwfit.runtimes.RUNTIMES`: the CPU runtimes and the
  CUDA, TensorRT and OpenVINO-GPU ones), the requested precision a
  :class:`~hwfit.precisions.Precision`, the model kind ``torch``, ``onnx`` or ``openvino``;
  a near miss is named (``Did you mean 'onnxruntime'?``);
* ``model.path`` and ``model.weights``, which hwfit writes resolved (absolute, no ``..``), are
  absolute and free of ``.``/``..`` parts; ``model.source`` is the spec as the user typed it
  (``../m.onnx`` is a legitimate one) and is only held to the text rule below;
* no text holds control characters (an escape sequence in a model name would be replayed by
  every terminal that shows the history), and path values no line breaks either.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Iterable, Iterator
from pathlib import PurePosixPath, PureWindowsPath

from hwfit.precisions import Precision
from hwfit.records import BenchResult, to_dict
from hwfit.runtimes import RUNTIMES

__all__ = ["RowProblem", "machine_problem", "row_problem"]

MODEL_KINDS = ("onnx", "openvino", "torch")
# C0 controls but tab and line breaks, and DEL; path values may not hold line breaks either.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_PATH_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclasses.dataclass(frozen=True)
class RowProblem:
    """Why one value of a row is refused.

    Attributes:
        field: Where it is, dotted (``config.runtime``, ``model.path``).
        problem: What is wrong, naming the value.
        hint: What to do.
    """

    field: str
    problem: str
    hint: str

    @property
    def sentence(self) -> str:
        """The problem ending in a full stop (or the question of a suggestion)."""
        return self.problem if self.problem.endswith((".", "?")) else f"{self.problem}."


def row_problem(result: BenchResult) -> RowProblem | None:
    """Return the first value of ``result`` that hwfit would not have written, or None.

    Example:
        >>> from hwfit.records import InputSpec, ModelInfo, RowState, RunConfig
        >>> row = BenchResult(ModelInfo("m.onnx", "onnx", "h", InputSpec("x", (1,))),
        ...                   RunConfig("openvin"), RowState.SKIPPED, reason="-")
        >>> row_problem(row).problem
        "unknown runtime 'openvin'. Did you mean 'openvino' or 'openvino-gpu'?"
    """
    checks = (
        _known("config.runtime", "runtime", result.config.runtime, RUNTIMES.names()),
        _known("config.precision", "precision", result.config.precision, list(Precision)),
        _known("model.kind", "model kind", result.model.kind, MODEL_KINDS),
        _resolved_path("model.path", result.model.path),
        _resolved_path("model.weights", result.model.weights),
    )
    for found in checks:
        if found is not None:
            return found
    for field, value in _strings(to_dict(result)):
        if _CONTROL.search(value):
            return RowProblem(
                field,
                f"{_short(value)} holds a control character",
                "hwfit writes no control characters; export the file again with 'hwfit export'.",
            )
    return None


def machine_problem(fingerprint: str, profile: dict[str, object]) -> RowProblem | None:
    """Return why a machine entry of an exchange file is refused, or None."""
    for field, value in [("fingerprint", fingerprint), *_strings(profile, "profile")]:
        if _CONTROL.search(value) or (field == "fingerprint" and _PATH_CONTROL.search(value)):
            return RowProblem(
                field,
                f"{_short(value)} holds a control character",
                "hwfit writes no control characters; export the file again with 'hwfit export'.",
            )
    return None


def _known(field: str, what: str, value: str, names: Iterable[str]) -> RowProblem | None:
    known = sorted(str(n) for n in names)
    if value in known:
        return None
    close = difflib.get_close_matches(str(value), known, n=2, cutoff=0.5)
    guess = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    return RowProblem(field, f"unknown {what} {value!r}.{guess}", f"Known: {', '.join(known)}.")


def _resolved_path(field: str, value: str | None) -> RowProblem | None:
    if value is None:
        return None
    hint = (
        "hwfit writes this path resolved (absolute, without '..'); the file was edited or "
        "made by another tool: export it again with 'hwfit export'."
    )
    if not value or _PATH_CONTROL.search(value):
        return RowProblem(field, f"{_short(value)} is not a usable path", hint)
    # A row may come from a Windows machine: its paths are judged as Windows paths.
    flavour = PureWindowsPath if PureWindowsPath(value).drive else PurePosixPath
    pure = flavour(value)
    if not pure.is_absolute():
        return RowProblem(field, f"{_short(value)} is a relative path", hint)
    if any(part in ("..", ".") for part in re.split(r"[\\/]", value)):
        return RowProblem(field, f"{_short(value)} holds a '..' or '.' part", hint)
    return None


def _strings(value: object, prefix: str = "") -> Iterator[tuple[str, str]]:
    """Every string in a JSON-like value (keys too), with the dotted field it sits in."""
    if isinstance(value, str):
        yield prefix, value
    elif isinstance(value, dict):
        for key, item in value.items():
            field = f"{prefix}.{key}" if prefix else str(key)
            if isinstance(key, str):
                yield field, key
            yield from _strings(item, field)
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            yield from _strings(item, f"{prefix}[{i}]")


def _short(value: str, limit: int = 80) -> str:
    text = value if len(value) <= limit else value[: limit - 3] + "..."
    return repr(text)
