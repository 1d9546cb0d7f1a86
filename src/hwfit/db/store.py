"""ResultStore: the one interface to the results database.

Every SQLAlchemy call in hwfit goes through :class:`ResultStore`. Writes run inside
:meth:`ResultStore.session_scope`, which commits, rolls back on error and turns SQLAlchemy and
driver errors into :class:`~hwfit.errors.DatabaseError` (URL shown with the password masked, plus
a hint). Reads return frozen records (:class:`~hwfit.records.BenchResult`,
:class:`~hwfit.db.latency.LatencyRecord`), never ORM objects. Opening, the schema and the
translation of driver errors live in :mod:`hwfit.db._connect`; rows in :mod:`hwfit.db._rows`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import logging
import math
import uuid
from collections.abc import Iterator, Mapping, Sequence

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from hwfit.db._connect import (
    create_engine,
    create_schema,
    default_db_url,
    mask_url,
    normalize_url,
    translate_errors,
)
from hwfit.db._rows import (
    latency_record,
    latency_values,
    naive_utc,
    now,
    result_row,
    upsert,
    upsert_machine,
    write_probe_rows,
)
from hwfit.db.latency import LatencyRecord
from hwfit.db.schema import LatencyReferenceRow, LatencyRow, MachineRow, ResultRow
from hwfit.errors import InternalError, UnknownNameError, UserError
from hwfit.records import BenchResult, RowState, from_dict

__all__ = ["HistoryQuery", "ResultStore", "default_db_url", "normalize_url"]

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class HistoryQuery:
    """Filters for :meth:`ResultStore.query`; every filter left as None matches all rows.

    Args:
        model: Case-insensitive substring of the model source (``"resnet"`` matches
            ``"timm:resnet18"``).
        runtime: Exact runtime name.
        fingerprint: Machine fingerprint, or a prefix of it.
        state: Row state (a :class:`~hwfit.records.RowState` or its value).
        since: Only rows created at or after this time (a naive datetime is taken as UTC).
        limit: At most this many rows (the newest).

    Raises:
        UnknownNameError: ``state`` is not a row state.
        UserError: ``limit`` is below 1.

    Example:
        >>> HistoryQuery(runtime="onnxruntime", state="complete", limit=5).state
        <RowState.COMPLETE: 'complete'>
    """

    model: str | None = None
    runtime: str | None = None
    fingerprint: str | None = None
    state: RowState | None = None
    since: dt.datetime | None = None
    limit: int | None = None

    def __post_init__(self) -> None:
        if self.state is not None and not isinstance(self.state, RowState):
            known = ", ".join(s.value for s in RowState)
            try:
                object.__setattr__(self, "state", RowState(str(self.state).lower()))
            except ValueError:
                raise UnknownNameError(
                    f"Unknown row state {self.state!r}.", hint=f"Known: {known}."
                ) from None
        if self.limit is not None and self.limit < 1:
            raise UserError(
                f"The history limit must be at least 1, got {self.limit!r}.",
                hint="Pass a positive number, or no limit.",
            )


class ResultStore:
    """The results database: transactional writes, history queries, machine profiles.

    Opening connects, creates missing tables and checks the schema version, so an unreachable
    or unwritable database fails here, before any measuring starts. The store is a context
    manager that closes itself.

    Args:
        url: A SQLAlchemy URL or a plain file path (see :func:`normalize_url`); default:
            :func:`default_db_url`.
        writable: Also check now that rows can be written (:meth:`check_writable`): commands
            that store what they measure pass True, so a read-only database fails before
            anything is measured.

    Raises:
        DatabaseError: The database cannot be reached, opened or created, its driver is not
            installed, it holds a schema this hwfit does not know, or (``writable``) it
            cannot be written.

    Example:
        >>> with ResultStore("sqlite://", writable=True) as store:
        ...     store.count()
        0
    """

    def __init__(self, url: str | None = None, *, writable: bool = False) -> None:
        self.url = normalize_url(url if url is not None else default_db_url())
        self._engine = create_engine(self.url)
        self._sessions = sessionmaker(bind=self._engine, expire_on_commit=False)
        try:
            self.check()
            create_schema(self._engine, self._sessions, self.url)
            if writable:
                self.check_writable()
        except BaseException:
            self._engine.dispose()
            raise

    @property
    def display_url(self) -> str:
        """The URL with its password masked, safe to print and log."""
        return mask_url(self.url)

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ResultStore({self.display_url!r})"

    def check(self) -> None:
        """Connect once and run a trivial statement (SQLite: also read the file's header).

        Raises:
            DatabaseError: The database cannot be reached or opened, or (SQLite) the file is
                not a database.
        """
        with self._translate_errors("open", driver=True), self._engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            if self._engine.dialect.name == "sqlite":
                conn.exec_driver_sql("PRAGMA schema_version")  # "file is not a database"

    def check_writable(self) -> None:
        """Write a row into every table hwfit stores measurements in, then roll it back.

        Nothing stays in the database. It is how a read-only file, a read-only server (a hot
        standby) or a user without INSERT rights is found before anything is measured; on
        SQLite it also needs the folder to be writable (for the journal).

        Raises:
            DatabaseError: A row could not be written; the message is the driver's.
        """
        probe = f"hwfit-write-check-{uuid.uuid4().hex}"
        with self._translate_errors("write to", driver=True), self._sessions() as session:
            try:
                write_probe_rows(session, probe)
            finally:
                session.rollback()

    @contextlib.contextmanager
    def session_scope(self) -> Iterator[Session]:
        """Open a session that commits on success and rolls back on any error.

        Yields:
            The session; use it only inside the ``with`` block.

        Raises:
            DatabaseError: A SQLAlchemy or driver error happened inside the block or on commit
                (the transaction was rolled back). Other exceptions are re-raised unchanged
                after the rollback.
        """
        with self._translate_errors("write to"), self._sessions() as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def save(self, result: BenchResult, profile: Mapping[str, object] | None = None) -> int:
        """Store one benchmark row in its own transaction.

        Args:
            result: The row to store; ``created_at`` (ISO 8601) orders the history, and the
                time of saving is used when it is None.
            profile: The machine's hardware profile; stored (or refreshed) under
                ``result.fingerprint``.

        Returns:
            The id of the new row.

        Raises:
            DatabaseError: The row could not be written.
            InternalError: A profile was given for a result without a fingerprint, or
                ``created_at`` is not ISO 8601.
        """
        if profile is not None and result.fingerprint is None:
            raise InternalError("A machine profile was given for a result without a fingerprint.")
        row = result_row(result)
        with self.session_scope() as session:
            if result.fingerprint is not None:
                upsert_machine(session, result.fingerprint, profile)
            session.add(row)
            session.flush()
            row_id = row.id
        logger.debug("Saved result %d: %s on %s", row_id, result.model.source, row.runtime)
        return row_id

    def save_many(self, results: Sequence[BenchResult]) -> int:
        """Store many benchmark rows in one transaction: all of them or, on an error, none.

        Imports use it: one commit instead of one per row (each SQLite commit waits for the
        disk).

        Args:
            results: The rows; ``created_at`` as in :meth:`save`. Their machines are recorded
                (without a profile; see :meth:`save_machine`).

        Returns:
            The number of rows stored.

        Raises:
            DatabaseError: The rows could not be written (none were).
            InternalError: A ``created_at`` is not ISO 8601.
        """
        rows = [result_row(result) for result in results]
        fingerprints = dict.fromkeys(r.fingerprint for r in results if r.fingerprint is not None)
        with self.session_scope() as session:
            for fingerprint in fingerprints:
                upsert_machine(session, fingerprint, None)
            session.add_all(rows)
        logger.debug("Saved %d results", len(rows))
        return len(rows)

    def save_machine(self, fingerprint: str, profile: Mapping[str, object]) -> None:
        """Store or refresh a machine's hardware profile.

        Args:
            fingerprint: The machine's stable id.
            profile: Its hardware profile as a JSON-ready mapping.

        Raises:
            DatabaseError: The row could not be written.
        """
        with self.session_scope() as session:
            upsert_machine(session, fingerprint, profile)

    def query(self, q: HistoryQuery | None = None) -> list[BenchResult]:
        """Return stored rows matching ``q``, newest first.

        Args:
            q: The filters; default: every row.

        Returns:
            Frozen records equal to the ones that were saved.

        Raises:
            DatabaseError: The database could not be read.
        """
        q = q or HistoryQuery()
        stmt = select(ResultRow.record)
        if q.model is not None:
            stmt = stmt.where(
                func.lower(ResultRow.model_source).contains(q.model.lower(), autoescape=True)
            )
        if q.runtime is not None:
            stmt = stmt.where(ResultRow.runtime == q.runtime)
        if q.fingerprint is not None:
            stmt = stmt.where(ResultRow.fingerprint.startswith(q.fingerprint, autoescape=True))
        if q.state is not None:
            stmt = stmt.where(ResultRow.state == RowState(q.state).value)
        if q.since is not None:
            stmt = stmt.where(ResultRow.created_at >= naive_utc(q.since))
        stmt = stmt.order_by(ResultRow.created_at.desc(), ResultRow.id.desc())
        if q.limit is not None:
            stmt = stmt.limit(q.limit)
        with self.session_scope() as session:
            records = list(session.scalars(stmt))
        return [from_dict(BenchResult, record) for record in records]

    def machines(self) -> list[tuple[str, dict[str, object]]]:
        """Return every known machine as ``(fingerprint, profile)``, most recently seen first.

        A machine whose profile was never saved has an empty profile.

        Raises:
            DatabaseError: The database could not be read.
        """
        stmt = select(MachineRow.fingerprint, MachineRow.profile).order_by(
            MachineRow.last_seen.desc(), MachineRow.fingerprint
        )
        with self.session_scope() as session:
            rows = session.execute(stmt).all()
        return [(fingerprint, dict(profile or {})) for fingerprint, profile in rows]

    def save_latency(self, record: LatencyRecord) -> None:
        """Store a latency measurement, replacing the one of the same key, target and machine.

        Args:
            record: The measurement; NaN numbers are stored as NULL, and ``created_at`` is the
                time of saving when None.

        Raises:
            DatabaseError: The row could not be written.
            InternalError: ``created_at`` is not ISO 8601.
        """
        values = latency_values(record)
        keys = ("arch_key", "target", "fingerprint")
        with self.session_scope() as session:
            upsert(session, LatencyRow, values, keys)

    def latency(self, arch_key: str, target: str, fingerprint: str) -> LatencyRecord | None:
        """Return the stored latency of ``arch_key`` on ``target`` and machine, or None.

        Raises:
            DatabaseError: The database could not be read.
        """
        stmt = select(LatencyRow).where(
            LatencyRow.arch_key == arch_key,
            LatencyRow.target == target,
            LatencyRow.fingerprint == fingerprint,
        )
        with self.session_scope() as session:
            row = session.scalars(stmt).first()
            return None if row is None else latency_record(row)

    def latencies(
        self, target: str | None = None, fingerprint: str | None = None
    ) -> list[LatencyRecord]:
        """Return stored latency measurements, oldest first; None filters match all.

        Raises:
            DatabaseError: The database could not be read.
        """
        stmt = select(LatencyRow)
        if target is not None:
            stmt = stmt.where(LatencyRow.target == target)
        if fingerprint is not None:
            stmt = stmt.where(LatencyRow.fingerprint == fingerprint)
        stmt = stmt.order_by(LatencyRow.created_at, LatencyRow.id)
        with self.session_scope() as session:
            return [latency_record(row) for row in session.scalars(stmt)]

    def save_latency_reference(self, target: str, fingerprint: str, ms: float) -> float:
        """Store the reference model's own latency for ``target`` on a machine, unless known.

        The first value stored stays: every paired ratio of the target is relative to one
        scale, even when two searches measured the reference at the same time.

        Returns:
            The stored value: ``ms``, or the one that was there first.

        Raises:
            DatabaseError: The row could not be written.
            InternalError: ``ms`` is not a finite number.
        """
        if not math.isfinite(ms):
            raise InternalError(f"A reference latency must be finite, got {ms!r}.")
        values = {"target": target, "fingerprint": fingerprint, "ms": ms, "created_at": now()}
        keys = ("target", "fingerprint")
        with self.session_scope() as session:
            upsert(session, LatencyReferenceRow, values, keys, replace=False)
        stored = self.latency_reference(target, fingerprint)
        return ms if stored is None else stored

    def latency_reference(self, target: str, fingerprint: str) -> float | None:
        """Return the reference latency stored for ``target`` on a machine, or None.

        Raises:
            DatabaseError: The database could not be read.
        """
        with self.session_scope() as session:
            row = session.get(LatencyReferenceRow, (target, fingerprint))
            return None if row is None else float(row.ms)

    def count(self) -> int:
        """Return the number of stored benchmark rows.

        Raises:
            DatabaseError: The database could not be read.
        """
        with self.session_scope() as session:
            return session.scalar(select(func.count()).select_from(ResultRow)) or 0

    def close(self) -> None:
        """Release every connection; the store cannot be used afterwards."""
        self._engine.dispose()

    def _translate_errors(
        self, action: str, *, driver: bool = False
    ) -> contextlib.AbstractContextManager[None]:
        """:func:`~hwfit.db._connect.translate_errors` for this store's URL."""
        return translate_errors(self.url, action, driver=driver)
