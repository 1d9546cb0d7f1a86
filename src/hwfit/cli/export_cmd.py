"""``hwfit export``: write stored results and their machines to a JSON file to share."""

from __future__ import annotations

from typing import Annotated

import typer

from hwfit.cli.options import runtime_option, single, str_list
from hwfit.records import RowState

__all__ = ["export"]


def export(
    file: Annotated[
        str, typer.Argument(metavar="FILE", help="The JSON file to write (replaced if it exists).")
    ],
    model: Annotated[
        str | None, typer.Option(help="Only models whose source contains this.")
    ] = None,
    runtime: Annotated[str | None, runtime_option("Only this runtime (one value).")] = None,
    machine: Annotated[
        str | None,
        typer.Option(help="Only this hardware fingerprint (or prefix); 'this' for this machine."),
    ] = None,
    state: Annotated[RowState | None, typer.Option(help="Only rows that ended so.")] = None,
    limit: Annotated[
        int | None, typer.Option(help="At most this many rows, the newest (default: all).")
    ] = None,
    db: Annotated[
        str | None, typer.Option(help="Database URL or SQLite file (default: your data folder).")
    ] = None,
) -> None:
    """Export benchmark results (and their machines' profiles) to a JSON file."""
    from hwfit.cli.render import console
    from hwfit.db import HistoryQuery, ResultStore
    from hwfit.db.exchange import export_results

    if machine == "this":
        from hwfit.hardware import probe

        machine = probe(include_runtimes=False).fingerprint
    if runtime is not None:
        names = str_list(runtime) or []
        runtime = single(names, "--runtime", "export", "Export one runtime per file, or all.")
    query = HistoryQuery(
        model=model, runtime=runtime, fingerprint=machine, state=state, limit=limit
    )
    with ResultStore(db) as store:
        count = export_results(store, file, query)
        where = store.display_url
    rows = "row" if count == 1 else "rows"
    console().print(
        f"Exported {count} {rows} from {where} to {file}.",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
