"""``hwfit gap``: CPU vs GPU on one model, with defaults and at each device's best."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from hwfit.cli.options import (
    DURATION_S,
    db_option,
    duration_option,
    json_option,
    no_save_option,
    out_option,
    trust_model_option,
)

if TYPE_CHECKING:
    from hwfit.analysis.gap import GapReport

__all__ = ["gap", "gap_table"]


def gap_table(report: GapReport) -> tuple[object, list[str]]:
    """The two steps, each device and the gap, and the lines to print under the table."""
    from hwfit.cli.render import _compact_table, _ms, column, speedup_text

    table = _compact_table(f"{report.model}  input {report.input}: CPU vs GPU")
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
                _ms(side.p50_ms),
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


def gap(
    model: Annotated[str, typer.Argument(help="Model spec, as for `hwfit bench`.")],
    cpu_best: Annotated[
        str | None,
        typer.Option(help="An `hwfit optimize --out` folder: its winner is the CPU's best."),
    ] = None,
    input_shape: Annotated[
        str | None, typer.Option(help="Input shape, batch first (default: the model's).")
    ] = None,
    trust_model: Annotated[bool, trust_model_option()] = False,
    no_measure: Annotated[
        bool, typer.Option("--no-measure", help="Use stored rows only; measure nothing.")
    ] = False,
    fresh: Annotated[
        bool, typer.Option("--fresh", help="Measure again even where the database has rows.")
    ] = False,
    duration: Annotated[float, duration_option()] = DURATION_S,
    db: Annotated[str | None, db_option()] = None,
    no_save: Annotated[
        bool,
        no_save_option(
            "Do not store the measurements in the database (stored rows are still read)."
        ),
    ] = False,
    out: Annotated[str, out_option("Folder for gap.html.")] = ".",
    json_out: Annotated[bool, json_option()] = False,
) -> None:
    """CPU vs GPU latency and throughput: PyTorch defaults, then each device's best."""
    from hwfit.analysis.gap import gap as run_gap
    from hwfit.cli.render import console, console_err, print_json

    def progress(line: str) -> None:
        if not json_out:
            console_err().print(f"[dim]{line}[/]")

    report = run_gap(
        model,
        db=db,
        cpu_best=cpu_best,
        input_shape=input_shape,
        trust_model=trust_model,
        measure=not no_measure,
        fresh=fresh,
        duration_s=duration,
        save=not no_save,
        out=out,
        progress=progress,
    )
    if json_out:
        print_json(report.to_dict())
        return
    out_console = console()
    table, lines = gap_table(report)
    out_console.print(table)
    for line in lines:
        out_console.print(line, highlight=False)
