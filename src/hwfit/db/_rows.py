"""Rows of the results database: records to column values and back, and one-statement upserts.

Only :mod:`hwfit.db` uses these functions; readers get frozen records, never ORM objects.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence

from sqlalchemy import null, select
from sqlalchemy.orm import Session

from hwfit.db.latency import LatencyRecord
from hwfit.db.schema import Base, LatencyReferenceRow, LatencyRow, MachineRow, ResultRow
from hwfit.errors import InternalError
from hwfit.records import BenchResult, InputSpec, ModelInfo, RowState, RunConfig, to_dict

__all__ = [
    "latency_record",
    "latency_values",
    "naive_utc",
    "now",
    "result_row",
    "upsert",
    "upsert_machine",
    "write_probe_rows",
]


def _probe_result(fingerprint: str) -> BenchResult:
    """A row that :meth:`ResultStore.check_writable` writes and rolls back."""
    return BenchResult(
        model=ModelInfo(fingerprint, "onnx", fingerprint, InputSpec("x", (1,))),
        config=RunConfig("onnxruntime"),
        state=RowState.SKIPPED,
        reason="write check",
        fingerprint=fingerprint,
    )


def naive_utc(moment: dt.datetime) -> dt.datetime:
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(dt.UTC).replace(tzinfo=None)


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _created_at(result: BenchResult) -> dt.datetime:
    if result.created_at is None:
        return now()
    try:
        return naive_utc(dt.datetime.fromisoformat(result.created_at))
    except ValueError as exc:
        raise InternalError(
            f"Result created_at {result.created_at!r} is not an ISO 8601 time."
        ) from exc


def result_row(result: BenchResult) -> ResultRow:
    latency, executed = result.latency, result.executed
    return ResultRow(
        created_at=_created_at(result),
        hwfit_version=result.hwfit_version,
        fingerprint=result.fingerprint,
        model_source=result.model.source,
        model_hash=result.model.content_hash,
        model_kind=result.model.kind,
        runtime=result.config.runtime,
        runtime_version=result.runtime_version,
        state=RowState(result.state).value,
        reason=result.reason,
        batch=result.config.batch,
        threads_requested=result.config.threads,
        precision_requested=result.config.precision,
        precision_executed=executed.precision if executed else None,
        threads_executed=executed.threads if executed else None,
        p50_ms=latency.p50_ms if latency else None,
        p90_ms=latency.p90_ms if latency else None,
        p99_ms=latency.p99_ms if latency else None,
        mean_ms=latency.mean_ms if latency else None,
        ci_rel=latency.ci_rel if latency else None,
        noisy=latency.noisy if latency else False,
        throughput=result.throughput,
        record=to_dict(result),
    )


def upsert_machine(
    session: Session, fingerprint: str, profile: Mapping[str, object] | None
) -> None:
    # One statement on SQLite and PostgreSQL: two processes measuring on the same machine
    # for the first time (a team's first day) cannot both insert it.
    moment = now()
    values = {
        "fingerprint": fingerprint,
        "profile": dict(profile) if profile is not None else null(),
        "first_seen": moment,
        "last_seen": moment,
    }
    update: dict[str, object] = {"last_seen": moment}
    if profile is not None:
        update["profile"] = dict(profile)
    upsert(session, MachineRow, values, ("fingerprint",), update=update)
    session.flush()  # the results row that follows refers to this one


def _null(value: float) -> float | None:
    """NaN as NULL, the same in every database (PostgreSQL would keep NaN as a number)."""
    return None if math.isnan(value) else float(value)


def _nan(value: float | None) -> float:
    return math.nan if value is None else float(value)


def latency_values(record: LatencyRecord) -> dict[str, object]:
    if record.created_at is None:
        created = now()
    else:
        try:
            created = naive_utc(dt.datetime.fromisoformat(record.created_at))
        except ValueError as exc:
            raise InternalError(
                f"Latency created_at {record.created_at!r} is not an ISO 8601 time."
            ) from exc
    return {
        "arch_key": record.arch_key,
        "target": record.target,
        "fingerprint": record.fingerprint,
        "created_at": created,
        "p50_ms": _null(record.p50_ms),
        "ci_rel": _null(record.ci_rel),
        "runs": record.runs,
        "executed_precision": record.executed_precision,
        "seconds": record.seconds,
        "reason": record.reason,
        "quiet_ms": _null(record.quiet_ms),
        "contention": _null(record.contention),
        "ratio": _null(record.ratio),
        "ratio_ci_low": _null(record.ratio_ci_low),
        "ratio_ci_high": _null(record.ratio_ci_high),
        "reference_ms": _null(record.reference_ms),
        "attempts": record.attempts,
        "noise": list(record.noise),
    }


def latency_record(row: LatencyRow) -> LatencyRecord:
    return LatencyRecord(
        arch_key=row.arch_key,
        target=row.target,
        fingerprint=row.fingerprint,
        p50_ms=_nan(row.p50_ms),
        ci_rel=_nan(row.ci_rel),
        runs=row.runs,
        executed_precision=row.executed_precision,
        seconds=row.seconds,
        reason=row.reason,
        created_at=row.created_at.replace(tzinfo=dt.UTC).isoformat(),
        quiet_ms=_nan(row.quiet_ms),
        contention=_nan(row.contention),
        ratio=_nan(row.ratio),
        ratio_ci_low=_nan(row.ratio_ci_low),
        ratio_ci_high=_nan(row.ratio_ci_high),
        reference_ms=_nan(row.reference_ms),
        attempts=row.attempts,
        noise=tuple(row.noise or ()),
    )


def upsert(
    session: Session,
    table: type[Base],
    values: Mapping[str, object],
    keys: Sequence[str],
    *,
    replace: bool = True,
    update: Mapping[str, object] | None = None,
) -> None:
    """Insert ``values``; a row with the same ``keys`` is updated (or kept: ``replace=False``).

    SQLite and PostgreSQL do it in one statement (``ON CONFLICT ... DO UPDATE``), so two
    processes storing the same key at once cannot both insert.

    Args:
        session: The open session.
        table: The table's ORM class.
        values: Every column of the new row.
        keys: The unique columns that identify it.
        replace: Update an existing row (True) or keep it (False).
        update: The columns to set on an existing row; default: every column but the keys.
    """
    dialect = session.get_bind().dialect.name
    if update is None:
        update = {k: v for k, v in values.items() if k not in keys}
    if dialect in ("sqlite", "postgresql"):
        from sqlalchemy.dialects import postgresql, sqlite

        insert = sqlite.insert if dialect == "sqlite" else postgresql.insert
        stmt = insert(table).values(**values)
        if replace:
            session.execute(stmt.on_conflict_do_update(index_elements=list(keys), set_=update))
        else:
            session.execute(stmt.on_conflict_do_nothing(index_elements=list(keys)))
        return
    existing = session.scalars(
        select(table).where(*(getattr(table, k) == values[k] for k in keys))
    ).first()
    if existing is None:
        session.add(table(**values))
    elif replace:
        for name, value in update.items():
            setattr(existing, name, value)


def write_probe_rows(session: Session, probe: str) -> None:
    """Add a row named ``probe`` to every table hwfit stores measurements in, and flush.

    The caller rolls the session back: it is how a read-only database is found early.
    """
    moment = now()
    session.add(MachineRow(fingerprint=probe, first_seen=moment, last_seen=moment))
    session.flush()
    session.add(result_row(_probe_result(probe)))
    empty = LatencyRecord(
        arch_key=probe,
        target=probe,
        fingerprint=probe,
        p50_ms=math.nan,
        ci_rel=math.nan,
        runs=0,
        executed_precision="fp32",
        seconds=0.0,
    )
    session.add(LatencyRow(**latency_values(empty)))
    session.add(LatencyReferenceRow(target=probe, fingerprint=probe, ms=0.0, created_at=moment))
    session.flush()
