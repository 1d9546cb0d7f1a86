"""Move results between databases: hwfit's JSON exchange file and timm's published tables.

:func:`export_results` writes a versioned JSON file::

    {"format": "hwfit-results", "version": 1, "hwfit_version": "...", "exported_at": "...",
     "machines": {"<fingerprint>": {<hardware profile>}, ...},
     "results": [<BenchResult as to_dict>, ...]}

:func:`import_results` reads that file, or one of the inference benchmark tables timm publishes
in its ``results/`` folder (``benchmark-infer-<precision>-<layout>-pt<torch>-<device>-<machine>
[-dynamo].csv``), recognised by its header. Re-importing a file adds nothing: a row is a
duplicate when an equal row is stored already, compared on the whole record except
``created_at`` and ``hwfit_version`` (which say when and by which hwfit a row was written, not
what was measured).

How a timm row becomes a :class:`~hwfit.records.BenchResult` (COMPLETE):

* model ``timm:<arch>`` (weight tags stripped: timm benchmarks random weights), input
  ``1x3xSxS`` from ``infer_img_size``, params and batch-1 MACs from ``param_count`` and
  ``infer_gmacs``;
* runtime ``torch-compile`` for the CPU ``-dynamo`` tables (timm's ``benchmark.py
  --torchcompile``), ``torch`` for the other CPU tables and ``torch-cuda`` for CUDA tables
  (``details["compiled"]`` says when a CUDA table was compiled); precision ``fp32``, or
  ``fp16`` for ``amp`` (timm's autocast on CUDA runs float16);
* latency: timm's ``infer_step_time`` is the mean time of one batch step in milliseconds, the
  same quantity as hwfit's per-call latency at that batch, so it fills every latency statistic
  (``p50_ms`` .. ``max_ms``) with ``n = 0`` (no distribution is published) and
  ``throughput`` is ``infer_samples_per_sec``;
* machine: the synthetic fingerprint ``timm:<machine>`` from the file name (or
  ``machine_label``), with a profile of ``kind = "published"`` naming the CPU or GPU; hwfit
  fabricates no core counts or ISA features it does not know.
* ``created_at`` is the import time (the tables carry no date); ``executed.details`` names the
  file, the machine profile also the ``origin`` given (a repository commit, say).

Example:
    >>> import tempfile
    >>> from hwfit.db import ResultStore
    >>> folder = Path(tempfile.mkdtemp())
    >>> with ResultStore("sqlite://") as store:
    ...     export_results(store, folder / "results.json")
    0
    >>> with ResultStore("sqlite://") as store:
    ...     import_results(store, folder / "results.json").added
    0

Files: :mod:`~hwfit.db.exchange.hwfit_json` (hwfit's exchange file) and
:mod:`~hwfit.db.exchange.timm_csv` (timm's tables).
"""

from __future__ import annotations

import csv
import dataclasses
import logging
from collections.abc import Mapping
from pathlib import Path

from hwfit.db._cells import read_text
from hwfit.db.exchange.hwfit_json import (
    FILE_HINT,
    FORMAT,
    HWFIT_KIND,
    VERSION,
    export_results,
    machines_of,
    parse_hwfit,
    result_key,
    write_results,
)
from hwfit.db.exchange.timm_csv import TIMM_COLUMNS, TIMM_KIND, parse_timm
from hwfit.db.store import HistoryQuery, ResultStore
from hwfit.errors import UserError
from hwfit.records import BenchResult

