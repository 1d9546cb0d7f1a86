"""``hwfit.json``: everything needed to run an optimized model exactly as it was measured."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from hwfit.errors import ModelSourceError

__all__ = ["MANIFEST_NAME", "SCHEMA_VERSION", "Manifest", "read_manifest", "write_manifest"]

MANIFEST_NAME = "hwfit.json"
SCHEMA_VERSION = 1


@dataclasses.dataclass(frozen=True)
class Manifest:
    """The deployment contract of an ``optimize`` output folder.

    Attributes:
        model_file: The model, relative to the folder (``model.onnx`` or ``model.xml``).
        runtime: hwfit runtime name ("onnxruntime", "openvino").
        runtime_version: The version it was measured with.
        precision: ``{"requested": ..., "executed": ...}``.
        runtime_options: What the runtime must be run with: threads, batch, precision hint,
            performance hint, session options (as hwfit's runtime plug-in applies them).
        input: ``{"name", "shape", "dtype", "preprocess": Preprocess.to_dict()}``.
        classes: Class names for the outputs, when the data had them.
        metrics: ``{"winner": {...}, "baseline": {...}, "speedup": x}`` (latency in ms).
        accuracy: ``{"metric", "winner", "baseline", "drop", "budget"}``.
        source: ``{"model", "content_hash", "params", "macs"}`` of the FP32 source.
        hardware: ``{"fingerprint", "cpu", "isa"}`` of the machine it was measured on.
        versions: Tool versions.
    """

    model_file: str
    runtime: str
    runtime_version: str | None
    precision: dict[str, str]
    runtime_options: dict[str, Any]
    input: dict[str, Any]
    classes: tuple[str, ...]
    metrics: dict[str, Any]
    accuracy: dict[str, Any]
    source: dict[str, Any]
    hardware: dict[str, Any]
    versions: dict[str, str]
    created_at: str
    schema_version: int = SCHEMA_VERSION


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
    """Read ``hwfit.json`` from an optimize output folder.

    Raises:
        ModelSourceError: No manifest, an unreadable one, or one of a newer schema.
    """
    path = Path(folder) / MANIFEST_NAME
    if not path.is_file():
        raise ModelSourceError(
            f"No {MANIFEST_NAME} in {str(folder)!r}.",
            hint="Point to the folder `hwfit optimize --out` wrote.",
        )
    try:
        data = json.loads(path.read_text())
        if data.get("schema_version", 0) > SCHEMA_VERSION:
            raise ModelSourceError(
                f"{path} has schema {data['schema_version']}; this hwfit reads up to "
                f"{SCHEMA_VERSION}.",
                hint="Upgrade hwfit.",
            )
        data["classes"] = tuple(data.get("classes") or ())
        return Manifest(**data)
    except (ValueError, TypeError) as exc:
        raise ModelSourceError(f"Cannot read {path}: {exc}") from exc
