"""Where measured rows go when the database stops taking them mid-run.

A run that stores each row as it ends (``hwfit bench``) keeps measuring when a write fails
(the server stopped, the disk filled, the file went away). The rows the database did not take
are written to ``hwfit-results-<UTC time>.json`` in the current folder: a regular exchange
file (:func:`hwfit.db.exchange.write_results`, the format ``hwfit export`` writes), rewritten
after every row, so ``hwfit import`` stores exactly the missing rows later and even a run
killed half-way loses nothing it measured.

Example:
    >>> import os, tempfile
    >>> from hwfit.records import BenchResult, InputSpec, ModelInfo, RowState, RunConfig
    >>> row = BenchResult(ModelInfo("m.onnx", "onnx", "h", InputSpec("x", (1, 3))),
    ...                   RunConfig("onnxruntime"), RowState.SKIPPED, reason="no")
    >>> fallback = FallbackFile(folder=tempfile.mkdtemp())
    >>> fallback.add(row)
    >>> fallback.rows, fallback.path.name.startswith("hwfit-results-")
    (1, True)
    >>> fallback.command.startswith("hwfit import ")
    True
"""

from __future__ import annotations

import datetime as dt
import logging
import shlex
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from hwfit.db.exchange.hwfit_json import write_results
from hwfit.errors import UserError, first_line
from hwfit.records import BenchResult

if TYPE_CHECKING:
    from hwfit.db.store import ResultStore

__all__ = ["FallbackFile"]

logger = logging.getLogger(__name__)

PREFIX = "hwfit-results-"


class FallbackFile:
    """The rows a run could not store, kept in a file that ``hwfit import`` reads.

    Nothing is written until the first :meth:`add`; the file is then created under a name no
    other run holds (two runs that fail in the same second get two files).

    Args:
        db_url: The database the rows belong in, as the ``--db`` of the import command (with
            its password masked); None when the run used the default database, which
            ``hwfit import`` opens too.
        folder: Where the file goes; default: the current folder, or the temporary folder
            when that cannot be written.
    """

    def __init__(self, db_url: str | None = None, folder: str | Path | None = None) -> None:
        self.db_url = db_url
        self._folders = [Path(folder)] if folder is not None else [Path.cwd()]
        if folder is None:
            self._folders.append(Path(tempfile.gettempdir()))
        self._results: list[BenchResult] = []
        self._machines: dict[str, dict[str, object]] = {}
        self.path: Path | None = None
        self.error: str | None = None

    @classmethod
    def for_store(cls, store: ResultStore | None, db: str | None) -> FallbackFile:
        """The file for a run storing into ``store``, opened from the user's ``db`` (or None).

        The import command names the database unless it is the default, which import opens too.
        """
        return cls(db_url=store.display_url if store is not None and db else None)

    @property
    def rows(self) -> int:
        """Rows added so far."""
        return len(self._results)

    @property
    def command(self) -> str | None:
        """The command that stores the rows: ``hwfit import <file> [--db <url>]``."""
        if self.path is None:
            return None
        words = ["hwfit", "import", str(self.path)]
        if self.db_url is not None:
            words += ["--db", self.db_url]
        return shlex.join(words)

    def note(self) -> str:
        """One line for a report: where the rows are and the command that stores them."""
        if self.path is None:
            return f"{self.rows} rows were not stored; no file can hold them: {self.error}"
        return (
            f"{self.rows} rows the database did not take are in {self.path}; "
            f"store them with: {self.command}"
        )

    def add(self, result: BenchResult, profile: Mapping[str, object] | None = None) -> None:
        """Add one row the database did not take, and rewrite the file with every row so far.

        Never raises for a file that cannot be written (the run goes on, its rows are still
        in its report): :attr:`error` says why and :attr:`path` stays None.

        Args:
            result: The row.
            profile: The hardware profile of the row's machine.
        """
        self._results.append(result)
        if profile is not None and result.fingerprint is not None:
            self._machines[result.fingerprint] = dict(profile)
        try:
            if self.path is None:
                self.path = self._claim()
            write_results(self.path, self._results, self._machines)
            self.error = None
        except UserError as exc:
            self.error = exc.message
            logger.warning("Cannot write the fallback file: %s", exc.message)

    def _claim(self) -> Path:
        """Create an empty file under a fresh name, in the first folder that can hold it."""
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        why = "no folder to write to"
        for folder in self._folders:
            for n in range(1, 100):
                path = folder / f"{PREFIX}{stamp}{'' if n == 1 else f'-{n}'}.json"
                try:
                    with path.open("x", encoding="utf-8"):
                        return path.resolve()
                except FileExistsError:
                    continue
                except OSError as exc:
                    why = f"{folder}: {exc.strerror or first_line(exc)}"
                    break
        raise UserError(f"Cannot create a results file: {why}.")
