"""``hwfit gap``: CPU vs GPU on one model, with defaults and at each device's best."""

from __future__ import annotations

from typing import Annotated

import typer

from hwfit.analysis.gap import gap as run_gap
from hwfit.cli.options import (
    DURATION_S,
    db_option,
    duration_option,
    json_option,
    no_save_option,
    out_option,
    trust_model_option,
)
from hwfit.cli.render import console, print_json
from hwfit.cli.render.analysis import gap_progress, gap_table

__all__ = ["gap"]


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
        progress=gap_progress(quiet=json_out),
    )
    if json_out:
        print_json(report.to_dict())
        return
    out_console = console()
    table, lines = gap_table(report)
    out_console.print(table)
    for line in lines:
        out_console.print(line, highlight=False)
