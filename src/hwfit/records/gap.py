"""Records of :func:`hwfit.gap`: the CPU-vs-GPU table of one model, step by step."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from hwfit.records.core import BenchResult, PairedRatio, to_dict

__all__ = ["GapReport", "GapSide", "GapStep"]


@dataclasses.dataclass(frozen=True)
class GapSide:
    """One device's number at one step, and where it came from.

    Attributes:
        device: "CPU" or "GPU".
        runtime: Runtime name.
        precision: Precision (as executed when known).
        batch: Batch size of the measurement.
        p50_ms: Median latency per call at ``batch``.
        throughput: Samples per second.
        input: Input shape without the batch (``3x224x224``).
        origin: Where the number came from: "measured here", "database: <machine>",
            "optimize output <dir>".
        machine: The machine's label or fingerprint.
        accuracy_guarded: The configuration passed an accuracy check (optimize winners) or
            is a float precision of the same weights.
    """

    device: str
    runtime: str
    precision: str
    batch: int
    p50_ms: float | None
    throughput: float | None
    input: str
    origin: str
    machine: str
    accuracy_guarded: bool = True
    # The row behind a side of this machine (measured now or stored): what a paired
    # measurement re-runs. Not part of the JSON (the side's numbers are).
    row: BenchResult | None = dataclasses.field(default=None, compare=False, repr=False)

    @property
    def label(self) -> str:
        """``openvino fp32 b1``."""
        return f"{self.runtime} {self.precision} b{self.batch}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready side."""
        out = dataclasses.asdict(dataclasses.replace(self, row=None))
        out.pop("row")
        return out


@dataclasses.dataclass(frozen=True)
class GapStep:
    """One step: each device's number and the gap between them.

    Attributes:
        name: "defaults" or "best".
        cpu: The CPU side, or None when it could not be measured.
        gpu: The GPU side, or None when no GPU number exists.
        note: Why a side is missing.
    """

    name: str
    cpu: GapSide | None
    gpu: GapSide | None
    note: str = ""
    paired: PairedRatio | None = None  # the GPU's speed-up over the CPU, measured paired
    paired_note: str = ""  # why the latency gap is not a paired figure

    @property
    def latency_ratio(self) -> float | None:
        """CPU latency / GPU latency per call, when both were measured at the same batch.

        The paired figure when both sides are this machine's (both models in one process,
        alternating windows); else the quotient of the two medians (:attr:`paired_note` says
        why it is not paired: another machine's GPU row, or the pair failed).
        """
        if self.paired is not None:
            return self.paired.speedup
        c, g = self.cpu, self.gpu
        if c is None or g is None or c.p50_ms is None or not g.p50_ms or c.batch != g.batch:
            return None
        return c.p50_ms / g.p50_ms

    @property
    def throughput_ratio(self) -> float | None:
        """GPU samples/s / CPU samples/s."""
        c, g = self.cpu, self.gpu
        if c is None or g is None or not c.throughput or g.throughput is None:
            return None
        return g.throughput / c.throughput

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready step."""
        return {
            "name": self.name,
            "cpu": self.cpu.to_dict() if self.cpu else None,
            "gpu": self.gpu.to_dict() if self.gpu else None,
            "latency_ratio": self.latency_ratio,
            "latency_ratio_paired": to_dict(self.paired) if self.paired else None,
            "latency_ratio_note": self.paired_note,
            "throughput_ratio": self.throughput_ratio,
            "note": self.note,
        }


@dataclasses.dataclass(frozen=True)
class GapReport:
    """The CPU-vs-GPU table of one model.

    Attributes:
        model: The model spec.
        input: Input shape without the batch.
        steps: "defaults" then "best".
        gpu_here: This machine has a usable CUDA GPU.
        instructions: What to run where, when no GPU number was found.
        notes: Caveats (batch differences, sources).
        hardware: This machine's profile.
        html_path: The written ``gap.html``, when ``out`` was given.
    """

    model: str
    input: str
    steps: tuple[GapStep, ...]
    gpu_here: bool
    instructions: tuple[str, ...]
    notes: tuple[str, ...]
    hardware: dict[str, Any]
    html_path: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready report."""
        return {
            "model": self.model,
            "input": self.input,
            "gpu_here": self.gpu_here,
            "steps": [s.to_dict() for s in self.steps],
            "instructions": list(self.instructions),
            "notes": list(self.notes),
            "html": str(self.html_path) if self.html_path else None,
        }
