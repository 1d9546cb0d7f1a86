"""L0: every frozen result record hwfit measures, stores and reports; imports errors only.

``hwfit.records`` re-exports each record from the module that owns it (``core``: benchmark
rows; ``hardware``: the machine; ``progress``: the one progress protocol; ``analysis``:
frontier and compare, and the one machine-label rule; ``gap``: the CPU-vs-GPU table; the
other modules by command).
"""

from hwfit.records.analysis import (
    CompareReport,
    CompareRow,
    FrontierMiss,
    FrontierPoint,
    FrontierReport,
    FrontierSettings,
    MachineResults,
    RankFlip,
    ZooEntry,
    machine_label,
    machine_name,
)
from hwfit.records.core import (
    Availability,
    BenchResult,
    Executed,
    InputSpec,
    LatencyStats,
    LayerTime,
    ModelInfo,
    PairedRatio,
    Record,
    RowState,
    RunConfig,
    from_dict,
    to_dict,
)
from hwfit.records.gap import GapReport, GapSide, GapStep
from hwfit.records.hardware import ISA_FEATURES, CpuInfo, GpuInfo, HardwareProfile
from hwfit.records.optimize import (
    PERCENT_METRICS,
    Candidate,
    Explanation,
    KnobTrial,
    KnobTuning,
    LayerProfile,
    OptimizeResult,
    Outcome,
    Payoff,
    PreprocessRecord,
)
from hwfit.records.progress import Progress, ProgressEvent
from hwfit.records.search import (
    ArchResult,
    Calibration,
    PredictorQuality,
    ProxyCorrelation,
    SearchCost,
    SearchResult,
    TrialRecord,
)

__all__ = [
    "ISA_FEATURES",
    "PERCENT_METRICS",
    "ArchResult",
    "Availability",
    "BenchResult",
    "Calibration",
    "Candidate",
    "CompareReport",
    "CompareRow",
    "CpuInfo",
    "Executed",
    "Explanation",
    "FrontierMiss",
    "FrontierPoint",
    "FrontierReport",
    "FrontierSettings",
    "GapReport",
    "GapSide",
    "GapStep",
    "GpuInfo",
    "HardwareProfile",
    "InputSpec",
    "KnobTrial",
    "KnobTuning",
    "LatencyStats",
    "LayerProfile",
    "LayerTime",
    "MachineResults",
    "ModelInfo",
    "OptimizeResult",
    "Outcome",
    "PairedRatio",
    "Payoff",
    "PredictorQuality",
    "PreprocessRecord",
    "Progress",
    "ProgressEvent",
    "ProxyCorrelation",
    "RankFlip",
    "Record",
    "RowState",
    "RunConfig",
    "SearchCost",
    "SearchResult",
    "TrialRecord",
    "ZooEntry",
    "from_dict",
    "machine_label",
    "machine_name",
    "to_dict",
]
