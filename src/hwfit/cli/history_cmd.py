"""``hwfit history``: list and filter past results from the database."""

from __future__ import annotations

from typing import Annotated

import typer

from hwfit.cli.options import db_option, json_option, runtime_option, str_list
from hwfit.errors import UserError
from hwfit.records import RowState

__all__ = ["history"]


def history(
    model: Annotated[
        str | None, typer.Option(help="Only models whose source contains this.")
    ] = None,
    runtime: Annotated[str | None, runtime_option("Only these runtimes, comma-separated.")] = None,
    machine: Annotated[
        str | None,
        typer.Option(help="Only this hardware fingerprint (or prefix); 'this' for this machine."),
    ] = None,
    state: Annotated[RowState | None, typer.Option(help="Only rows that ended so.")] = None,
    limit: Annotated[
        int, typer.Option(help="At most this many rows, newest first; 0 for no limit.")
    ] = 50,
    db: Annotated[str | None, db_option()] = None,
    json_out: Annotated[bool, json_option("Print JSON records instead of the table.")] = False,
) -> None:
    """List past benchmark results, newest first."""
    from hwfit.cli.render import console, history_table, print_json
    from hwfit.db import HistoryQuery, ResultStore
    from hwfit.records import to_dict

    if limit < 0:
        raise UserError(
            f"--limit must be 0 or more, got {limit}.", hint="--limit 0 shows every row."
        )
    if machine == "this":
        from hwfit.hardware import probe

        machine = probe(include_runtimes=False).fingerprint
    most = limit or None
    names = str_list(runtime)
    runtimes: list[str | None] = list(names) if names else [None]
    with ResultStore(db) as store:
        rows = [
            row
            for name in runtimes
            for row in store.query(
                HistoryQuery(
                    model=model, runtime=name, fingerprint=machine, state=state, limit=most
                )
            )
        ]
    if len(runtimes) > 1:  # one query per runtime, each newest first: merge them
        rows.sort(key=lambda r: r.created_at or "", reverse=True)
        rows = rows[:most]
    if json_out:
        print_json([to_dict(r) for r in rows])
        return
    console().print(history_table(rows))
