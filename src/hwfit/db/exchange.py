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
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import hashlib
import json
import logging
import os
import re
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hwfit._version import __version__
from hwfit.db._import_checks import machine_problem, row_problem
from hwfit.errors import UserError, first_line
from hwfit.records import (
    BenchResult,
    Executed,
    InputSpec,
    LatencyStats,
    ModelInfo,
    RowState,
    RunConfig,
    from_dict,
    to_dict,
)

if TYPE_CHECKING:
    from hwfit.db.store import HistoryQuery, ResultStore

__all__ = [
    "FORMAT",
    "VERSION",
    "ImportSummary",
    "export_results",
    "import_results",
    "machine_name",
    "result_key",
    "write_results",
]

logger = logging.getLogger(__name__)

FORMAT = "hwfit-results"
"""The ``format`` value of an hwfit exchange file."""

VERSION = 1
"""The exchange-file layout this hwfit writes and reads."""

HWFIT_KIND = "hwfit-results"
TIMM_KIND = "timm-benchmark"

_TIMM_COLUMNS = frozenset(
    {"model", "infer_img_size", "infer_samples_per_sec", "infer_step_time", "infer_batch_size"}
)
_TIMM_NAME = re.compile(
    r"^benchmark-infer-(?P<precision>[a-z0-9]+)-(?P<layout>nchw|nhwc)-pt(?P<torch>\d{3,4})"
    r"-(?P<device>cpu|cu\d{3,4})-(?P<machine>.+?)(?P<dynamo>-dynamo)?\.csv$"
)
_TIMM_PRECISIONS = {
    "fp32": "fp32",
    "float32": "fp32",
    "amp": "fp16",
    "fp16": "fp16",
    "bf16": "bf16",
}
# Machines of timm's published tables; an unknown tag is shown as it is.
_KNOWN_MACHINES = {
    "i9_10940x": "Intel Core i9-10940X",
    "i7_12700h": "Intel Core i7-12700H",
    "rtx4090": "NVIDIA GeForce RTX 4090",
    "rtx3090": "NVIDIA GeForce RTX 3090",
}
_TIMM_HINT = (
    "Pass one of timm's results/benchmark-infer-*.csv tables under its published name "
    "(benchmark-infer-<precision>-<layout>-pt<torch>-<cpu|cuXXX>-<machine>[-dynamo].csv)."
)
_FILE_HINT = "Pass a file written by 'hwfit export' or one of timm's benchmark-infer-*.csv tables."
_IGNORED_IN_KEY = ("created_at", "hwfit_version")


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
    fingerprints = _fingerprints(results)
    machines = {fp: profile for fp, profile in store.machines() if fp in fingerprints}
    write_results(path, list(reversed(results)), machines)
    logger.info("Exported %d rows and %d machines to %s", len(results), len(machines), path)
    return len(results)


def write_results(
    path: str | Path,
    results: Sequence[BenchResult],
    machines: Mapping[str, Mapping[str, Any]],
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
        "exported_at": _now_iso(),
        "machines": {fp: dict(machines[fp]) for fp in sorted(machines)},
        "results": [to_dict(r) for r in results],
    }
    _write_atomically(Path(path), json.dumps(document, indent=1, sort_keys=False) + "\n")


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
    text = _read(path)
    if text.lstrip().startswith("{"):
        if machine_label is not None:
            raise UserError(
                f"--machine-label applies to timm benchmark tables, not to {path.name!r}.",
                hint="An hwfit results file carries the machines of its rows.",
            )
        kind = HWFIT_KIND
        results, machines = _parse_hwfit(text, path)
    elif set(_header(text)) >= _TIMM_COLUMNS:
        kind = TIMM_KIND
        results, machines = _parse_timm(text, path, machine_label, origin)
    else:
        raise UserError(
            f"Cannot tell what {path.name!r} holds: neither an hwfit results file nor a timm "
            f"inference benchmark table (header {','.join(_header(text)[:6])!r}).",
            hint=_FILE_HINT,
        )
    return _store_new(store, path, kind, results, machines)


