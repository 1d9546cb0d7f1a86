"""``hwfit compare``: the same models on two or more machines, and where the ranking flips."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from hwfit.cli.options import (
    db_option,
    family_option,
    json_option,
    models_option,
    out_option,
    str_list,
)

if TYPE_CHECKING:
    from hwfit.analysis.compare import CompareReport

__all__ = ["compare", "compare_tables"]


def compare_tables(report: CompareReport, *, limit: int = 30) -> tuple[list[object], list[str]]:
    """The flips table and the side-by-side table (flipped models first), and notes."""
    from hwfit.cli.render import _compact_table, _ms, column

    labels = [m.label for m in report.machines]
    flips = _compact_table(
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
    side = _compact_table(
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
            *[_ms(v) for v in r.p50_ms],
            *["-" if q is None else f"{q:.2f}x" for q in ratios],
            style="yellow" if r.name in flipped else "",
        )
    lines = [f"[dim]- {n}[/]" for n in report.notes]
    lines += [f"[dim]{m.label}: {m.fingerprint[:12]} from {m.origin}[/]" for m in report.machines]
    if report.html_path:
        lines.append(f"Page: {report.html_path}")
    return [flips, side], lines


def compare(
    machines: Annotated[
        list[str],
        typer.Argument(help="Two or more: fingerprint prefix, machine label, or result file."),
    ],
    margin: Annotated[
        float, typer.Option(help="Relative difference below which two models tie (0.05 = 5%).")
    ] = 0.05,
    models: Annotated[
        str | None, models_option("Only these models, comma-separated (resnet50,...).")
    ] = None,
    family: Annotated[
        str | None,
        family_option("Only the zoo models of these families, comma-separated (mobilenet,...)."),
    ] = None,
    db: Annotated[str | None, db_option()] = None,
    out: Annotated[str, out_option("Folder for compare.html.")] = ".",
    json_out: Annotated[bool, json_option("Print JSON instead of the tables.")] = False,
) -> None:
    """Latency per model on each machine, the ratios, and every pair whose order flips."""
    from hwfit.analysis.compare import compare as run_compare
    from hwfit.cli.render import console, print_json

    report = run_compare(
        *machines,
        db=db,
        margin=margin,
        models=str_list(models),
        families=str_list(family),
        out=out,
    )
    if json_out:
        print_json(report.to_dict())
        return
    out_console = console()
    tables, lines = compare_tables(report)
    for table in tables:
        out_console.print(table)
    for line in lines:
        out_console.print(line, highlight=False)
