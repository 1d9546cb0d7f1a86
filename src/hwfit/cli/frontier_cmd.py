"""``hwfit frontier``: zoo models on this machine, and the accuracy-vs-latency front."""

from __future__ import annotations

from typing import Annotated

import typer

from hwfit.analysis.frontier import frontier as run_frontier
from hwfit.cli.options import (
    DURATION_S,
    batch_option,
    db_option,
    duration_option,
    family_option,
    int_list,
    json_option,
    models_option,
    no_save_option,
    out_option,
    precision_option,
    runtime_option,
    single,
    str_list,
    threads_option,
    threads_warning,
)
from hwfit.cli.render import console, console_err, print_json, progress_bar, stop_interrupted
from hwfit.cli.render.analysis import frontier_progress, frontier_table

__all__ = ["frontier"]

_ONE_CONFIG = (
    "Every point of the front is measured at one configuration; --optimized takes each model "
    "at its fastest runtime x precision, or run frontier once per value."
)


def frontier(
    family: Annotated[
        str | None,
        family_option(
            "Zoo families, comma-separated, e.g. mobilenet,resnet; detection for the detectors "
            "(COCO box mAP: not mixed with the classifiers' top-1)."
        ),
    ] = None,
    models: Annotated[
        str | None, models_option("Zoo names or architectures, comma-separated.")
    ] = None,
    runtime: Annotated[str, runtime_option("Runtime of every point (one value).")] = "openvino",
    precision: Annotated[
        str, precision_option("Precision of every point: fp32, bf16 or fp16 (one value).")
    ] = "fp32",
    batch: Annotated[str, batch_option("Batch size of every point (one value).")] = "1",
    threads: Annotated[
        str | None,
        threads_option("Thread count of every point (one value; default: the runtime's own)."),
    ] = None,
    optimized: Annotated[
        bool,
        typer.Option("--optimized", help="Each model at its fastest float runtime x precision."),
    ] = False,
    fresh: Annotated[
        bool, typer.Option("--fresh", help="Measure again even where the database has rows.")
    ] = False,
    max_age: Annotated[
        float, typer.Option(help="Stored rows older than this many days are measured again.")
    ] = 30.0,
    duration: Annotated[float, duration_option()] = DURATION_S,
    accuracy_file: Annotated[
        str | None, typer.Option(help="CSV of your own accuracies, merged over the zoo.")
    ] = None,
    zoo: Annotated[str | None, typer.Option(help="A zoo CSV instead of the shipped one.")] = None,
    db: Annotated[str | None, db_option()] = None,
    no_save: Annotated[
        bool, no_save_option("Neither store the measurements nor reuse stored ones.")
    ] = False,
    out: Annotated[str, out_option("Folder for frontier.html.")] = ".",
    json_out: Annotated[bool, json_option()] = False,
) -> None:
    """Benchmark zoo models here and draw published accuracy against measured latency.

    The accuracy is ImageNet top-1 for classifiers, COCO box mAP for --family detection.
    """
    one_runtime = single(str_list(runtime) or [], "--runtime", "frontier", _ONE_CONFIG)
    one_precision = single(str_list(precision) or [], "--precision", "frontier", _ONE_CONFIG)
    one_batch = single(int_list(batch, "--batch"), "--batch", "frontier", _ONE_CONFIG)
    one_threads = (
        single(int_list(threads, "--threads"), "--threads", "frontier", _ONE_CONFIG)
        if threads
        else None
    )
    warn = threads_warning([one_threads])
    if warn:
        console_err().print(f"[yellow]{warn}[/]", highlight=False, soft_wrap=True)

    with progress_bar(disable=json_out) as bar:
        task = bar.add_task("Loading the zoo", total=None)
        report = run_frontier(
            str_list(models),
            str_list(family),
            runtime=one_runtime,
            precision=one_precision,
            batch=one_batch,
            threads=one_threads,
            optimized=optimized,
            fresh=fresh,
            max_age_days=max_age,
            duration_s=duration,
            zoo=zoo,
            accuracy_file=accuracy_file,
            db=db,
            save=not no_save,
            out=out,
            progress=frontier_progress(bar, task),
        )
    if json_out:
        print_json(report.to_dict())
    else:
        out_console = console()
        table, lines = frontier_table(report)
        out_console.print(table)
        for line in lines:
            out_console.print(line, highlight=False)
    if report.interrupted:
        stop_interrupted("Interrupted: the models above finished and are stored.")
    if not report.points:
        raise typer.Exit(1)
