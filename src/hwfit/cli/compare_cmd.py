"""``hwfit compare``: the same models on two or more machines, and where the ranking flips."""

from __future__ import annotations

from typing import Annotated

import typer

from hwfit.analysis.compare import compare as run_compare
from hwfit.cli.options import (
    db_option,
    family_option,
    json_option,
    models_option,
    out_option,
    str_list,
)
from hwfit.cli.render import console, print_json
from hwfit.cli.render.analysis import compare_tables

__all__ = ["compare"]


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
