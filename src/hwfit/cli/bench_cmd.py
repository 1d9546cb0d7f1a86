"""``hwfit bench``: measure a model across runtimes, batches and thread counts."""

from __future__ import annotations

from typing import Annotated

import typer

from hwfit.bench import bench as run_bench
from hwfit.cli.options import (
    DURATION_S,
    batch_option,
    db_option,
    duration_option,
    int_list,
    json_option,
    no_save_option,
    precision_option,
    runtime_option,
    str_list,
    threads_option,
    threads_warning,
    trust_model_option,
)
from hwfit.cli.render import console_err, print_json, progress_bar, stop_interrupted
from hwfit.cli.render.bench import bench_json, bench_progress, show_bench, show_storage
from hwfit.records import RowState

__all__ = ["bench"]

DEFAULT_MODEL = "timm:resnet18"


def bench(
    model: Annotated[
        str,
        typer.Argument(
            help="timm:NAME, torchvision:NAME, a .onnx/.xml/.pt/.pt2 file, or module.path:factory."
        ),
    ] = DEFAULT_MODEL,
    runtime: Annotated[
        str, runtime_option("Runtimes to measure, comma-separated (see `hwfit hardware`).")
    ] = "torch,onnxruntime,openvino",
    batch: Annotated[str, batch_option("Batch sizes, comma-separated.")] = "1",
    threads: Annotated[
        str | None, threads_option("Thread counts, comma-separated (default: each runtime's own).")
    ] = None,
    precision: Annotated[
        str,
        precision_option(
            "Precisions to request, comma-separated: fp32, bf16, fp16, int8 (what ran is read "
            "back; `hwfit optimize` quantizes)."
        ),
    ] = "fp32",
    duration: Annotated[float, duration_option()] = DURATION_S,
    min_time: Annotated[
        float, typer.Option(help="Each row's timed loop runs at least this long, seconds.")
    ] = 2.0,
    min_runs: Annotated[int, typer.Option(help="Timed runs each row makes at least.")] = 10,
    end_to_end: Annotated[
        bool, typer.Option("--end-to-end", help="Time the host->runtime input copy too.")
    ] = False,
    no_async: Annotated[
        bool,
        typer.Option("--no-async", help="Skip the async multi-stream throughput measurement."),
    ] = False,
    input_shape: Annotated[
        str | None,
        typer.Option(help="Input shape, batch first, e.g. 1x3x224x224 (default: the model's)."),
    ] = None,
    weights: Annotated[
        str | None, typer.Option(help="State-dict file for timm/torchvision/factory models.")
    ] = None,
    trust_model: Annotated[bool, trust_model_option()] = False,
    timeout: Annotated[
        float, typer.Option(help="Seconds one row may take before its worker is killed.")
    ] = 900.0,
    db: Annotated[str | None, db_option()] = None,
    no_save: Annotated[bool, no_save_option()] = False,
    json_out: Annotated[bool, json_option("Print JSON records instead of the table.")] = False,
) -> None:
    """Measure latency (p50/p90/p99 with a CI), throughput, memory, size and compile time."""
    runtimes = str_list(runtime)
    batches = int_list(batch, "--batch")
    thread_list: list[int | None] = list(int_list(threads, "--threads")) if threads else [None]
    precisions = str_list(precision) or ["fp32"]
    warn = threads_warning(thread_list)
    if warn:
        console_err().print(f"[yellow]{warn}[/]", highlight=False, soft_wrap=True)

    with progress_bar(disable=json_out) as bar:
        task = bar.add_task(f"Loading {model}", total=None)
        report = run_bench(
            model,
            runtimes=runtimes,
            batches=batches,
            threads=thread_list,
            precision=precisions,
            duration_s=duration,
            min_time_s=min_time,
            min_runs=min_runs,
            end_to_end=end_to_end,
            async_throughput=not no_async,
            input_shape=input_shape,
            weights=weights,
            trust_model=trust_model,
            db=db,
            save=not no_save,
            timeout_s=timeout,
            progress=bench_progress(bar, task, json_out=json_out),
        )

    if json_out:
        print_json(bench_json(report))
    else:
        show_bench(report, end_to_end=end_to_end)
    show_storage(report)
    if report.interrupted:
        stop_interrupted(
            f"Interrupted: {len(report.results)} finished rows kept ({report.saved} saved)."
        )
    if report.db_error:
        raise typer.Exit(1)
    if report.results and not any(r.state.measured for r in report.results):
        # A script that asked for numbers and got none must not read success.
        failed = sum(r.state is RowState.FAILED for r in report.results)
        console_err().print(
            f"[red]No row was measured: {failed} failed, {len(report.results) - failed} "
            "skipped (reasons above).[/]"
        )
        raise typer.Exit(1)
