"""``hwfit history``: list and filter past results from the database."""

from __future__ import annotations

from typing import Annotated

import typer

from hwfit.records import RowState

__all__ = ["history"]


def history(
    model: Annotated[
        str | None, typer.Option(help="Only models whose source contains this.")
    ] = None,
    runtime: Annotated[str | None, typer.Option(help="Only this runtime.")] = None,
    machine: Annotated[
        str | None,
        typer.Option(help="Only this hardware fingerprint (or prefix); 'this' for this machine."),
    ] = None,
    state: Annotated[RowState | None, typer.Option(help="Only rows that ended so.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many rows, newest first.")] = 50,
    db: Annotated[
        str | None, typer.Option(help="Database URL or SQLite file (default: your data folder).")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON records.")] = False,
) -> None:
    """List past benchmark results, newest first."""
    from hwfit.cli.render import console, history_table, print_json
    from hwfit.db import HistoryQuery, ResultStore
    from hwfit.records import to_dict

    if machine == "this":
        from hwfit.hardware import probe

        machine = probe(include_runtimes=False).fingerprint
    with ResultStore(db) as store:
        rows = store.query(
            HistoryQuery(
                model=model, runtime=runtime, fingerprint=machine, state=state, limit=limit
            )
        )
    if json_out:
        print_json([to_dict(r) for r in rows])
        return
    console().print(history_table(rows))
