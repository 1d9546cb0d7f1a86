"""hwfit's JSON exchange file: writing it (:func:`export_results`) and reading it back.

The layout, version 1::

    {"format": "hwfit-results", "version": 1, "hwfit_version": "...", "exported_at": "...",
     "machines": {"<fingerprint>": {<hardware profile>}, ...},
     "results": [<BenchResult as to_dict>, ...]}
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from hwfit._version import __version__
from hwfit.db._import_checks import machine_problem, row_problem
from hwfit.errors import UserError, first_line
from hwfit.records import BenchResult, ModelInfo, RunConfig, from_dict, to_dict

if TYPE_CHECKING:
    from hwfit.db.store import HistoryQuery, ResultStore

__all__ = [
    "FILE_HINT",
    "FORMAT",
    "HWFIT_KIND",
    "VERSION",
    "export_results",
    "machines_of",
    "now_iso",
    "parse_hwfit",
    "result_key",
    "write_results",
]

logger = logging.getLogger(__name__)

FORMAT = "hwfit-results"
"""The ``format`` value of an hwfit exchange file."""

VERSION = 1
"""The exchange-file layout this hwfit writes and reads."""

HWFIT_KIND = "hwfit-results"

FILE_HINT = "Pass a file written by 'hwfit export' or one of timm's benchmark-infer-*.csv tables."
_IGNORED_IN_KEY = ("created_at", "hwfit_version")


def export_results(store: ResultStore, path: str | Path, query: HistoryQuery | None = None) -> int:
    """Write the rows matching ``query`` and the profiles of their machines to a JSON file.

    Rows are written oldest first. The file is replaced atomically, so an interrupted export
    never leaves half a file.

    Args:
        store: The database to read.
        path: The JSON file to write (replaced when it exists).
        query: Which rows; default: all.

    Returns:
        The number of rows written.

    Raises:
        UserError: The file cannot be written.
        DatabaseError: The database cannot be read.
    """
    results = store.query(query)
    fingerprints = machines_of(results)
    machines = {fp: profile for fp, profile in store.machines() if fp in fingerprints}
    write_results(path, list(reversed(results)), machines)
    logger.info("Exported %d rows and %d machines to %s", len(results), len(machines), path)
    return len(results)


def write_results(
    path: str | Path,
    results: Sequence[BenchResult],
    machines: Mapping[str, Mapping[str, object]],
) -> None:
    """Write rows and their machines' profiles as an exchange file (what ``hwfit import`` reads).

    :func:`export_results` writes what a database holds with it; a run whose database failed
    writes the rows it could not store (:class:`~hwfit.db.fallback.FallbackFile`). The file is
    replaced atomically.

    Args:
        path: The JSON file to write (replaced when it exists).
        results: The rows, in the order to keep (oldest first).
        machines: Fingerprint -> hardware profile of the machines the rows belong to.

    Raises:
        UserError: The file cannot be written.
    """
    document = {
        "format": FORMAT,
        "version": VERSION,
        "hwfit_version": __version__,
        "exported_at": now_iso(),
        "machines": {fp: dict(machines[fp]) for fp in sorted(machines)},
        "results": [to_dict(r) for r in results],
    }
    _write_atomically(Path(path), json.dumps(document, indent=1, sort_keys=False) + "\n")


def result_key(result: BenchResult) -> str:
    """Return the identity of a row: a hash of its record without ``created_at``/``hwfit_version``.

    Two rows with the same key describe the same measurement; :func:`import_results` stores
    only one of them.

    Example:
        >>> import dataclasses
        >>> from hwfit.records import InputSpec, RowState
        >>> spec = InputSpec("input", (1, 3, 8, 8))
        >>> row = BenchResult(ModelInfo("timm:x", "torch", "h", spec), RunConfig("torch"),
        ...                   RowState.SKIPPED, reason="no")
        >>> later = dataclasses.replace(row, created_at="2030-01-01T00:00:00+00:00")
        >>> result_key(row) == result_key(later)
        True
    """
    record = to_dict(result)
    for name in _IGNORED_IN_KEY:
        record.pop(name, None)
    blob = json.dumps(record, sort_keys=True, separators=(",", ":"), allow_nan=True)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def parse_hwfit(text: str, path: Path) -> tuple[list[BenchResult], dict[str, dict[str, object]]]:
    """Read an exchange file's rows and machine profiles, every row checked.

    Raises:
        UserError: Not JSON, not an hwfit file, a newer version, or a malformed row or
            machine (the message names it).
    """
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(
            f"{path.name!r} is not valid JSON: {exc.msg} (line {exc.lineno}).", hint=FILE_HINT
        ) from exc
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise UserError(
            f'{path.name!r} is JSON but not an hwfit results file (no "format": {FORMAT!r}).',
            hint=FILE_HINT,
        )
    version = document.get("version")
    if not isinstance(version, int) or version > VERSION or version < 1:
        raise UserError(
            f"{path.name!r} has exchange version {version!r}; this hwfit reads version {VERSION}.",
            hint="Upgrade hwfit to read files written by a newer one.",
        )
    machines = document.get("machines", {})
    raw_results = document.get("results")
    if not isinstance(machines, dict) or not isinstance(raw_results, list):
        raise UserError(
            f'{path.name!r} lacks its "machines" object or its "results" list.',
            hint="Export the file again with 'hwfit export'.",
        )
    for fingerprint, profile in machines.items():
        if not isinstance(profile, dict):
            raise UserError(
                f"{path.name!r}: the profile of machine {fingerprint!r} is not an object.",
                hint="Export the file again with 'hwfit export'.",
            )
        refused = machine_problem(fingerprint, profile)
        if refused is not None:
            raise UserError(
                f"{path.name!r}: machine {fingerprint!r}, {refused.field}: {refused.sentence}",
                hint=refused.hint,
            )
    results = [_result_from(item, i, path) for i, item in enumerate(raw_results)]
    return results, machines


def _result_from(item: object, index: int, path: Path) -> BenchResult:
    problem: str | None = None
    if not isinstance(item, dict):
        problem = "is not an object"
    else:
        try:
            result = from_dict(BenchResult, item)
            if not isinstance(result.model, ModelInfo) or not isinstance(result.config, RunConfig):
                problem = "lacks its model or config"
            elif result.created_at is not None:
                dt.datetime.fromisoformat(result.created_at)
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            problem = f"is malformed ({first_line(exc, 200)})"
    if problem is not None:
        raise UserError(
            f"{path.name!r}: result {index} {problem}.",
            hint="Export the file again with 'hwfit export'.",
        )
    refused = row_problem(result)
    if refused is not None:
        raise UserError(
            f"{path.name!r}: result {index}, {refused.field}: {refused.sentence}",
            hint=refused.hint,
        )
    return result


def _write_atomically(path: Path, text: str) -> None:
    folder = path.parent if str(path.parent) else Path()
    if not folder.is_dir():
        raise UserError(
            f"Cannot write {str(path)!r}: the folder {str(folder)!r} does not exist.",
            hint="Create the folder first, or pass another path.",
        )
    tmp: Path | None = None
    try:
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
        tmp = Path(name)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        tmp.replace(path)
    except OSError as exc:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        raise UserError(
            f"Cannot write {str(path)!r}: {exc.strerror or first_line(exc)}.",
            hint="Check that the folder is writable, or pass another path.",
        ) from exc


def now_iso() -> str:
    """The time now in UTC, ISO 8601 to the second (``exported_at``, timm rows' ``created_at``)."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def machines_of(results: Iterable[BenchResult]) -> set[str]:
    """The machines (fingerprints) that ``results`` were measured on."""
    return {r.fingerprint for r in results if r.fingerprint is not None}
