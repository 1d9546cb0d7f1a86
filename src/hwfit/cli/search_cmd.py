"""``hwfit search``: architectures faster on this target at equal accuracy; ``search space``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from hwfit.cli.options import json_option, out_option, strict_data_option

if TYPE_CHECKING:
    from rich.table import Table

    from hwfit.nas.search import SearchResult

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
    import dataclasses

    from hwfit.cli.render import console, print_json, progress_bar, stop_interrupted
    from hwfit.errors import UserError
    from hwfit.nas.search import DEMO_PLAN, SearchPlan
    from hwfit.nas.search import search as run_search

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
    overrides: dict[str, Any] = {
        k: v
        for k, v in (
            ("trials", trials),
            ("measure", measure),
            ("top_k", top_k),
            ("full_epochs", epochs),
            ("speedup_goal", speedup),
        )
        if v is not None
    }
    if speedup is not None and speedup <= 0:
        raise UserError(
            f"--speedup must be > 0, got {speedup}.", hint="For example --speedup 1.5."
        )
    plan = dataclasses.replace(plan, **overrides)
    with progress_bar(disable=json_out) as bar:
        task = bar.add_task("Preparing the search", total=None)

        def progress(phase: str, done: int, total: int, note: str) -> None:
            desc = phase if not note else f"{phase} [dim]{note}[/]"
            bar.update(task, description=desc, completed=done, total=total)

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
                progress=progress,
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
    table, lines = _search_table(result)
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
    from hwfit.cli.render import console, print_json
    from hwfit.nas.space import space_for, space_summary

    summary = space_summary(space_for(baseline, num_classes=num_classes, resolution=resolution))
    if json_out:
        print_json(summary.to_dict())
        return
    table, lines = _space_table(summary)
    con = console()
    con.print(table)
    for line in lines:
        con.print(line, highlight=False)


def _search_table(result: SearchResult) -> tuple[Table, list[str]]:
    from rich import box
    from rich.table import Table

    from hwfit.cli.render import _ms, column

    table = Table(title=f"hwfit search: {result.space} on {result.target}", box=box.SIMPLE_HEAD)
    for col in (
        "role",
        "key",
        "params",
        "pred. ms",
        "measured ms",
        "speed-up",
        "est. top-1",
        "screened top-1",
        "trained top-1",
    ):
        column(table, col, right=col not in ("role", "key"))
    base = result.baseline.measured_ms
    for r in [result.baseline, *result.scaled, *result.found]:
        speed = f"{base / r.measured_ms:.2f}x" if base and r.measured_ms else "-"
        if base and r.measured_ci_ms and r is not result.baseline:  # paired with the baseline
            speed += f" [{base / r.measured_ci_ms[1]:.2f}-{base / r.measured_ci_ms[0]:.2f}]"
        table.add_row(
            r.role,
            r.key,
            "-" if r.model_params is None else f"{r.model_params / 1e6:.2f} M",
            _ms(r.predicted_ms),
            _ms(r.measured_ms),
            speed,
            "-" if r.estimated_top1 is None else f"{r.estimated_top1:.1f}",
            "-" if r.screened_top1 is None else f"{r.screened_top1:.1f}",
            "-" if r.trained_top1 is None else f"{r.trained_top1:.1f}",
            style="bold green" if result.best is not None and r.key == result.best.key else None,
        )
    q = result.predictor_quality
    c = result.cost
    lines = []
    if result.best is not None and result.speedup is not None:
        lines.append(
            f"[green]Best found: {result.best.key}, {result.speedup:.2f}x"
            + (
                f" [{result.speedup_ci[0]:.2f}-{result.speedup_ci[1]:.2f}]"
                if result.speedup_ci
                else ""
            )
            + " faster than the baseline (measured paired with it) at top-1"
            f" {result.best.trained_top1:.1f}% "
            f"vs {result.baseline.trained_top1:.1f}%[/]"
        )
    else:
        lines.append("[yellow]No found architecture beat the baseline at equal accuracy.[/]")
    lines.append(
        f"Latency predictor (held out): {100 * q.get('within_10', 0):.0f}% within +-10%, "
        f"MAPE {100 * q.get('mape', 0):.1f}%, Kendall tau {q.get('kendall_tau', 0):.2f} "
        f"({q.get('n_train')} train / {q.get('n_test')} test)"
    )
    cal = result.calibration
    tau = (cal.get("kendall_tau") or {}).get(cal.get("chosen"))
    tau_text = "n/a" if tau is None else f"{tau:.2f}"
    lines.append(
        f"Accuracy estimate: proxy {cal.get('chosen')} (Kendall tau {tau_text} "
        f"vs short-trained top-1 of {cal.get('n')} candidates)"
    )
    lines.append(
        f"Cost: {c.get('wall_s', 0) / 60:.1f} min wall over {c.get('runs', 1)} run(s) "
        f"(this one {c.get('this_run_wall_s', 0) / 60:.1f} min), "
        f"{c.get('cpu_hours', 0):.2f} CPU-hours, "
        f"{c.get('measured')} measured, {c.get('trained')} trained, {c.get('trials')} trials"
    )
    lines.extend(f"[dim]{n}[/]" for n in result.notes)
    lines.append(f"Report: {result.out}/search.html")
    return table, lines


def _space_table(summary: Any) -> tuple[Table, list[str]]:
    from rich import box
    from rich.table import Table

    from hwfit.cli.render import column

    table = Table(title=f"Search space of {summary.name}", box=box.SIMPLE_HEAD)
    column(table, "dimension")
    column(table, "choices")
    column(table, "baseline", right=True)
    for dim in summary.dimensions:
        table.add_row(dim.name, ", ".join(str(c) for c in dim.choices), str(dim.baseline))
    return table, [f"Size: {summary.size} architectures ({summary.size:.2e})"]
