"""``gap()``: how far this CPU is from a GPU on one model, before and after optimizing each.

Two steps, each a CPU side and a GPU side:

* **defaults**: PyTorch eager FP32 on each device (``torch`` on the CPU, ``torch-cuda``).
* **best**: each device at its best configuration. CPU: the winner of ``hwfit optimize`` (its
  output folder, accuracy-guarded), else the fastest stored row of this machine for the model,
  else the fastest of ONNX Runtime and OpenVINO in the float precisions this CPU speeds up,
  measured now. GPU: the fastest of ONNX Runtime CUDA / TensorRT and PyTorch CUDA (FP16/BF16
  where offered).

GPU numbers are measured here when this machine has CUDA; otherwise they come from the results
database (e.g. an imported ``hwfit export`` of a GPU machine, or timm's published RTX 4090
table) and each side says which machine and file it came from. With no GPU numbers at all the
report lists the commands to run on a GPU machine.

The gap is reported two ways: latency per call (CPU / GPU, at batch 1 when both sides have it)
and throughput (GPU samples/s / CPU samples/s), since GPU tables are often measured at large
batches where only throughput compares.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hwfit.analysis._measure import DEFAULT_MAX_AGE_DAYS, Measurer
from hwfit.errors import HwfitError, UserError
from hwfit.records import BenchResult, PairedRatio, RowState, RunConfig, to_dict

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "CPU_BEST_CANDIDATES",
    "GPU_BEST_CANDIDATES",
    "GPU_RUNTIMES",
    "GapReport",
    "GapSide",
    "GapStep",
    "gap",
    "gap_steps",
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
#: What "best" tries on a GPU here; unsupported pairs are skipped with the runtime's reason.
GPU_BEST_CANDIDATES: tuple[tuple[str, str], ...] = (
    ("onnxruntime-cuda", "fp32"),
    ("onnxruntime-tensorrt", "fp32"),
    ("torch-cuda", "fp16"),
    ("torch-cuda", "bf16"),
)


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


def gap(
    model: str,
    *,
    db: str | None = None,
    cpu_best: str | Path | None = None,
    input_shape: str | None = None,
    trust_model: bool = False,
    measure: bool = True,
    fresh: bool = False,
    max_age_days: float = DEFAULT_MAX_AGE_DAYS,
    duration_s: float = 3.0,
    save: bool = True,
    timeout_s: float = 600.0,
    out: str | Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> GapReport:
    """CPU vs GPU latency and throughput of ``model``, with defaults and at each device's best.

    Args:
        model: Model spec (``timm:resnet50``).
        db: Results database URL or SQLite file (default: the user's data folder): stored rows
            of this machine are reused when fresh, GPU rows of other machines are looked up.
        cpu_best: An ``hwfit optimize`` output folder whose winner is the CPU's best.
        input_shape: Input shape, batch first (default: the model's own).
        trust_model: Load a model file that runs code when loaded (TorchScript, pickles); see
            :func:`hwfit.models.load_model`. Only for files you trust.
        measure: Measure what is missing on this machine (False: use stored rows only).
        fresh: Measure again even where fresh stored rows exist.
        max_age_days: Stored rows older than this are measured again.
        duration_s: Time limit of each row's timed loop.
        save: Store the rows measured here in the database (stored rows are read either way).
        timeout_s: Seconds one worker may take.
        out: Folder for ``gap.html``; None writes no page.
        progress: Called with a line before each measurement.

    Returns:
        The report; a step's side is None where no number exists (``instructions`` say how to
        get the GPU ones).

    Raises:
        UserError: A bad model, shape or folder, or an unreachable database.
    """
    from hwfit.db import ResultStore
    from hwfit.hardware import probe
    from hwfit.models import load_model

    manifest = _read_cpu_best(cpu_best) if cpu_best is not None else None
    store = ResultStore(db, writable=save)  # a read-only database fails before measuring
    try:
        hardware = probe(include_runtimes=False)
        info = load_model(model, input_shape=input_shape, trust_model=trust_model).info
        shape = info.input.shape
        measurer = Measurer(
            hardware,
            store,
            fresh=fresh,
            max_age_days=max_age_days,
            timeout_s=timeout_s,
            save=save,
            trust_model=trust_model,
        )
        here = f"this machine ({hardware.fingerprint[:8]})"
        cuda_here = measurer.probe("torch-cuda")[1].ok or measurer.probe("onnxruntime-cuda")[1].ok

        def run(runtime: str, precision: str) -> BenchResult | None:
            config = RunConfig(
                runtime=runtime,
                batch=1,
                precision=precision,
                duration_s=duration_s,
                min_time_s=min(1.0, duration_s),
                async_throughput=False,
            )
            stored = measurer.reusable(info.source, shape, config)
            if stored is not None:
                return stored
            if not measure:
                return None
            if progress:
                progress(f"Measuring {runtime} {precision}")
            result = measurer.measure(info, config)
            return result if result.state is RowState.COMPLETE else None

        cpu_default_row = run("torch", "fp32")
        cpu_default = side_of(cpu_default_row, "measured here", here) if cpu_default_row else None
        cpu_best_side = _cpu_best(
            manifest, cpu_best, info.source, shape, store, hardware, run, here
        )
        machines = dict(store.machines())
        gpu_rows = [
            r
            for r in store.query(_query(info.source))
            if r.model.source == info.source
            and r.state is RowState.COMPLETE
            and r.latency is not None
            and is_gpu_row(r)
        ]
        gpu_default: GapSide | None = None
        gpu_best: GapSide | None = None
        if cuda_here:
            row = run("torch-cuda", "fp32")
            gpu_default = side_of(row, "measured here", here) if row else None
            measured = [r for rt, p in GPU_BEST_CANDIDATES if (r := run(rt, p)) is not None]
            if row is not None:
                measured.append(row)
            if measured:
                gpu_best = side_of(_fastest(measured), "measured here", here)
        if gpu_default is None or gpu_best is None:
            stored_default, stored_best = _stored_gpu(gpu_rows, shape, machines)
            gpu_default = gpu_default or stored_default
            gpu_best = gpu_best or stored_best
    finally:
        store.close()

    defaults, best = gap_steps(cpu_default, cpu_best_side, gpu_default, gpu_best)
    steps = (
        _paired_step(defaults, hardware.fingerprint, timeout_s, duration_s, trust_model),
        _paired_step(best, hardware.fingerprint, timeout_s, duration_s, trust_model),
    )
    input_str = "x".join(str(d) for d in shape[1:])
    instructions: list[str] = []
    if gpu_default is None and gpu_best is None:
        instructions = gpu_instructions(model, input_shape)
    notes = _notes(steps, input_str)
    if measurer.db_error is not None:
        notes.append(f"Database write failed: {measurer.storage_note()}")
    report = GapReport(
        model=model,
        input=input_str,
        steps=steps,
        gpu_here=cuda_here,
        instructions=tuple(instructions),
        notes=tuple(notes),
        hardware=hardware.to_dict(),
    )
    if out is not None:
        from hwfit.report.analysis_pages import render_gap_page
        from hwfit.report.html import write_report

        path = write_report(Path(out) / "gap.html", render_gap_page(report))
        report = dataclasses.replace(report, html_path=path)
    return report


def gap_steps(
    cpu_default: GapSide | None,
    cpu_best: GapSide | None,
    gpu_default: GapSide | None,
    gpu_best: GapSide | None,
) -> tuple[GapStep, GapStep]:
    """The two steps; a best side falls back to the default when nothing beat it.

    Example:
        >>> s = gap_steps(None, None, None, None)
        >>> [x.name for x in s], s[0].latency_ratio
        (['defaults', 'best'], None)
    """

    def faster(a: GapSide | None, b: GapSide | None) -> GapSide | None:
        if a is None or b is None:
            return a or b
        return a if _per_sample_ms(a) <= _per_sample_ms(b) else b

    missing = "no GPU number: none measured here and none in the database"
    return (
        GapStep(
            "defaults",
            cpu_default,
            gpu_default,
            "" if gpu_default else missing.replace("no GPU", "no PyTorch FP32 GPU"),
        ),
        GapStep(
            "best",
            faster(cpu_best, cpu_default),
            faster(gpu_best, gpu_default),
            "" if (gpu_best or gpu_default) else missing,
        ),
    )


def _paired_step(
    step: GapStep, fingerprint: str, timeout_s: float, duration_s: float, trust_model: bool = False
) -> GapStep:
    """``step`` with its latency gap measured paired, when both sides are this machine's."""
    from hwfit.bench import pair_rows

    c, g = step.cpu, step.gpu
    if c is None or g is None or c.batch != g.batch:
        return step
    rows = (c.row, g.row)
    if any(r is None or r.fingerprint not in (None, fingerprint) for r in rows):
        return dataclasses.replace(
            step, paired_note="not paired: the two sides were measured on different machines"
        )
    cpu_row, gpu_row = c.row, g.row
    if cpu_row is None or gpu_row is None:  # for the type checker: checked just above
        return step
    figure = pair_rows(
        (cpu_row.model, cpu_row.config),
        (gpu_row.model, gpu_row.config),
        timeout_s=timeout_s,
        min_time_s=min(1.0, duration_s),
        max_time_s=max(1.0, duration_s),
        trust_model=trust_model,  # both sides are rows of the model the user named
    )
    if isinstance(figure, str):
        return dataclasses.replace(step, paired_note=f"not paired: {figure}")
    return dataclasses.replace(step, paired=figure)


def gpu_instructions(model: str, input_shape: str | None) -> list[str]:
    """The commands that produce the missing GPU numbers, and where to run each."""
    shape = f" --input-shape {input_shape}" if input_shape else ""
    runtimes = "torch-cuda,onnxruntime-cuda,onnxruntime-tensorrt"
    return [
        f"On a machine with an NVIDIA GPU: hwfit bench {model} --runtime {runtimes}{shape} "
        "--db gpu.db",
        "  then: hwfit export gpu.json --db gpu.db  (copy gpu.json here)",
        "Here: hwfit import gpu.json",
        f"Here: hwfit gap {model}",
    ]


# -- internals ------------------------------------------------------------------------------------


def _query(source: str) -> Any:
    from hwfit.db import HistoryQuery

    return HistoryQuery(model=source, state=RowState.COMPLETE)


def _per_sample_ms(side: GapSide) -> float:
    if side.throughput:
        return 1000.0 / side.throughput
    return (side.p50_ms or float("inf")) / max(1, side.batch)


def _fastest(rows: list[BenchResult]) -> BenchResult:
    return min(rows, key=lambda r: r.latency.p50_ms / r.config.batch if r.latency else 1e30)


def _machine_label(fingerprint: str | None, machines: dict[str, dict[str, Any]]) -> str:
    from hwfit.analysis.compare import _label

    if fingerprint is None:
        return "unknown machine"
    return _label(fingerprint, machines.get(fingerprint, {}))


def _stored_gpu(
    rows: list[BenchResult], shape: tuple[int, ...], machines: dict[str, dict[str, Any]]
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


def _read_cpu_best(folder: str | Path) -> Any:
    from hwfit.artifacts.manifest import read_manifest

    path = Path(folder)
    if not path.is_dir():
        raise UserError(
            f"--cpu-best {str(folder)!r} is not a folder.",
            hint="Pass the folder `hwfit optimize --out` wrote.",
        )
    return read_manifest(path)


def _cpu_best(
    manifest: Any,
    folder: str | Path | None,
    source: str,
    shape: tuple[int, ...],
    store: Any,
    hardware: Any,
    run: Callable[[str, str], BenchResult | None],
    here: str,
) -> GapSide | None:
    from hwfit.db import HistoryQuery

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
        return side_of(_fastest(stored), "database: fastest stored row of this machine", here)
    from hwfit.precisions import Precision
    from hwfit.precisions.capability import verdict

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
    return side_of(_fastest(measured), "measured here", here) if measured else None


def _notes(steps: tuple[GapStep, GapStep], input_str: str) -> list[str]:
    notes = [
        "Latency gap = CPU latency / GPU latency per call at the same batch; throughput gap = "
        "GPU samples/s / CPU samples/s (GPU tables are often measured at large batches)."
    ]
    for step in steps:
        for side in (step.cpu, step.gpu):
            if side is None:
                continue
            if side.input and side.input != input_str:
                notes.append(
                    f"{step.name} {side.device}: measured at input {side.input}, not "
                    f"{input_str} ({side.origin})."
                )
            if not side.accuracy_guarded:
                notes.append(
                    f"{step.name} {side.device}: {side.precision} accuracy was not checked."
                )
    return list(dict.fromkeys(notes))
