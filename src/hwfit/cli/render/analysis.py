"""The tables and progress of ``hwfit frontier``, ``hwfit compare`` and ``hwfit gap``."""

from __future__ import annotations

from rich.progress import Progress as RichProgress
from rich.progress import TaskID

from hwfit.cli.render.console import console_err
from hwfit.cli.render.format import ms, speedup_text
from hwfit.cli.render.tables import column, compact_table
from hwfit.records import CompareReport, FrontierReport, GapReport, Progress, ProgressEvent

__all__ = ["compare_tables", "frontier_progress", "frontier_table", "gap_progress", "gap_table"]


def frontier_progress(bar: RichProgress, task: TaskID) -> Progress:
    """The ``progress`` callback of ``frontier``: the bar names the model being measured."""

    def progress(event: ProgressEvent) -> None:
        total = event.total or 0
        if event.result is None and event.done < total:
            bar.update(
                task, total=total, completed=event.done, description=f"Measuring {event.label}"
            )
        else:
            bar.update(task, total=total, completed=event.done)

    return progress


def gap_progress(*, quiet: bool) -> Progress:
    """The ``progress`` callback of ``gap``: a dim line on stderr before each measurement."""

    def progress(event: ProgressEvent) -> None:
        if not quiet:
            console_err().print(f"[dim]{event.note}[/]")

    return progress


def frontier_table(report: FrontierReport) -> tuple[object, list[str]]:
    """The models fastest first (front marked), and the lines to print under the table.

    The accuracy column is named after the report's metric (``top-1``, ``COCO box mAP``).
    """
    accuracy = report.published_metric.column
    table = compact_table(
        f"{len(report.points)} models, {len(report.frontier)} on the accuracy-vs-latency front"
    )
    for h in ("", "model", "family", accuracy, "p50 ms", "params M", "GMACs", "input", "config"):
        right = h in (accuracy, "p50 ms", "params M", "GMACs", "input")
        column(table, h, right=right)
    front = set(report.frontier)
    for i in sorted(range(len(report.points)), key=lambda k: report.points[k].latency_ms):
        p = report.points[i]
        style = "bold green" if i in front else ""
        table.add_row(
            "*" if i in front else "",
            p.entry.name,
            p.entry.family,
            f"{p.entry.accuracy:.2f}",
            ms(p.latency_ms),
            f"{p.entry.params_m:.1f}",
            "-" if p.entry.gmacs is None else f"{p.entry.gmacs:.2f}",
            str(p.entry.input_size),
            p.config_label + (" (db)" if p.reused else ""),
            style=style,
        )
    lines = [f"[dim]- {n}[/]" for n in report.notes]
    for m in report.missing:
        colour = "yellow" if m.state.value == "skipped" else "red"
        lines.append(f"[{colour}]{m.entry.name}: {m.state.value}: {m.reason}[/]")
    if report.db_error:
        lines.append(f"[red]Database write failed: {report.db_error}[/]")
    if report.html_path:
        lines.append(f"Page: {report.html_path}")
    return table, lines


def compare_tables(report: CompareReport, *, limit: int = 30) -> tuple[list[object], list[str]]:
    """The flips table and the side-by-side table (flipped models first), and notes."""
    labels = [m.label for m in report.machines]
    flips = compact_table(
        f"{len(report.flips)} rank flips (margin {report.margin:.0%})"
        + (f", strongest {limit} shown" if len(report.flips) > limit else "")
    )
    for h in ("model A", "model B", "A faster on", "B faster on", "config"):
        column(flips, h)
    for f in report.flips[:limit]:
        flips.add_row(
            f.a.name,
            f.b.name,
            f"{labels[f.x]} (by {f.gain_x:.0%})",
            f"{labels[f.y]} (by {f.gain_y:.0%})",
            f"b{f.a.batch} {f.a.precision} {f.a.runtime or 'fastest'}",
            style="yellow",
        )
    flipped = report.flipped_models()
    side = compact_table(
        f"{len(report.rows)} models side by side"
        + (f", first {limit} shown (--json has all)" if len(report.rows) > limit else "")
    )
    column(side, "model")
    column(side, "config")
    for label in labels:
        column(side, f"{label} ms", right=True)
    for _ in labels[1:]:
        column(side, f"/ {labels[0][:12]}", right=True)
    rows = sorted(report.rows, key=lambda r: (r.name not in flipped, r.name))
    for r in rows[:limit]:
        ratios = [r.ratio(m) for m in range(1, len(labels))]
        side.add_row(
            r.name,
            f"b{r.batch} {r.precision} {r.runtime or '/'.join(x or '-' for x in r.runtimes)}",
            *[ms(v) for v in r.p50_ms],
            *["-" if q is None else f"{q:.2f}x" for q in ratios],
            style="yellow" if r.name in flipped else "",
        )
    lines = [f"[dim]- {n}[/]" for n in report.notes]
    lines += [f"[dim]{m.label}: {m.fingerprint[:12]} from {m.origin}[/]" for m in report.machines]
    if report.html_path:
        lines.append(f"Page: {report.html_path}")
    return [flips, side], lines


def gap_table(report: GapReport) -> tuple[object, list[str]]:
    """The two steps, each device and the gap, and the lines to print under the table."""
    table = compact_table(f"{report.model}  input {report.input}: CPU vs GPU")
    for h in ("step", "device", "configuration", "p50 ms", "samples/s", "from"):
        right = h in ("p50 ms", "samples/s")
        column(table, h, right=right)
    for step in report.steps:
        for side, device in ((step.cpu, "CPU"), (step.gpu, "GPU")):
            if side is None:
                why = (step.note or "not measured") if device == "GPU" else "not measured"
                table.add_row(step.name, device, "-", "-", "-", why)
                continue
            table.add_row(
                step.name,
                device,
                side.label,
                ms(side.p50_ms),
                "-" if side.throughput is None else f"{side.throughput:,.1f}",
                side.origin,
            )
        lat, thr = step.latency_ratio, step.throughput_ratio
        if step.paired is not None:
            gap_cell = speedup_text(step.paired) + " paired"
        elif lat is not None:
            gap_cell = f"[bold]{lat:.1f}x[/] (unpaired)"
        else:
            gap_cell = "-"
        table.add_row(
            step.name,
            "[bold]gap[/]",
            "",
            gap_cell,
            "-" if thr is None else f"[bold]{thr:.1f}x[/]",
            "CPU/GPU latency; GPU/CPU samples/s",
            end_section=True,
        )
    lines = [f"[dim]- {n}[/]" for n in report.notes]
    lines += [
        f"[yellow]- {step.name}: latency gap {step.paired_note}[/]"
        for step in report.steps
        if step.paired_note
    ]
    lines += [
        f"[yellow]- {step.name}: the paired gap is noisy: {'; '.join(step.paired.noise)}[/]"
        for step in report.steps
        if step.paired is not None and step.paired.noisy
    ]
    if report.instructions:
        lines.append("[yellow]No GPU numbers for this model. To get them:[/]")
        lines += [f"  {line}" for line in report.instructions]
    if report.html_path:
        lines.append(f"Page: {report.html_path}")
    return table, lines
