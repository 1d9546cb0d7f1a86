"""SQLAlchemy tables of the results database.

Five tables:

* ``hwfit_meta``: key/value pairs; ``schema_version`` says which layout the file holds.
* ``machines``: one row per machine fingerprint, with its hardware profile as JSON.
* ``results``: one row per benchmark row. The columns that history queries filter and sort on
  are copied out of the record; ``record`` holds the whole :class:`~hwfit.records.BenchResult`
  as :func:`~hwfit.records.to_dict` JSON, so reads rebuild the exact record.
* ``latency_cache``: the architecture search's latency measurements
  (:class:`~hwfit.db.latency.LatencyRecord`), one per architecture key, target and machine;
  unknown numbers (NaN in the record) are NULL.
* ``latency_reference``: the reference model's own latency per target and machine, the scale
  of the paired ratios in ``latency_cache``.

The two latency tables were added without a new schema version: they are new tables, which an
older hwfit does not read, and :meth:`~hwfit.db.store.ResultStore` creates them in a database
that lacks them.

Only :mod:`hwfit.db.store` uses these classes; nothing outside ``hwfit.db`` sees an ORM object.
Timestamps are stored as naive UTC so that SQLite (which keeps no time zone) and PostgreSQL
compare them the same way.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Double,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "SCHEMA_VERSION",
    "Base",
    "LatencyReferenceRow",
    "LatencyRow",
    "MachineRow",
    "MetaRow",
    "ResultRow",
]

SCHEMA_VERSION = "1"
"""The layout this hwfit writes; bumped (with an Alembic revision) when a table changes."""


class Base(DeclarativeBase):
    """Declarative base of the hwfit tables."""


class MetaRow(Base):
    """A key/value pair about the database itself (``schema_version``)."""

    __tablename__ = "hwfit_meta"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class MachineRow(Base):
    """A machine results were measured on, keyed by its stable fingerprint."""

    __tablename__ = "machines"

    fingerprint: Mapped[str] = mapped_column(String(128), primary_key=True)
    # None until a caller saves the machine's profile (a result may arrive first).
    profile: Mapped[dict[str, object] | None] = mapped_column(JSON, nullable=True)
    first_seen: Mapped[dt.datetime] = mapped_column(DateTime)
    last_seen: Mapped[dt.datetime] = mapped_column(DateTime)


class ResultRow(Base):
    """One benchmark row: query columns plus the full record as JSON."""

    __tablename__ = "results"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, index=True)
    hwfit_version: Mapped[str | None] = mapped_column(String(32))
    fingerprint: Mapped[str | None] = mapped_column(
        String(128), ForeignKey("machines.fingerprint"), index=True
    )
    model_source: Mapped[str] = mapped_column(Text)
    model_hash: Mapped[str] = mapped_column(String(128), index=True)
    model_kind: Mapped[str] = mapped_column(String(32))
    runtime: Mapped[str] = mapped_column(String(64), index=True)
    runtime_version: Mapped[str | None] = mapped_column(String(64))
    # The RowState value; a plain string so a new state needs no database enum migration.
    state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    batch: Mapped[int] = mapped_column(Integer)
    threads_requested: Mapped[int | None] = mapped_column(Integer)
    precision_requested: Mapped[str] = mapped_column(String(32))
    precision_executed: Mapped[str | None] = mapped_column(String(32))
    threads_executed: Mapped[int | None] = mapped_column(Integer)
    p50_ms: Mapped[float | None] = mapped_column(Double)
    p90_ms: Mapped[float | None] = mapped_column(Double)
    p99_ms: Mapped[float | None] = mapped_column(Double)
    mean_ms: Mapped[float | None] = mapped_column(Double)
    ci_rel: Mapped[float | None] = mapped_column(Double)
    noisy: Mapped[bool] = mapped_column(Boolean, default=False)
    throughput: Mapped[float | None] = mapped_column(Double)
    record: Mapped[dict[str, object]] = mapped_column(JSON)


class LatencyRow(Base):
    """One cached latency measurement of an architecture on a target and machine."""

    __tablename__ = "latency_cache"
    __table_args__ = (UniqueConstraint("arch_key", "target", "fingerprint"),)

    # A surrogate id keeps the insertion order (SQLite autoincrements only a lone integer key).
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    arch_key: Mapped[str] = mapped_column(String(255))
    # The target with its qualifiers: "openvino:int8:bs1:cpu", "...:t1", "...:ref=<key>".
    target: Mapped[str] = mapped_column(String(255), index=True)
    fingerprint: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    p50_ms: Mapped[float | None] = mapped_column(Double)
    ci_rel: Mapped[float | None] = mapped_column(Double)
    runs: Mapped[int] = mapped_column(Integer)
    executed_precision: Mapped[str] = mapped_column(String(32))
    seconds: Mapped[float] = mapped_column(Double)
    reason: Mapped[str | None] = mapped_column(Text)
    quiet_ms: Mapped[float | None] = mapped_column(Double)
    contention: Mapped[float | None] = mapped_column(Double)
    ratio: Mapped[float | None] = mapped_column(Double)
    ratio_ci_low: Mapped[float | None] = mapped_column(Double)
    ratio_ci_high: Mapped[float | None] = mapped_column(Double)
    reference_ms: Mapped[float | None] = mapped_column(Double)
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    noise: Mapped[list[str]] = mapped_column(JSON)


class LatencyReferenceRow(Base):
    """The reference model's own latency for one latency-cache target on one machine."""

    __tablename__ = "latency_reference"

    target: Mapped[str] = mapped_column(String(255), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(128), primary_key=True)
    ms: Mapped[float] = mapped_column(Double)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
