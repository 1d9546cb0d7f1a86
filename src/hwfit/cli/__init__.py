"""The ``hwfit`` command line: one thin module per command over the typed API."""

from __future__ import annotations

import typer

from hwfit.cli import bench_cmd, hardware_cmd, history_cmd, optimize_cmd, predict_cmd

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
app.command("optimize")(optimize_cmd.optimize)
app.command("predict")(predict_cmd.predict)
