"""``hwfit.json``: everything needed to run an optimized model exactly as it was measured."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypedDict, TypeGuard

from hwfit.errors import ModelSourceError
from hwfit.runtimes import RUNTIMES

__all__ = [
    "MANIFEST_NAME",
    "MODEL_KINDS",
    "SCHEMA_VERSION",
    "Manifest",
    "ManifestHardware",
    "ManifestInput",
    "ManifestSource",
    "inside",
    "read_manifest",
    "write_manifest",
]

MANIFEST_NAME = "hwfit.json"
SCHEMA_VERSION = 1

#: The model files an artifact may hold, by suffix: what ``optimize`` writes. Nothing else is
#: ever loaded from an artifact folder (a PyTorch file could run code when loaded).
MODEL_KINDS: dict[str, str] = {".onnx": "onnx", ".xml": "openvino"}

_HINT = "Point to a folder `hwfit optimize --out` wrote, with its hwfit.json as written."


class ManifestInput(TypedDict):
    """``Manifest.input``: the model input and how images become it."""

    name: str
    shape: list[int]
    dtype: str
    preprocess: dict[str, object]  # ``Preprocess.to_dict()``


class ManifestSource(TypedDict, total=False):
    """``Manifest.source``: the FP32 model the artifact was made from."""

    model: str
    content_hash: str | None
    params: int | None
    macs: int | None
    weights: str | None
    pruning: dict[str, str]  # when the shipped model is the source pruned and fine-tuned


class ManifestHardware(TypedDict, total=False):
    """``Manifest.hardware``: the machine the artifact was measured on."""

    fingerprint: str
    cpu: str
    cores: int | None
    isa: str


@dataclasses.dataclass(frozen=True)
class Manifest:
    """The deployment contract of an ``optimize`` output folder.

    Attributes:
        model_file: The model, relative to the folder (``model.onnx`` or ``model.xml``).
        runtime: hwfit runtime name ("onnxruntime", "openvino").
        runtime_version: The version it was measured with.
        precision: ``{"requested": ..., "executed": ...}``.
        runtime_options: What the runtime must be run with, as it was measured: ``threads``
            (the request; null: the runtime's default), batch, precision, OpenVINO's precision
            and performance hints; ``threads_executed`` says what the threads came to;
            ``tuned``: the runtime settings the knob tuner kept (name -> value), if any.
        input: ``{"name", "shape", "dtype", "preprocess": Preprocess.to_dict()}``.
        classes: Class names for the outputs, when the data had them.
        metrics: ``{"winner": {...}, "baseline": {...}, "speedup": x}`` (latency in ms).
        accuracy: ``{"metric", "winner", "baseline", "drop", "budget"}``.
        source: ``{"model", "content_hash", "params", "macs"}`` of the FP32 source.
        hardware: ``{"fingerprint", "cpu", "isa"}`` of the machine it was measured on.
        versions: Tool versions.
        postprocess: A detector's post-processing, run after the model:
            ``{"kind": "ssd", "file": "detection.npz", "where": ...}``; ``kind`` is the
            decoder's head (``ssd``, ``retinanet``, ``in_graph``, ``yolo``), ``where`` says
            whether NMS is inside the timed graph or outside; the file holds plain arrays
            (default boxes, thresholds). None for other models.
    """

    model_file: str
    runtime: str
    runtime_version: str | None
    precision: dict[str, str]
    runtime_options: dict[str, Any]
    input: ManifestInput
    classes: tuple[str, ...]
    metrics: dict[str, Any]
    accuracy: dict[str, Any]
    source: ManifestSource
    hardware: ManifestHardware
    versions: dict[str, str]
    created_at: str
    schema_version: int = SCHEMA_VERSION
    postprocess: dict[str, str] | None = None

    @property
    def model_kind(self) -> str:
        """``onnx`` or ``openvino``: the kind of :attr:`model_file` (checked when read)."""
        return MODEL_KINDS[Path(self.model_file).suffix.lower()]

    def model_path(self, folder: str | Path) -> Path:
        """The model file, resolved, after checking it lies inside ``folder``.

        An OpenVINO IR's ``.bin`` must lie inside it too. Symbolic links are followed before
        the check, so a link that leads out of the folder is refused.

        Raises:
            ModelSourceError: The file is outside the folder or missing.
        """
        path = inside(folder, self.model_file, "model_file")
        if path.suffix.lower() != Path(self.model_file).suffix.lower():
            raise ModelSourceError(
                f"The manifest's model_file {self.model_file!r} links to {path.name!r}, which is "
                "not an ONNX or OpenVINO IR file.",
                hint=_HINT,
            )
        if not path.is_file():
            raise ModelSourceError(
                f"The manifest names {self.model_file!r}, which is missing from {str(folder)!r}.",
                hint=_HINT,
            )
        if self.model_kind == "openvino":  # OpenVINO reads the .bin beside the file it opens
            weights = path.with_suffix(".bin")
            inside(folder, str(weights.relative_to(Path(folder).resolve())), "model_file's .bin")
        return path


def write_manifest(folder: Path, manifest: Manifest) -> Path:
    """Write ``folder/hwfit.json`` atomically; return its path."""
    path = folder / MANIFEST_NAME
    tmp = path.with_suffix(".json.tmp")
    data = dataclasses.asdict(manifest)
    data["classes"] = list(manifest.classes)
    tmp.write_text(json.dumps(data, indent=2))
    tmp.replace(path)
    return path


def read_manifest(folder: str | Path) -> Manifest:
    """Read ``hwfit.json`` from an optimize output folder and check it against the schema.

    Every field of :class:`Manifest` without a default is required, with its type; unknown
    fields, model files other than ONNX or OpenVINO IR, and runtimes hwfit does not know are
    refused.

    Raises:
        ModelSourceError: No manifest, an unreadable one, one of a newer schema, or one that
            breaks the schema (the message names the first field at fault).
    """
    path = Path(folder) / MANIFEST_NAME
    if not path.is_file():
        raise ModelSourceError(
            f"No {MANIFEST_NAME} in {str(folder)!r}.",
            hint="Point to the folder `hwfit optimize --out` wrote.",
        )
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ModelSourceError(f"Cannot read {path}: {exc}", hint=_HINT) from exc
    if not isinstance(data, dict):
        raise ModelSourceError(f"{path} is not a manifest: it holds no JSON object.", hint=_HINT)
    version = data.get("schema_version", SCHEMA_VERSION)
    if isinstance(version, int) and not isinstance(version, bool) and version > SCHEMA_VERSION:
        raise ModelSourceError(
            f"{path} has schema {version}; this hwfit reads up to {SCHEMA_VERSION}.",
            hint="Upgrade hwfit.",
        )
    problem = _schema_problem(data)
    if problem:
        raise ModelSourceError(
            f"{path} does not follow the manifest schema: {problem}.", hint=_HINT
        )
    data["classes"] = tuple(data["classes"])
    return Manifest(**data)


def inside(folder: str | Path, name: str, what: str) -> Path:
    """``folder / name`` resolved, checked to lie inside ``folder`` (links followed).

    Args:
        folder: The artifact folder.
        name: A path relative to it, as the manifest names it.
        what: The manifest field, for the message.

    Raises:
        ModelSourceError: An absolute path, or one that leads out of the folder.
    """
    root = Path(folder).resolve()
    path = (root / name).resolve()
    if Path(name).is_absolute() or not path.is_relative_to(root):
        raise ModelSourceError(
            f"The manifest's {what} {name!r} lies outside the artifact folder {str(folder)!r}.",
            hint="An artifact loads files from its own folder only. " + _HINT,
        )
    return path


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_str_or_none(value: object) -> bool:
    return value is None or isinstance(value, str)


def _is_shape(value: object) -> bool:
    return isinstance(value, list) and bool(value) and all(_is_int(d) and d > 0 for d in value)


_SETTING_VALUE = re.compile(r"[A-Za-z0-9_]{1,32}")


def _is_settings(value: object) -> bool:
    """A tuned-settings record: names to plain values, nothing a runtime would read as a path."""
    return isinstance(value, dict) and all(
        isinstance(k, str) and isinstance(v, str) and _SETTING_VALUE.fullmatch(v)
        for k, v in value.items()
    )


def _is_threads(value: object) -> bool:
    return value is None or (_is_int(value) and value > 0)


#: field -> (check, what it must be); nested checks as "field.key".
_CHECKS: dict[str, tuple[Callable[[object], bool], str]] = {
    "model_file": (lambda v: isinstance(v, str) and bool(v), "a file name"),
    "runtime": (lambda v: isinstance(v, str), "a runtime name"),
    "runtime_version": (_is_str_or_none, "a string or null"),
    "precision": (lambda v: isinstance(v, dict), "an object"),
    "precision.requested": (lambda v: isinstance(v, str), "a string"),
    "precision.executed": (lambda v: isinstance(v, str), "a string"),
    "runtime_options": (lambda v: isinstance(v, dict), "an object"),
    "runtime_options.batch": (lambda v: _is_int(v) and v > 0, "a positive integer"),
    "runtime_options.precision": (lambda v: isinstance(v, str), "a string"),
    "input": (lambda v: isinstance(v, dict), "an object"),
    "input.name": (lambda v: isinstance(v, str), "a string"),
    "input.shape": (_is_shape, "a list of positive integers"),
    "input.dtype": (lambda v: isinstance(v, str), "a string"),
    "input.preprocess": (lambda v: isinstance(v, dict), "an object"),
    "classes": (
        lambda v: isinstance(v, list) and all(isinstance(c, str) for c in v),
        "a list of strings",
    ),
    "metrics": (lambda v: isinstance(v, dict), "an object"),
    "accuracy": (lambda v: isinstance(v, dict), "an object"),
    "source": (lambda v: isinstance(v, dict), "an object"),
    "hardware": (lambda v: isinstance(v, dict), "an object"),
    "versions": (lambda v: isinstance(v, dict), "an object"),
    "created_at": (lambda v: isinstance(v, str), "a string"),
    "schema_version": (lambda v: _is_int(v) and v >= 1, "a positive integer"),
    "postprocess": (
        lambda v: (
            v is None
            or (
                isinstance(v, dict)
                and v.get("kind") == "ssd"
                and isinstance(v.get("file"), str)
                and str(v["file"]).endswith(".npz")
                and all(isinstance(x, str) for x in v.values())
            )
        ),
        'null or {"kind": "ssd", "file": "<name>.npz", ...}',
    ),
}


def _schema_problem(data: dict[str, object]) -> str | None:
    """The first way ``data`` breaks the manifest schema, or None."""
    fields = {f.name: f for f in dataclasses.fields(Manifest)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        return f"unknown field {unknown[0]!r}"
    for name, field in fields.items():
        if name not in data and field.default is dataclasses.MISSING:
            return f"field {name!r} is missing"
    for key, (check, what) in _CHECKS.items():
        head, _, sub = key.partition(".")
        if head not in data:
            continue  # an optional field left out
        parent = data[head]
        if sub:
            if not isinstance(parent, dict) or sub not in parent:
                return f"{key!r} is missing"
            value = parent[sub]
        else:
            value = parent
        if not check(value):
            return f"{key!r} must be {what}, not {json.dumps(value)[:40]}"
    options = data["runtime_options"]
    threads = options.get("threads") if isinstance(options, dict) else None
    if not _is_threads(threads):
        return f"'runtime_options.threads' must be a positive integer or null, not {threads!r}"
    tuned = options.get("tuned", {}) if isinstance(options, dict) else {}
    if not _is_settings(tuned):
        return (
            "'runtime_options.tuned' must map setting names to plain values (letters, digits, "
            f"'_'), not {json.dumps(tuned)[:40]}"
        )
    suffix = Path(str(data["model_file"])).suffix.lower()
    if suffix not in MODEL_KINDS:
        return (
            f"model_file {data['model_file']!r} is not an ONNX (.onnx) or OpenVINO IR (.xml) "
            "file, the only kinds an artifact holds"
        )
    runtime = str(data["runtime"])
    if runtime not in RUNTIMES.names() or runtime.startswith("torch"):
        return f"unknown artifact runtime {runtime!r}"
    return None