__all__ = [
    "FORMAT",
    "VERSION",
    "ImportSummary",
    "export_results",
    "import_results",
    "result_key",
    "write_results",
]

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class ImportSummary:
    """What :func:`import_results` did with one file.

    Attributes:
        path: The file.
        kind: ``"hwfit-results"`` or ``"timm-benchmark"``.
        added: Rows stored.
        duplicates: Rows skipped because an equal row was stored already (or came earlier in
            the same file).
        machines: Distinct machines the file's rows belong to.
        new_machines: Of those, machines whose profile this import stored (the database had
            none for them).
    """

    path: str
    kind: str
    added: int
    duplicates: int
    machines: int
    new_machines: int

    @property
    def line(self) -> str:
        """One line for the CLI, e.g. ``Imported 3 rows from r.json (hwfit results; ...)``."""
        kind = "timm benchmark table" if self.kind == TIMM_KIND else "hwfit results"
        rows = "row" if self.added == 1 else "rows"
        machines = "machine" if self.machines == 1 else "machines"
        return (
            f"Imported {self.added} {rows} from {self.path} ({kind}; "
            f"{self.duplicates} duplicates skipped; {self.machines} {machines}, "
            f"{self.new_machines} new)."
        )


def import_results(
    store: ResultStore,
    path: str | Path,
    *,
    machine_label: str | None = None,
    origin: str | None = None,
) -> ImportSummary:
    """Store the rows of an hwfit exchange file or a timm benchmark table, skipping duplicates.

    Args:
        store: The database to write.
        path: A file written by :func:`export_results`, or a timm ``benchmark-infer-*.csv``.
        machine_label: For timm tables: the machine name used instead of the one in the file
            name (the fingerprint becomes ``timm:<machine_label>``). Not allowed for hwfit
            files, whose rows carry their machines.
        origin: For timm tables: where the file comes from (``"huggingface/
            pytorch-image-models@<commit>"``), stored in the machine profile when this import
            creates it.

    Returns:
        The counts of what was added and skipped.

    Raises:
        UserError: The file is missing, unreadable, of an unknown kind, malformed (the message
            names the line or row), or ``machine_label`` was given for an hwfit file.
        DatabaseError: The database cannot be read or written.
    """
    path = Path(path)
    text = read_text(path, "Results file", FILE_HINT)
    if text.lstrip().startswith("{"):
        if machine_label is not None:
            raise UserError(
                f"--machine-label applies to timm benchmark tables, not to {path.name!r}.",
                hint="An hwfit results file carries the machines of its rows.",
            )
        kind = HWFIT_KIND
        results, machines = parse_hwfit(text, path)
    elif set(_header(text)) >= TIMM_COLUMNS:
        kind = TIMM_KIND
        results, machines = parse_timm(text, path, machine_label, origin)
    else:
        raise UserError(
            f"Cannot tell what {path.name!r} holds: neither an hwfit results file nor a timm "
            f"inference benchmark table (header {','.join(_header(text)[:6])!r}).",
            hint=FILE_HINT,
        )
    return _store_new(store, path, kind, results, machines)


def _store_new(
    store: ResultStore,
    path: Path,
    kind: str,
    results: list[BenchResult],
    machines: Mapping[str, Mapping[str, object]],
) -> ImportSummary:
    seen: set[str] = set()
    fingerprints = {r.fingerprint for r in results}
    if None in fingerprints:
        seen.update(result_key(r) for r in store.query())
    else:
        for fingerprint in fingerprints:
            seen.update(result_key(r) for r in store.query(HistoryQuery(fingerprint=fingerprint)))
    known = dict(store.machines())
    new_machines = 0
    for fingerprint, profile in machines.items():
        if not known.get(fingerprint):  # a richer profile stored earlier wins
            store.save_machine(fingerprint, profile)
            new_machines += 1
    fresh: list[BenchResult] = []
    for result in results:
        key = result_key(result)
        if key not in seen:
            seen.add(key)
            fresh.append(result)
    # One transaction: a failed import stores nothing, and importing again finishes it.
    added = store.save_many(fresh)
    duplicates = len(results) - added
    summary = ImportSummary(
        path=str(path),
        kind=kind,
        added=added,
        duplicates=duplicates,
        machines=len(machines_of(results)),
        new_machines=new_machines,
    )
    logger.info("%s", summary.line)
    return summary


# -- reading files ------------------------------------------------------------------------


def _header(text: str) -> list[str]:
    first = text.lstrip().split("\n", 1)[0]
    return [c.strip() for c in next(csv.reader([first]), [])]
