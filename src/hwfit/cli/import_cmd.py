"""``hwfit import``: add results from hwfit export files or timm's published tables."""

from __future__ import annotations

from typing import Annotated

import typer

__all__ = ["import_"]


def import_(
    files: Annotated[
        list[str],
        typer.Argument(
            metavar="FILE",
            help="Files written by 'hwfit export', or timm benchmark-infer-*.csv tables.",
        ),
    ],
    db: Annotated[
        str | None, typer.Option(help="Database URL or SQLite file (default: your data folder).")
    ] = None,
    machine_label: Annotated[
        str | None,
        typer.Option(
            help="timm tables: the machine's name instead of the one in the file name "
            "(results are keyed by 'timm:<label>')."
        ),
    ] = None,
    origin: Annotated[
        str | None,
        typer.Option(
            help="timm tables: where the file comes from, kept in the machine's profile "
            "(e.g. huggingface/pytorch-image-models@<commit>)."
        ),
    ] = None,
) -> None:
    """Import results; rows already in the database are skipped, so re-importing is safe."""
    from hwfit.cli.render import console
    from hwfit.db import ResultStore
    from hwfit.db.exchange import import_results

    with ResultStore(db, writable=True) as store:
        for file in files:
            summary = import_results(store, file, machine_label=machine_label, origin=origin)
            console().print(summary.line, markup=False, highlight=False, soft_wrap=True)
