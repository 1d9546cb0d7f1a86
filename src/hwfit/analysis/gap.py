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
import itertools
from pathlib import Path
from typing import TYPE_CHECKING

from hwfit.analysis._gap_sides import (
    CPU_BEST_CANDIDATES,
    GPU_RUNTIMES,
    complete_rows_query,
    cpu_best_side,
    fastest,
    is_gpu_row,
    read_cpu_best,
    side_of,
    stored_gpu_sides,
)
from hwfit.analysis._measure import DEFAULT_MAX_AGE_DAYS, Measurer
from hwfit.bench import pair_rows
from hwfit.hardware import probe
from hwfit.models import load_model
from hwfit.records import (
    BenchResult,
    GapReport,
    GapSide,
    GapStep,
    Progress,
    ProgressEvent,
    RowState,
    RunConfig,
)

if TYPE_CHECKING:
    pass

__all__ = [
    "CPU_BEST_CANDIDATES",
    "GPU_BEST_CANDIDATES",
    "GPU_RUNTIMES",
    "GapReport",
    "GapSide",
    "GapStep",
    "gap",
    "gap_steps",
    "gpu_instructions",
    "is_gpu_row",
    "measure_gap",
]

#: What "best" tries on a GPU here; unsupported pairs are skipped with the runtime's reason.
GPU_BEST_CANDIDATES: tuple[tuple[str, str], ...] = (
    ("onnxruntime-cuda", "fp32"),
    ("onnxruntime-tensorrt", "fp32"),
    ("torch-cuda", "fp16"),
    ("torch-cuda", "bf16"),
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
    progress: Progress | None = None,
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
        progress: Called with a ``gap``/``measure`` event before each measurement (its
            ``label`` the runtime and precision, its ``note`` the line to show).

    Returns:
        The report; a step's side is None where no number exists (``instructions`` say how to
        get the GPU ones).

    Raises:
        UserError: A bad model, shape or folder, or an unreachable database.
    """
    report = measure_gap(
        model,
        db=db,
        cpu_best=cpu_best,
        input_shape=input_shape,
        trust_model=trust_model,
        measure=measure,
        fresh=fresh,
        max_age_days=max_age_days,
        duration_s=duration_s,
        save=save,
        timeout_s=timeout_s,
        progress=progress,
    )
    if out is None:
        return report
    from hwfit.report.gap_page import render_gap_page  # plotly: imported when asked
    from hwfit.report.html import write_report

    path = write_report(Path(out) / "gap.html", render_gap_page(report))
    return dataclasses.replace(report, html_path=path)


def measure_gap(
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
    progress: Progress | None = None,
) -> GapReport:
    """The domain half of :func:`gap`: the report, without writing a page.

    Arguments, result and errors are those of :func:`gap` (which adds ``out``).
    """
    from hwfit.db import ResultStore  # sqlalchemy

    manifest = read_cpu_best(cpu_best) if cpu_best is not None else None
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

        started = itertools.count()  # measurements started so far (the events' ``done``)

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
                label = f"{runtime} {precision}"
                progress(
                    ProgressEvent(
                        "gap", "measure", next(started), label=label, note=f"Measuring {label}"
                    )
                )
            result = measurer.measure(info, config)
            return result if result.state is RowState.COMPLETE else None

        cpu_default_row = run("torch", "fp32")
        cpu_default = side_of(cpu_default_row, "measured here", here) if cpu_default_row else None
        best_cpu = cpu_best_side(
            manifest, cpu_best, info.source, shape, store, hardware, run, here
        )
        machines = dict(store.machines())
        gpu_rows = [
            r
            for r in store.query(complete_rows_query(info.source))
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
                gpu_best = side_of(fastest(measured), "measured here", here)
        if gpu_default is None or gpu_best is None:
            stored_default, stored_best = stored_gpu_sides(gpu_rows, shape, machines)
            gpu_default = gpu_default or stored_default
            gpu_best = gpu_best or stored_best
    finally:
        store.close()

    defaults, best = gap_steps(cpu_default, best_cpu, gpu_default, gpu_best)
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
    return GapReport(
        model=model,
        input=input_str,
        steps=steps,
        gpu_here=cuda_here,
        instructions=tuple(instructions),
        notes=tuple(notes),
        hardware=hardware.to_dict(),
    )


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


def _per_sample_ms(side: GapSide) -> float:
    if side.throughput:
        return 1000.0 / side.throughput
    return (side.p50_ms or float("inf")) / max(1, side.batch)


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
