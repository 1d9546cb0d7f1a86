"""Deployable artifacts: the ``hwfit.json`` manifest and the predictor that honours it."""

from __future__ import annotations

from hwfit.artifacts.manifest import MANIFEST_NAME, Manifest, read_manifest, write_manifest
from hwfit.artifacts.predictor import Predictor, load

__all__ = ["MANIFEST_NAME", "Manifest", "Predictor", "load", "read_manifest", "write_manifest"]
