"""``hwfit bench``: measure a model across runtimes, batches and thread counts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from hwfit.errors import UserError

if TYPE_CHECKING:
    from hwfit.records import BenchResult, RunConfig

__all__ = ["bench"]

DEFAULT_MODEL = "timm:resnet18"


def _int_list(text: str, option: str) -> list[int]:
    try:
        values = [int(v) for v in text.replace(" ", "").split(",") if v]
    except ValueError:
        values = []
    if not values:
        raise UserError(
            f"{option} takes comma-separated integers, got {text!r}.", hint=f"E.g. {option} 1,8,32"
        )
    return values


def bench(
    model: Annotated[
        str,
        typer.Argument(
            help="timm:NAME, torchvision:NAME, a .onnx/.xml/.pt/.pt2 file, or module.path:factory."
        ),
    ] = DEFAULT_MODEL,
    runtime: Annotated[
        str,
        typer.Option("--runtime", "-r", help="Comma-separated runtimes (see `hwfit hardware`)."),
    ] = "torch,onnxruntime,openvino",
    batch: Annotated[
        str, typer.Option("--batch", "-b", help="Comma-separated batch sizes.")
    ] = "1",
    threads: Annotated[
        str | None,
        typer.Option(help="Comma-separated thread counts (default: each runtime's own)."),
    ] = None,
    precision: Annotated[
        str, typer.Option(help="Precision to run (fp32; optimize adds the rest).")
    ] = "fp32",
    duration: Annotated[
        float, typer.Option(help="Time limit of each row's timed loop, seconds.")
    ] = 10.0,
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
    timeout: Annotated[
        float, typer.Option(help="Seconds one row may take before its worker is killed.")
    ] = 900.0,
    db: Annotated[
        str | None, typer.Option(help="Database URL or SQLite file (default: your data folder).")
    ] = None,
    no_save: Annotated[
        bool, typer.Option("--no-save", help="Do not store results in the database.")
    ] = False,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print JSON records instead of the table.")
    ] = False,
) -> None:
    """Measure latency (p50/p90/p99 with a CI), throughput, memory, size and compile time."""
    from hwfit.bench import bench as run_bench
    from hwfit.cli.render import (
        bench_table,
        busy_line,
        console,
        console_err,
        print_json,
        progress_bar,
        stop_interrupted,
    )
    from hwfit.records import RowState, to_dict

    runtimes = [r.strip() for r in runtime.split(",") if r.strip()]
    thread_list: list[int | None] = list(_int_list(threads, "--threads")) if threads else [None]

    with progress_bar(disable=json_out) as bar:
        task = bar.add_task(f"Loading {model}", total=None)

        def progress(done: int, total: int, config: RunConfig, result: BenchResult | None) -> None:
            label = f"{config.runtime} batch {config.batch} threads {config.threads or 'default'}"
            if result is None:
                bar.update(task, total=total, completed=done, description=f"Measuring {label}")
                return
            bar.update(task, completed=done)
            if result.state is not RowState.COMPLETE and json_out:
                console_err().print(f"[yellow]{label}: {result.state.value}: {result.reason}[/]")

        report = run_bench(
            model,
            runtimes=runtimes,
            batches=_int_list(batch, "--batch"),
            threads=thread_list,
            precision=precision,
            duration_s=duration,
            min_time_s=min_time,
            min_runs=min_runs,
            end_to_end=end_to_end,
            async_throughput=not no_async,
            input_shape=input_shape,
            weights=weights,
            db=db,
            save=not no_save,
            timeout_s=timeout,
            progress=progress,
        )

    if json_out:
        print_json(
            {
                "model": to_dict(report.model),
                "fingerprint": report.fingerprint,
                "hardware": report.hardware,
                "results": [to_dict(r) for r in report.results],
                "busiest_contention": report.busiest,
                "interrupted": report.interrupted,
            }
        )
    else:
        out = console()
        latency, cost, notes = bench_table(report)
        out.print(latency)
        out.print(cost)
        for note in notes:
            out.print(note, highlight=False)
        busy = busy_line(
            report.busiest,
            sum(max(0, r.attempts - 1) for r in report.results),
            [r.priority for r in report.results if r.priority],
        )
        if busy:
            out.print(busy, highlight=False)
        timing = (
            "end to end (input copy included)"
            if end_to_end
            else "inference only (input bound before timing)"
        )
        out.print(
            f"[dim]Latency per call at the given batch; timed region: {timing}. "
            "CI95 of p50: distribution-free interval of the median. "
            "Speed-up: vs PyTorch eager FP32 at the same batch and threads, measured paired "
            "(both models in one process, alternating 50-ms windows), with its 95% CI; "
            "~ marks a figure from a busy machine or a wide interval. "
            "Precision and threads: as executed, read back from the runtime. "
            "Async: the runtime's multi-stream API. Peak RSS: the whole worker process. "
            f"Machine {report.fingerprint}.[/]"
        )
    err = console_err()
    if report.db_url and not report.db_error:
        err.print(f"[dim]Saved {report.saved} rows to {report.db_url}[/]")
    if report.db_error:
        err.print(f"[red]Database write failed: {report.db_error}[/]")
        err.print(
            f"[yellow]All {len(report.results)} results were written to {report.fallback_path}[/]"
        )
    if report.interrupted:
        stop_interrupted(
            f"Interrupted: {len(report.results)} finished rows kept ({report.saved} saved)."
        )
    if report.db_error:
        raise typer.Exit(1)
    if report.results and not any(r.state.measured for r in report.results):
        # A script that asked for numbers and got none must not read success.
        failed = sum(r.state is RowState.FAILED for r in report.results)
        err.print(
            f"[red]No row was measured: {failed} failed, {len(report.results) - failed} "
            "skipped (reasons above).[/]"
        )
        raise typer.Exit(1)
