"""hwfit: make deep-learning models fast on the hardware you already have.

The public API; the ``hwfit`` command line only wraps it. Importing hwfit is cheap: no
framework (torch, onnxruntime, openvino) is imported until a function needs it.
"""

from __future__ import annotations

import typing

from hwfit._version import __version__
from hwfit.analysis import compare, frontier, gap
from hwfit.artifacts import Predictor, load
from hwfit.bench import BenchReport, bench
from hwfit.errors import HwfitError, UserError
from hwfit.hardware import probe as probe_hardware
from hwfit.models import ModelArtifact, load_model
from hwfit.records import (
    BenchResult,
    Candidate,
    HardwareProfile,
    LatencyStats,
    Outcome,
    RowState,
    RunConfig,
)
from hwfit.tune import OptimizeResult, optimize

if typing.TYPE_CHECKING:
    from hwfit.nas.search import search

__all__ = [
    "BenchReport",
    "BenchResult",
    "Candidate",
    "HardwareProfile",
    "HwfitError",
    "LatencyStats",
    "ModelArtifact",
    "OptimizeResult",
    "Outcome",
    "Predictor",
    "RowState",
    "RunConfig",
    "UserError",
    "__version__",
    "bench",
    "compare",
    "frontier",
    "gap",
    "load",
    "load_model",
    "optimize",
    "probe_hardware",
    "search",
]


def __getattr__(name: str) -> object:
    # hwfit.search lives in hwfit.nas.search, which imports torch and plotly: it is imported
    # on first use (PEP 562), so `import hwfit` stays free of frameworks.
    if name == "search":
        from hwfit.nas.search import search

        return search
    raise AttributeError(f"module 'hwfit' has no attribute {name!r}")
