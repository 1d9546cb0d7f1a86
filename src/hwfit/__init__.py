"""hwfit: make deep-learning models fast on the hardware you already have.

The public API; the ``hwfit`` command line only wraps it. Importing hwfit is cheap: no
framework (torch, onnxruntime, openvino) is imported until a function needs it.
"""

from __future__ import annotations

from hwfit._version import __version__
from hwfit.analysis import compare, frontier, gap
from hwfit.artifacts import Predictor, load
from hwfit.bench import BenchReport, bench
from hwfit.errors import HwfitError, UserError
from hwfit.hardware import HardwareProfile
from hwfit.hardware import probe as probe_hardware
from hwfit.models import ModelArtifact, load_model
from hwfit.records import BenchResult, Candidate, LatencyStats, Outcome, RowState, RunConfig
from hwfit.tune import OptimizeResult, optimize

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
]
