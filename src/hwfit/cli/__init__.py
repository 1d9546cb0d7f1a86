"""The ``hwfit`` command line: one thin module per command over the typed API."""

from __future__ import annotations

import typer

from hwfit.cli import (
    bench_cmd,
    compare_cmd,
    export_cmd,
    frontier_cmd,
    gap_cmd,
    hardware_cmd,
    history_cmd,
    import_cmd,
    optimize_cmd,
    predict_cmd,
    search_cmd,
)

__all__ = ["app"]

app = typer.Typer(
    name="hwfit",
    help="Make deep-learning models fast on the hardware you already have.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
app.command("hardware")(hardware_cmd.hardware)
app.command("bench")(bench_cmd.bench)
app.command("history")(history_cmd.history)
app.command("export")(export_cmd.export)
app.command("import")(import_cmd.import_)
app.command("optimize")(optimize_cmd.optimize)
app.command("predict")(predict_cmd.predict)
app.command("frontier")(frontier_cmd.frontier)
app.command("compare")(compare_cmd.compare)
app.command("gap")(gap_cmd.gap)
app.add_typer(search_cmd.search_app, name="search")
