"""``hwfit optimize``: the fastest configuration within an accuracy budget, shipped to a folder."""

from __future__ import annotations

from typing import Annotated

import typer

from hwfit.cli.options import (
    DURATION_S,
    batch_option,
    db_option,
    duration_option,
    int_list,
    json_option,
    no_save_option,
    out_option,
    precision_option,
    runtime_option,
    single,
    str_list,
    strict_data_option,
    threads_option,
    threads_warning,
    trust_model_option,
)
from hwfit.tune.knobs import DEFAULT_TRIALS  # no framework: safe in the CLI's import

__all__ = ["optimize"]


def optimize(
    model: Annotated[str, typer.Argument(help="Model spec, as for `hwfit bench`.")],
    data: Annotated[
        str,
        typer.Option(
            help="Image folder (a sub-folder per class; flat = unlabelled) or .npz with x [and y]."
        ),
    ],
    out: Annotated[str, out_option("Output folder for the artifact, hwfit.json and report.html.")],
    max_accuracy_drop: Annotated[
        str, typer.Option(help="Accuracy budget: 1 = one point absolute, 0.5% = relative.")
    ] = "1",
    metric: Annotated[
        str | None,
        typer.Option(
            help="What the budget guards: top1, top5, agreement (fidelity to the FP32 model, no "
            "labels needed), or your evaluator module:function[@name] - a function "
            "fn(predict, data) returning numbers (hwfit.accuracy.Score for lower-is-better). "
            "Default: top1 with labels, else agreement."
        ),
    ] = None,
    runtime: Annotated[
        str | None,
        runtime_option("Runtimes to try, comma-separated (default: onnxruntime,openvino)."),
    ] = None,
    precision: Annotated[
        str | None,
        precision_option(
            "Precisions to try, comma-separated: fp32, bf16, fp16, int8, int8-dynamic, "
            "int8-mixed, int8-selective (default: all)."
        ),
    ] = None,
    threads: Annotated[
        str | None,
        threads_option("Thread counts to try, comma-separated (default: each runtime's own)."),
    ] = None,
    batch: Annotated[
        str | None,
        batch_option(
            "Latency: the batch you deploy at (one value, default 1). Throughput: the batch "
            "sizes to choose from (default 1,8)."
        ),
    ] = None,
    objective: Annotated[
        str,
        typer.Option(
            help="latency (p50 at --batch) or throughput (samples/s, measured per sample; "
            "OpenVINO with its THROUGHPUT hint)."
        ),
    ] = "latency",
    calib_size: Annotated[
        int | None, typer.Option(help="Calibration samples (default: up to 300).")
    ] = None,
    val_size: Annotated[
        int | None, typer.Option(help="Validation samples (default: up to 500).")
    ] = None,
    time_budget: Annotated[
        float | None,
        typer.Option(help="Seconds; stop starting candidates after it, keep the best."),
    ] = None,
    force: Annotated[
        bool,
        typer.Option("--force", help="Also measure precisions this hardware cannot speed up."),
    ] = False,
    strategy: Annotated[str, typer.Option(help="grid (every candidate) or optuna.")] = "grid",
    trials: Annotated[
        int | None, typer.Option(help="Candidates the optuna strategy may measure.")
    ] = None,
    duration: Annotated[float, duration_option()] = DURATION_S,
    input_shape: Annotated[
        str | None, typer.Option(help="Input shape when the model does not say.")
    ] = None,
    weights: Annotated[
        str | None, typer.Option(help="State-dict file for PyTorch sources.")
    ] = None,
    trust_model: Annotated[bool, trust_model_option()] = False,
    preprocess: Annotated[
        str | None,
        typer.Option(help="Override preprocessing: 'mean=..,..,..;std=..;crop_pct=..'."),
    ] = None,
    strict_data: Annotated[bool, strict_data_option()] = False,
    db: Annotated[str | None, db_option()] = None,
    no_save: Annotated[bool, no_save_option()] = False,
    json_out: Annotated[bool, json_option()] = False,
    train_data: Annotated[
        str | None,
        typer.Option(
            help="Labelled images of the model's classes (folder or .npz): also try the model "
            "with channels pruned and fine-tuned on them (PyTorch models)."
        ),
    ] = None,
    prune: Annotated[
        str | None,
        typer.Option(help="Shares of channels to prune, comma-separated (default: 0.25,0.5)."),
    ] = None,
    prune_epochs: Annotated[
        float, typer.Option(help="Fine-tune epochs at most, per pruning ratio.")
    ] = 3.0,
    prune_time: Annotated[
        float, typer.Option(help="Fine-tune seconds at most, per pruning ratio.")
    ] = 300.0,
    train_size: Annotated[int, typer.Option(help="Training images used at most.")] = 2000,
    tune_trials: Annotated[
        int,
        typer.Option(
            help="Runtime settings (threads, streams, pinning, ...) to try on the winner, each "
            "measured paired against the runtime's defaults; kept only when faster beyond the "
            "noise, twice. 0: keep the defaults."
        ),
    ] = DEFAULT_TRIALS,
) -> None:
    """Quantize and compile, guard accuracy, choose the fastest, write a deployable artifact."""
    from hwfit.cli.render import console_err, print_json, progress_bar, stop_interrupted
    from hwfit.cli.render.optimize import optimize_json, optimize_progress, show_optimize
    from hwfit.tune import optimize as run_optimize
    from hwfit.tune.prune import parse_ratios

    batches = list(int_list(batch, "--batch")) if batch is not None else None
    if batches is not None and objective == "latency":
        batches = [
            single(
                batches,
                "--batch",
                "optimize",
                "Optimize for the batch you deploy at, or add --objective throughput to let "
                "optimize choose the batch.",
            )
        ]
    ratios = parse_ratios(prune) if prune is not None else None
    thread_list: list[int | None] = list(int_list(threads, "--threads")) if threads else [None]
    warn = threads_warning(thread_list)
    if warn:
        console_err().print(f"[yellow]{warn}[/]", highlight=False, soft_wrap=True)
    with progress_bar(disable=json_out) as bar:
        task = bar.add_task(f"Loading {model} and {data}", total=None)
        result = run_optimize(
            model,
            data,
            out=out,
            runtimes=str_list(runtime),
            precisions=str_list(precision),
            threads=thread_list,
            batch=batches,
            objective=objective,
            max_accuracy_drop=max_accuracy_drop,
            calib_size=calib_size,
            val_size=val_size,
            time_budget_s=time_budget,
            force=force,
            strategy=strategy,
            n_trials=trials,
            duration_s=duration,
            input_shape=input_shape,
            weights=weights,
            trust_model=trust_model,
            preprocess=preprocess,
            strict_data=strict_data,
            db=db,
            save=not no_save,
            progress=optimize_progress(bar, task),
            train_data=train_data,
            prune=ratios,
            prune_epochs=prune_epochs,
            prune_time_s=prune_time,
            train_size=train_size,
            tune_trials=tune_trials,
            metric=metric,
        )
    if json_out:
        print_json(optimize_json(result))
    else:
        show_optimize(result)
    if result.interrupted:
        stop_interrupted("Interrupted: the candidates above finished and are kept.")
    if result.winner is None:
        raise typer.Exit(1)
