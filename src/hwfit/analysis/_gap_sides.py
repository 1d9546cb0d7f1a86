"""Where each side of a ``gap`` step comes from: GPU rows, stored rows, an optimize folder.

The part of :func:`hwfit.analysis.gap.gap` that picks rows, apart from the steps and the page.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from hwfit.artifacts.manifest import Manifest, read_manifest
from hwfit.errors import HwfitError, UserError
from hwfit.precisions import Precision
from hwfit.precisions.capability import verdict
from hwfit.records import BenchResult, GapSide, RowState, machine_label
from hwfit.records.hardware import HardwareProfile

if TYPE_CHECKING:
    from hwfit.db import HistoryQuery, ResultStore

__all__ = [
    "CPU_BEST_CANDIDATES",
    "GPU_RUNTIMES",
    "complete_rows_query",
    "cpu_best_side",
    "fastest",
    "is_gpu_row",
    "read_cpu_best",
    "side_of",
    "stored_gpu_sides",
]

#: Runtime names that run on a GPU.
GPU_RUNTIMES: tuple[str, ...] = (
    "torch-cuda",
    "onnxruntime-cuda",
    "onnxruntime-tensorrt",
    "openvino-gpu",
)
#: What "best" tries on the CPU when neither an optimize folder nor stored rows say.
CPU_BEST_CANDIDATES: tuple[tuple[str, str], ...] = (
    ("onnxruntime", "fp32"),
    ("openvino", "fp32"),
    ("openvino", "bf16"),
    ("openvino", "fp16"),
)


def is_gpu_row(result: BenchResult) -> bool:
    """True when a row ran on a GPU (by runtime name, or by the device read back)."""
    if result.config.runtime in GPU_RUNTIMES or result.config.runtime.endswith(
        ("-cuda", "-tensorrt", "-gpu")
    ):
        return True
    device = (result.executed.device if result.executed else "CPU").lower()
    return device.startswith(("cuda", "gpu"))


def side_of(result: BenchResult, origin: str, machine: str) -> GapSide:
    """A :class:`GapSide` from a measured row."""
    executed = result.executed
    precision = result.config.precision
    return GapSide(
        device="GPU" if is_gpu_row(result) else "CPU",
        runtime=result.config.runtime,
        # As executed (e.g. "fp32 (conv TF32)" on an Ampere+ GPU), else as requested.
        precision=executed.precision if executed and executed.precision else precision,
        batch=result.config.batch,
        p50_ms=result.latency.p50_ms if result.latency else None,
        throughput=result.throughput
        or (result.config.batch * 1000.0 / result.latency.p50_ms if result.latency else None),
        input="x".join(str(d) for d in result.model.input.shape[1:]),
        origin=origin,
        machine=machine,
        accuracy_guarded=not precision.startswith("int8")
        and not (executed is not None and "int8" in executed.precision.lower()),
        row=result,
    )


def complete_rows_query(source: str) -> HistoryQuery:
    """The query of every COMPLETE stored row of ``source``."""
    from hwfit.db import HistoryQuery  # sqlalchemy

    return HistoryQuery(model=source, state=RowState.COMPLETE)


def fastest(rows: list[BenchResult]) -> BenchResult:
    """The row with the lowest latency per sample."""
    return min(rows, key=lambda r: r.latency.p50_ms / r.config.batch if r.latency else 1e30)


def _machine_label(fingerprint: str | None, machines: Mapping[str, Mapping[str, object]]) -> str:
    if fingerprint is None:
        return "unknown machine"
    return machine_label(fingerprint, machines.get(fingerprint, {}))


def stored_gpu_sides(
    rows: list[BenchResult], shape: tuple[int, ...], machines: Mapping[str, Mapping[str, object]]
) -> tuple[GapSide | None, GapSide | None]:
    """GPU default (torch-cuda fp32) and best from stored rows, preferring the same input."""
    if not rows:
        return None, None
    same = [r for r in rows if tuple(r.model.input.shape[1:]) == tuple(shape[1:])]
    pool = same or rows

    def side(r: BenchResult) -> GapSide:
        label = _machine_label(r.fingerprint, machines)
        return side_of(r, f"database: {label} ({(r.fingerprint or '?')[:8]})", label)

    default_rows = [
        r for r in pool if r.config.runtime == "torch-cuda" and r.config.precision == "fp32"
    ]
    default = side(default_rows[0]) if default_rows else None
    best_row = min(
        pool,
        key=lambda r: (
            1.0 / r.throughput
            if r.throughput
            else (r.latency.p50_ms / r.config.batch if r.latency else 1e30)
        ),
    )
    return default, side(best_row)


def read_cpu_best(folder: str | Path) -> Manifest:
    """The manifest of an ``hwfit optimize`` output folder (``--cpu-best``)."""
    path = Path(folder)
    if not path.is_dir():
        raise UserError(
            f"--cpu-best {str(folder)!r} is not a folder.",
            hint="Pass the folder `hwfit optimize --out` wrote.",
        )
    return read_manifest(path)


def cpu_best_side(
    manifest: Manifest | None,
    folder: str | Path | None,
    source: str,
    shape: tuple[int, ...],
    store: ResultStore,
    hardware: HardwareProfile,
    run: Callable[[str, str], BenchResult | None],
    here: str,
) -> GapSide | None:
    """The CPU's best side: the optimize winner, the fastest stored row, or measured now."""
    from hwfit.db import HistoryQuery  # sqlalchemy

    if manifest is not None:
        winner = manifest.metrics.get("winner") or {}
        if manifest.source.get("model") not in (None, source):
            raise UserError(
                f"--cpu-best {folder} optimized {manifest.source.get('model')!r}, not {source!r}.",
                hint="Pass the optimize folder of this model.",
            )
        return GapSide(
            device="CPU",
            runtime=str(winner.get("runtime", manifest.runtime)),
            precision=str(winner.get("precision", manifest.precision.get("executed", "?"))),
            batch=int(winner.get("batch", 1)),
            p50_ms=winner.get("p50_ms"),
            throughput=winner.get("throughput"),
            input="x".join(str(d) for d in manifest.input.get("shape", [])[1:]),
            origin=f"optimize output {folder}",
            machine=str(manifest.hardware.get("cpu") or manifest.hardware.get("fingerprint")),
            accuracy_guarded=True,
        )
    stored = [
        r
        for r in store.query(HistoryQuery(model=source, fingerprint=hardware.fingerprint))
        if r.model.source == source
        and r.state is RowState.COMPLETE
        and r.latency is not None
        and r.config.batch == 1
        and tuple(r.model.input.shape[1:]) == tuple(shape[1:])
        and not is_gpu_row(r)
        and r.config.runtime != "torch"
    ]
    if stored:
        return side_of(fastest(stored), "database: fastest stored row of this machine", here)
    measured = []
    for runtime, precision in CPU_BEST_CANDIDATES:
        if not verdict(runtime, Precision(precision), hardware).ok:
            continue
        try:
            row = run(runtime, precision)
        except HwfitError:
            row = None
        if row is not None:
            measured.append(row)
    return side_of(fastest(measured), "measured here", here) if measured else None