def result_key(result: BenchResult) -> str:
    """Return the identity of a row: a hash of its record without ``created_at``/``hwfit_version``.

    Two rows with the same key describe the same measurement; :func:`import_results` stores
    only one of them.

    Example:
        >>> import dataclasses
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


def machine_name(fingerprint: str, profile: Mapping[str, Any]) -> str:
    """Return a short human name for a stored machine: its CPU brand, or GPU names.

    Works for profiles measured by hwfit (:class:`~hwfit.hardware.HardwareProfile` dicts) and
    for the published machines a timm import creates.

    Example:
        >>> machine_name("timm:rtx4090", {"kind": "published", "gpus": [{"name": "RTX 4090"}]})
        'RTX 4090 (timm table)'
        >>> machine_name("0123abcd", {})
        '0123abcd'
    """
    gpus = [str(g.get("name")) for g in profile.get("gpus") or () if isinstance(g, Mapping)]
    cpu = profile.get("cpu")
    brand = str(cpu.get("brand") or "") if isinstance(cpu, Mapping) else ""
    if profile.get("kind") == "published":
        device = ", ".join(gpus) if gpus else brand
        return f"{device or fingerprint} (timm table)"
    return brand or fingerprint


# -- storing ------------------------------------------------------------------------------


def _store_new(
    store: ResultStore,
    path: Path,
    kind: str,
    results: list[BenchResult],
    machines: Mapping[str, Mapping[str, Any]],
) -> ImportSummary:
    from hwfit.db.store import HistoryQuery

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
        machines=len(_fingerprints(results)),
        new_machines=new_machines,
    )
    logger.info("%s", summary.line)
    return summary


# -- reading files ------------------------------------------------------------------------


def _read(path: Path) -> str:
    if not path.is_file():
        raise UserError(f"Results file {str(path)!r} not found.", hint="Check the path.")
    try:
        return path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(
            f"Cannot read the results file {str(path)!r}: {first_line(exc)}.", hint=_FILE_HINT
        ) from exc


def _header(text: str) -> list[str]:
    first = text.lstrip().split("\n", 1)[0]
    return [c.strip() for c in next(csv.reader([first]), [])]


def _parse_hwfit(text: str, path: Path) -> tuple[list[BenchResult], dict[str, dict[str, Any]]]:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(
            f"{path.name!r} is not valid JSON: {exc.msg} (line {exc.lineno}).", hint=_FILE_HINT
        ) from exc
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise UserError(
            f'{path.name!r} is JSON but not an hwfit results file (no "format": {FORMAT!r}).',
            hint=_FILE_HINT,
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


def _result_from(item: Any, index: int, path: Path) -> BenchResult:
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


def _parse_timm(
    text: str, path: Path, machine_label: str | None, origin: str | None
) -> tuple[list[BenchResult], dict[str, dict[str, Any]]]:
    match = _TIMM_NAME.match(path.name)
    if match is None:
        raise UserError(
            f"Cannot tell the precision, device and machine of the timm table {path.name!r} "
            "from its name.",
            hint=_TIMM_HINT,
        )
    precision = _TIMM_PRECISIONS.get(match["precision"])
    if precision is None:
        raise UserError(
            f"Unknown precision {match['precision']!r} in the timm table name {path.name!r}.",
            hint=f"Known: {', '.join(sorted(_TIMM_PRECISIONS))}.",
        )
    tag = match["machine"]
    label = tag if machine_label is None else machine_label.strip()
    if not label or any(c.isspace() for c in label) or len(label) > 100:
        raise UserError(
            f"The machine label {machine_label!r} is not usable.",
            hint="Use a short name without spaces, e.g. i9_10940x.",
        )
    on_gpu = match["device"] != "cpu"
    dynamo = match["dynamo"] is not None
    torch_version = _torch_version(match["torch"])
    fingerprint = f"timm:{label}"
    hardware = _KNOWN_MACHINES.get(tag, tag)
    profile: dict[str, Any] = {
        "kind": "published",
        "source": "timm published benchmark table (benchmark.py)",
        "origin": origin,
        "machine_tag": tag,
        "label": label,
        "device": "gpu" if on_gpu else "cpu",
        "cpu": None if on_gpu else {"brand": hardware},
        "gpus": [{"name": hardware}] if on_gpu else [],
    }
    # A compiled CUDA table stays "torch-cuda" (hwfit has no compiled CUDA runtime to name).
    runtime = "torch-cuda" if on_gpu else ("torch-compile" if dynamo else "torch")
    details = {
        "source": "timm published benchmark table",
        "file": path.name,
        "latency": "mean ms per batch step of timm benchmark.py; no distribution published",
        "layout": match["layout"],
    }
    if on_gpu:
        details["cuda"] = _cuda_version(match["device"])
        if dynamo:
            details["compiled"] = "torch.compile"
    if match["precision"] == "amp":
        details["amp"] = "torch autocast float16, weights float32"
    executed = Executed(
        precision=precision,
        threads=None,
        device="GPU" if on_gpu else "CPU",
        details=details,
    )
    now = _now_iso()
    results = []
    rows = csv.DictReader(text.lstrip().splitlines())
    for row in rows:
        at = f"{path.name!r} line {rows.line_num}"
        if not any((v or "").strip() for v in row.values() if isinstance(v, str)):
            continue
        results.append(
            _timm_row(row, at, runtime, precision, executed, torch_version, fingerprint, now)
        )
    if not results:
        raise UserError(f"The timm table {path.name!r} has no rows.", hint=_TIMM_HINT)
    return results, {fingerprint: profile}


def _timm_row(
    row: Mapping[str, str | None],
    at: str,
    runtime: str,
    precision: str,
    executed: Executed,
    torch_version: str,
    fingerprint: str,
    created_at: str,
) -> BenchResult:
    model = (row.get("model") or "").strip()
    if not model:
        raise UserError(f"The model is empty in {at}.", hint=_TIMM_HINT)
    arch = model.split(".", 1)[0]
    size = _whole(row, "infer_img_size", at)
    batch = _whole(row, "infer_batch_size", at)
    params = _optional_float(row, "param_count", at)
    gmacs = _optional_float(row, "infer_gmacs", at)
    info = ModelInfo(
        source=f"timm:{arch}",
        kind="torch",
        content_hash=f"timm-table:{arch}",  # no weights were published; the name identifies it
        input=InputSpec("input", (1, 3, size, size), "float32"),
        params=round(params * 1e6) if params is not None else None,
        macs=round(gmacs * 1e9) if gmacs is not None else None,
    )
    config = RunConfig(runtime=runtime, batch=batch, precision=precision, async_throughput=False)
    failed = BenchResult(
        model=info,
        config=config,
        state=RowState.FAILED,
        reason=(row.get("error") or "").strip() or None,
        runtime_version=torch_version,
        fingerprint=fingerprint,
        hwfit_version=__version__,
        created_at=created_at,
    )
    if failed.reason:  # timm's benchmark.py writes the exception of a model it could not run
        return failed
    step_ms = _positive(row, "infer_step_time", at)
    latency = LatencyStats(
        n=0,
        p50_ms=step_ms,
        p90_ms=step_ms,
        p99_ms=step_ms,
        mean_ms=step_ms,
        std_ms=0.0,
        min_ms=step_ms,
        max_ms=step_ms,
        ci_low_ms=step_ms,
        ci_high_ms=step_ms,
        ci_rel=0.0,
        warmup_runs=0,
        timed_s=0.0,
    )
    return dataclasses.replace(
        failed,
        state=RowState.COMPLETE,
        executed=executed,
        latency=latency,
        throughput=_positive(row, "infer_samples_per_sec", at),
    )


def _float(row: Mapping[str, str | None], column: str, at: str) -> float:
    raw = (row.get(column) or "").strip()
    try:
        value = float(raw.replace(",", ""))  # timm writes "1,014.45"
    except ValueError:
        raise UserError(
            f"The {column} {raw!r} in {at} is not a number.", hint=_TIMM_HINT
        ) from None
    if value != value or value in (float("inf"), float("-inf")) or value < 0:
        raise UserError(f"The {column} {raw!r} in {at} is not a usable number.", hint=_TIMM_HINT)
    return value


def _optional_float(row: Mapping[str, str | None], column: str, at: str) -> float | None:
    return _float(row, column, at) if (row.get(column) or "").strip() else None


def _positive(row: Mapping[str, str | None], column: str, at: str) -> float:
    value = _float(row, column, at)
    if value == 0:
        raise UserError(f"The {column} in {at} is zero.", hint=_TIMM_HINT)
    return value


def _whole(row: Mapping[str, str | None], column: str, at: str) -> int:
    raw = (row.get(column) or "").strip()
    if not raw.isdigit() or int(raw) == 0:
        raise UserError(
            f"The {column} {raw!r} in {at} is not a positive whole number.", hint=_TIMM_HINT
        )
    return int(raw)


def _torch_version(code: str) -> str:
    """``"240"`` -> ``"2.4.0"``, ``"2100"`` -> ``"2.10.0"`` (timm's ``pt<version>`` tag)."""
    return f"{code[0]}.{int(code[1:-1])}.{code[-1]}"


def _cuda_version(device: str) -> str:
    """``"cu124"`` -> ``"12.4"``."""
    digits = device.removeprefix("cu")
    return f"{digits[:-1]}.{digits[-1]}"


# -- writing ------------------------------------------------------------------------------


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


def _now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _fingerprints(results: Iterable[BenchResult]) -> set[str]:
    return {r.fingerprint for r in results if r.fingerprint is not None}
