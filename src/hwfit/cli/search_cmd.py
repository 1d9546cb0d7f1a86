"""``hwfit search``: architectures faster on this target at equal accuracy; ``search space``."""

from __future__ import annotations

import dataclasses
from typing import Annotated

import typer

from hwfit.cli.options import json_option, out_option, strict_data_option
from hwfit.errors import UserError
from hwfit.nas.search import DEMO_PLAN, SearchPlan
from hwfit.nas.search import search as run_search

__all__ = ["search_app"]

search_app = typer.Typer(
    help="Hardware-aware architecture search from a baseline (see `hwfit search --help`).",
    no_args_is_help=False,
    invoke_without_command=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@search_app.callback(invoke_without_command=True)
def search(
    ctx: typer.Context,
    baseline: Annotated[
        str | None,
        typer.Option(
            help="Baseline: timm:mobilenetv2_100, efficientnet_b0, resnet18, regnetx_002, nb201..."
        ),
    ] = None,
    data: Annotated[
        str | None,
        typer.Option(help="Training data: image folder (a sub-folder per class) or .npz."),
    ] = None,
    strict_data: Annotated[bool, strict_data_option()] = False,
    out: Annotated[
        str, out_option("Output folder; re-run with the same folder to resume.")
    ] = "hwfit-search",
    target: Annotated[
        str | None,
        typer.Option(
            help="runtime:precision:bsN:device, e.g. openvino:int8:bs1:cpu (default: best here)."
        ),
    ] = None,
    latency_budget: Annotated[
        float | None, typer.Option(help="Architectures predicted slower (ms) are infeasible.")
    ] = None,
    speedup: Annotated[
        float | None,
        typer.Option(
            help="Without --latency-budget: look for this speed-up over the baseline (1.5)."
        ),
    ] = None,
    time_budget: Annotated[
        float | None, typer.Option(help="Seconds for the NSGA-II phase.")
    ] = None,
    storage: Annotated[
        str | None,
        typer.Option(
            help="Optuna storage URL (default: SQLite in --out); share it to search together."
        ),
    ] = None,
    db: Annotated[
        str | None,
        typer.Option(
            help="Results database URL or SQLite path caching the latency measurements "
            "(default: $HWFIT_DB or the user's data folder)."
        ),
    ] = None,
    resolution: Annotated[
        int | None, typer.Option(help="Baseline input resolution (default 64).")
    ] = None,
    trials: Annotated[int | None, typer.Option(help="NSGA-II trials.")] = None,
    measure: Annotated[
        int | None, typer.Option(help="Architectures measured to fit the latency predictor.")
    ] = None,
    top_k: Annotated[
        int | None, typer.Option(help="Found architectures trained fully and optimized.")
    ] = None,
    epochs: Annotated[
        float | None, typer.Option(help="Epochs of the full training recipe.")
    ] = None,
    demo: Annotated[
        bool,
        typer.Option(
            "--demo", help="The built-in demo: mobilenetv2_100 on a shipped CIFAR-10 subset."
        ),
    ] = False,
    json_out: Annotated[bool, json_option()] = False,
) -> None:
    """Search architectures around a baseline that are faster on the target at equal accuracy."""
    if ctx.invoked_subcommand is not None:
        return
    # The renderer imports rich: only once the command runs.
    from hwfit.cli.render import (
        console,
        print_json,
        progress_bar,
        search_progress,
        search_table,
        stop_interrupted,
    )

    if baseline is None and not demo:
        raise UserError(
            "hwfit search needs --baseline (and --data), or --demo.",
            hint="Try `hwfit search --demo`, or `hwfit search space --baseline mobilenetv2_100`.",
        )
    if not demo and data is None:
        raise UserError(
            "--data is required with --baseline.", hint="Or run `hwfit search --demo`."
        )
    plan = DEMO_PLAN if demo else SearchPlan()
    if speedup is not None and speedup <= 0:
        raise UserError(
            f"--speedup must be > 0, got {speedup}.", hint="For example --speedup 1.5."
        )
    plan = dataclasses.replace(
        plan,
        trials=plan.trials if trials is None else trials,
        measure=plan.measure if measure is None else measure,
        top_k=plan.top_k if top_k is None else top_k,
        full_epochs=plan.full_epochs if epochs is None else epochs,
        speedup_goal=plan.speedup_goal if speedup is None else speedup,
    )
    with progress_bar(disable=json_out) as bar:
        task = bar.add_task("Preparing the search", total=None)
        try:
            result = run_search(
                baseline or "timm:mobilenetv2_100",
                data,
                out,
                target=target,
                latency_budget_ms=latency_budget,
                time_budget_s=time_budget,
                storage=storage,
                db=db,
                resolution=resolution,
                plan=plan,
                strict_data=strict_data,
                progress=search_progress(bar, task),
            )
        except KeyboardInterrupt:
            bar.stop()
            stop_interrupted(
                f"Interrupted: what was measured, scored, trained and the study are kept in "
                f"{out}; run the same command again to resume."
            )
    if json_out:
        print_json(result.to_dict())
        return
    con = console()
    table, lines = search_table(result)
    con.print(table)
    for line in lines:
        con.print(line, highlight=False)


@search_app.command("space")
def space(
    baseline: Annotated[str, typer.Option(help="Baseline model, e.g. mobilenetv2_100 or nb201.")],
    resolution: Annotated[int | None, typer.Option(help="Baseline input resolution.")] = None,
    num_classes: Annotated[int, typer.Option(help="Classes of the task.")] = 10,
    json_out: Annotated[bool, json_option("Print JSON instead of the table.")] = False,
) -> None:
    """Print the search space generated from a baseline: dimensions, choices, size."""
    from hwfit.cli.render import console, print_json, space_table
    from hwfit.nas.space import space_summary
    from hwfit.nas.spaces import space_for

    summary = space_summary(space_for(baseline, num_classes=num_classes, resolution=resolution))
    if json_out:
        print_json(summary.to_dict())
        return
    table, lines = space_table(summary)
    con = console()
    con.print(table)
    for line in lines:
        con.print(line, highlight=False)
