"""The tables, summary lines and progress of ``hwfit search`` and ``hwfit search space``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich import box
from rich.progress import Progress as ProgressBar
from rich.progress import TaskID
from rich.table import Table

from hwfit.cli.render.format import ms
from hwfit.cli.render.tables import column

if TYPE_CHECKING:
    from hwfit.nas.space import SpaceSummary
    from hwfit.records.progress import Progress, ProgressEvent
    from hwfit.records.search import SearchResult

__all__ = ["search_progress", "search_table", "space_table"]


def search_progress(bar: ProgressBar, task: TaskID) -> Progress:
    """A progress callback that shows each search event on ``bar``: phase, note, done/total."""

    def show(event: ProgressEvent) -> None:
        desc = event.phase if not event.note else f"{event.phase} [dim]{event.note}[/]"
        bar.update(task, description=desc, completed=event.done, total=event.total)

    return show


def search_table(result: SearchResult) -> tuple[Table, list[str]]:
    """The architectures' table of a search, and the lines to print under it."""
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
            ms(r.predicted_ms),
            ms(r.measured_ms),
            speed,
            "-" if r.estimated_top1 is None else f"{r.estimated_top1:.1f}",
            "-" if r.screened_top1 is None else f"{r.screened_top1:.1f}",
            "-" if r.trained_top1 is None else f"{r.trained_top1:.1f}",
            style="bold green" if result.best is not None and r.key == result.best.key else None,
        )
    return table, _summary_lines(result)


def _summary_lines(result: SearchResult) -> list[str]:
    q, c, cal = result.predictor_quality, result.cost, result.calibration
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
        f"Latency predictor (held out): {100 * q.within_10:.0f}% within +-10%, "
        f"MAPE {100 * q.mape:.1f}%, Kendall tau {q.kendall_tau:.2f} "
        f"({q.n_train} train / {q.n_test} test)"
    )
    tau = cal.kendall_tau.get(cal.chosen) if cal.chosen is not None else None
    tau_text = "n/a" if tau is None else f"{tau:.2f}"
    lines.append(
        f"Accuracy estimate: proxy {cal.chosen} (Kendall tau {tau_text} "
        f"vs short-trained top-1 of {cal.n} candidates)"
    )
    lines.append(
        f"Cost: {c.wall_s / 60:.1f} min wall over {c.runs} run(s) "
        f"(this one {c.this_run_wall_s / 60:.1f} min), "
        f"{c.cpu_hours:.2f} CPU-hours, "
        f"{c.measured} measured, {c.trained} trained, {c.trials} trials"
    )
    lines.extend(f"[dim]{n}[/]" for n in result.notes)
    lines.append(f"Report: {result.out}/search.html")
    return lines


def space_table(summary: SpaceSummary) -> tuple[Table, list[str]]:
    """The dimensions of a search space with their choices, and its size."""
    table = Table(title=f"Search space of {summary.name}", box=box.SIMPLE_HEAD)
    column(table, "dimension")
    column(table, "choices")
    column(table, "baseline", right=True)
    for dim in summary.dimensions:
        table.add_row(dim.name, ", ".join(str(c) for c in dim.choices), str(dim.baseline))
    return table, [f"Size: {summary.size} architectures ({summary.size:.2e})"]
