"""ResultStore: the one interface to the results database.

Every SQLAlchemy call in hwfit goes through :class:`ResultStore`. Writes run inside
:meth:`ResultStore.session_scope`, which commits, rolls back on error and turns SQLAlchemy and
driver errors into :class:`~hwfit.errors.DatabaseError` (URL shown with the password masked, plus
a hint). Reads return frozen records (:class:`~hwfit.records.BenchResult`,
:class:`~hwfit.db.latency.LatencyRecord`), never ORM objects.

Opening a store creates what is missing and may race another process doing the same on a fresh
database (a team's first day on a shared server, two searches started together): PostgreSQL
serializes the creators with an advisory lock, and on any database a ``CREATE TABLE`` or first
schema-version row that fails because the other process got there first is retried; the next
try finds what that process made.

Every driver error is translated, never shown as a traceback: the message says what failed on
which database (password masked) and the hint is chosen from the driver's message (not an
SQLite file, read-only, locked, wrong password, unknown database, unreachable server, missing
driver).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import logging
import math
import os
import random
import re
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import platformdirs
from sqlalchemy import Engine, create_engine, event, func, null, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import (
    ArgumentError,
    DBAPIError,
    IntegrityError,
    NoSuchModuleError,
    SQLAlchemyError,
)
from sqlalchemy.orm import Session, sessionmaker

from hwfit.db.latency import LatencyRecord
from hwfit.db.schema import (
    SCHEMA_VERSION,
    Base,
    LatencyReferenceRow,
    LatencyRow,
    MachineRow,
    MetaRow,
    ResultRow,
)
from hwfit.errors import DatabaseError, HwfitError, InternalError, UnknownNameError, UserError
from hwfit.records import (
    BenchResult,
    InputSpec,
    ModelInfo,
    RowState,
    RunConfig,
    from_dict,
    to_dict,
)

__all__ = ["HistoryQuery", "ResultStore", "default_db_url", "normalize_url"]

logger = logging.getLogger(__name__)

ENV_VAR = "HWFIT_DB"
"""Environment variable that overrides the default database URL."""

_SERVER_HINT = (
    "Check the URL and that the server is running, or omit --db to use the local SQLite file."
)
_SQLITE_HINT = "Check that the folder exists and is writable, or pass --db with another path."
_URL_HINT = "Use sqlite:///PATH, postgresql+psycopg://USER:PASSWORD@HOST/DB, or a file path."
_PSYCOPG = "pip install 'psycopg[binary]' (or pip install 'hwfit[postgres]')"
# Keyed by the module a dialect imports (ImportError.name, or its top-level package).
_DRIVER_HINTS = {
    "psycopg": f"{_PSYCOPG}.",
    "psycopg2": "pip install psycopg2-binary, or use a postgresql+psycopg:// URL with "
    f"{_PSYCOPG}.",
    "pg8000": f"pip install pg8000, or use a postgresql+psycopg:// URL with {_PSYCOPG}.",
    "MySQLdb": "pip install mysqlclient (it needs the MySQL client library), or use a "
    "mysql+pymysql:// URL with pip install pymysql.",
    "pymysql": "pip install pymysql.",
    "mysql": "pip install mysql-connector-python, or use a mysql+pymysql:// URL with "
    "pip install pymysql.",
    "mariadb": "pip install mariadb, or use a mysql+pymysql:// URL with pip install pymysql.",
    "pyodbc": "pip install pyodbc (and Microsoft's ODBC Driver for SQL Server), or use an "
    "mssql+pymssql:// URL with pip install pymssql.",
    "pymssql": "pip install pymssql.",
    "oracledb": "pip install oracledb.",
    "cx_Oracle": "pip install oracledb and use an oracle+oracledb:// URL (cx_Oracle is its "
    "old name).",
}
_SYNC_HINT = (
    "hwfit uses synchronous drivers: use postgresql+psycopg://, mysql+pymysql:// or sqlite:///."
)
# Driver messages (lower-cased) -> what to do; the first match wins.
_MESSAGE_HINTS: tuple[tuple[tuple[str, ...], str], ...] = (
    (
        ("file is not a database",),
        "It is not an SQLite database: pass --db with an hwfit results database or a new "
        "file name.",
    ),
    (
        ("malformed",),
        "The file is damaged: restore it from a backup, or pass --db with a new file name.",
    ),
    (
        ("readonly", "read-only", "read only"),
        "The database is read-only here: pass --db with a writable file or server, or "
        "--no-save to measure without storing.",
    ),
    (
        ("database is locked", "database table is locked"),
        "Another process holds a write lock on it: wait for it to finish, or pass --db with "
        "another file.",
    ),
    (
        ("password authentication failed", "authentication failed", "access denied"),
        "Check the user name and password in the URL (or the server's ~/.pgpass entry).",
    ),
    (
        ("does not exist", "unknown database"),
        "Create the database first (e.g. createdb NAME), or fix its name in the URL.",
    ),
    (
        ("permission denied", "must be owner", "insufficient privilege"),
        "The database user may not create or write hwfit's tables: grant it CREATE and "
        "INSERT, or pass --db with another database.",
    ),
    (
        (
            "could not translate host name",
            "name or service not known",
            "failed to resolve host",
            "nodename nor servname",
        ),
        "Check the host name in the URL.",
    ),
    (
        ("disk i/o error", "disk is full", "no space left"),
        "Check the free space and health of the disk that holds the database, or pass --db "
        "with another path.",
    ),
)
_CONNECT_TIMEOUT_S = 10  # a firewalled host would otherwise hang for minutes before measuring
_SQLITE_BUSY_S = 30  # how long a SQLite write waits for another process's (searches share it)
_SCHEMA_ATTEMPTS = 8  # tries at creating the tables while other processes may be doing it
# What a lost race to create a table looks like, in the drivers' words (lower-cased).
_RACE_WORDS = ("already exists", "duplicate", "unique", "locked", "busy", "deadlock")
_SCHEMA_LOCK_KEY = 0x68776669  # "hwfi": the PostgreSQL advisory lock the table creators share


def default_db_url() -> str:
    """Return the results database URL: ``$HWFIT_DB`` if set, else the user's SQLite file.

    A plain path in ``$HWFIT_DB`` is turned into a ``sqlite:///`` URL. No folder is created here;
    :class:`ResultStore` creates it on open.

    Returns:
        A SQLAlchemy URL such as ``sqlite:////home/me/.local/share/hwfit/results.db``.

    Example:
        >>> default_db_url().startswith("sqlite:///") or bool(os.environ.get("HWFIT_DB"))
        True
    """
    override = os.environ.get(ENV_VAR, "").strip()
    if override:
        return override if "://" in override else _sqlite_url(Path(override))
    return _sqlite_url(Path(platformdirs.user_data_dir("hwfit")) / "results.db")


def normalize_url(url_or_path: str) -> str:
    """Turn a ``--db`` value into a SQLAlchemy URL.

    Args:
        url_or_path: A URL (``sqlite:///...``, ``postgresql://...``,
            ``postgresql+psycopg://...``) or a plain file path, which becomes a SQLite file.

    Returns:
        The URL; for a plain path, ``sqlite:///`` and the absolute path, whose parent folder
        now exists.

    Raises:
        DatabaseError: The value is empty, or the folder of a plain path cannot be created.

    Example:
        >>> normalize_url("postgresql+psycopg://me@db/hwfit")
        'postgresql+psycopg://me@db/hwfit'
    """
    value = url_or_path.strip()
    if not value:
        raise DatabaseError(
            "The database URL is empty.", hint="Pass a URL or a file path, or omit --db."
        )
    if "://" in value:
        return value
    path = Path(value).expanduser().resolve()
    url = _sqlite_url(path)
    _make_parent(path, url)
    return url


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
        self._engine = self._create_engine()
        self._sessions = sessionmaker(bind=self._engine, expire_on_commit=False)
        try:
            self.check()
            self._create_schema()
            if writable:
                self.check_writable()
        except BaseException:
            self._engine.dispose()
            raise

    @property
    def display_url(self) -> str:
        """The URL with its password masked, safe to print and log."""
        return _mask_url(self.url)

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
        now = _now()
        with self._translate_errors("write to", driver=True), self._sessions() as session:
            try:
                session.add(MachineRow(fingerprint=probe, first_seen=now, last_seen=now))
                session.flush()
                session.add(_result_row(_probe_result(probe)))
                session.add(
                    LatencyRow(
                        **_latency_values(
                            LatencyRecord(
                                arch_key=probe,
                                target=probe,
                                fingerprint=probe,
                                p50_ms=math.nan,
                                ci_rel=math.nan,
                                runs=0,
                                executed_precision="fp32",
                                seconds=0.0,
                            )
                        )
                    )
                )
                session.add(
                    LatencyReferenceRow(target=probe, fingerprint=probe, ms=0.0, created_at=now)
                )
                session.flush()
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

    def save(self, result: BenchResult, profile: Mapping[str, Any] | None = None) -> int:
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
        row = _result_row(result)
        with self.session_scope() as session:
            if result.fingerprint is not None:
                _upsert_machine(session, result.fingerprint, profile)
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
        rows = [_result_row(result) for result in results]
        fingerprints = dict.fromkeys(r.fingerprint for r in results if r.fingerprint is not None)
        with self.session_scope() as session:
            for fingerprint in fingerprints:
                _upsert_machine(session, fingerprint, None)
            session.add_all(rows)
        logger.debug("Saved %d results", len(rows))
        return len(rows)

    def save_machine(self, fingerprint: str, profile: Mapping[str, Any]) -> None:
        """Store or refresh a machine's hardware profile.

        Args:
            fingerprint: The machine's stable id.
            profile: Its hardware profile as a JSON-ready mapping.

        Raises:
            DatabaseError: The row could not be written.
        """
        with self.session_scope() as session:
            _upsert_machine(session, fingerprint, profile)

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
            stmt = stmt.where(ResultRow.created_at >= _naive_utc(q.since))
        stmt = stmt.order_by(ResultRow.created_at.desc(), ResultRow.id.desc())
        if q.limit is not None:
            stmt = stmt.limit(q.limit)
        with self.session_scope() as session:
            records = list(session.scalars(stmt))
        return [from_dict(BenchResult, record) for record in records]

    def machines(self) -> list[tuple[str, dict[str, Any]]]:
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
        values = _latency_values(record)
        keys = ("arch_key", "target", "fingerprint")
        with self.session_scope() as session:
            _upsert(session, LatencyRow, values, keys)

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
            return None if row is None else _latency_record(row)

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
            return [_latency_record(row) for row in session.scalars(stmt)]

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
        values = {"target": target, "fingerprint": fingerprint, "ms": ms, "created_at": _now()}
        keys = ("target", "fingerprint")
        with self.session_scope() as session:
            _upsert(session, LatencyReferenceRow, values, keys, replace=False)
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

    # -- internals -------------------------------------------------------------------------

    def _create_engine(self) -> Engine:
        try:
            url = make_url(self.url)
        except (ArgumentError, ValueError) as exc:
            raise DatabaseError(
                f"Cannot parse the database URL {self.display_url!r}: {exc}.",
                hint=_URL_HINT,
            ) from exc
        connect_args: dict[str, Any] = {}
        database = url.database or ""
        backend, driver = url.get_backend_name(), url.get_driver_name()
        if backend == "sqlite":
            if database not in ("", ":memory:") and not database.startswith("file:"):
                _make_parent(Path(database).expanduser(), self.url)
            if "timeout" not in url.query:  # ?timeout=S in the URL wins
                connect_args["timeout"] = _SQLITE_BUSY_S
        elif (
            backend == "postgresql"
            and driver in ("psycopg", "psycopg2")  # pg8000 names it "timeout"
            and "connect_timeout" not in url.query
        ):
            connect_args["connect_timeout"] = _CONNECT_TIMEOUT_S
        try:
            if url.get_dialect().is_async:
                raise DatabaseError(
                    f"Cannot open the database {self.display_url!r}: its driver {driver!r} is "
                    "asynchronous.",
                    hint=_SYNC_HINT,
                )
            engine = create_engine(url, connect_args=connect_args, pool_pre_ping=True)
        except ImportError as exc:
            module = exc.name or "the database driver"
            hint = _DRIVER_HINTS.get(module) or _DRIVER_HINTS.get(module.split(".")[0])
            raise DatabaseError(
                f"Cannot open the database {self.display_url!r}: "
                f"its driver {module!r} is not installed.",
                hint=hint or f"pip install {module.split('.')[0]}",
            ) from exc
        except NoSuchModuleError as exc:
            raise DatabaseError(
                f"Cannot open the database {self.display_url!r}: "
                f"unknown database kind {url.drivername!r}.",
                hint=_URL_HINT,
            ) from exc
        except (SQLAlchemyError, TypeError, ValueError) as exc:  # bad query arguments too
            raise self._database_error("open", exc) from exc
        if engine.dialect.name == "sqlite":
            # SQLite ignores foreign keys unless asked; enforce them as PostgreSQL does.
            event.listen(engine, "connect", _sqlite_enable_foreign_keys)
        return engine

    def _create_schema(self) -> None:
        """Create missing tables and the version row, or check the version that is there.

        Another process opening the same fresh database at the same time can create a table
        or the version row between our check and our write. On PostgreSQL the creators take
        turns (a transaction-scoped advisory lock, and its DDL is transactional); elsewhere,
        and should the lock not be granted, the write fails, and the next try, after a short
        random pause, sees what that process made.
        """
        found = SCHEMA_VERSION
        for attempt in range(1, _SCHEMA_ATTEMPTS + 1):
            try:
                found = self._create_schema_once()
                break
            except DBAPIError as exc:
                if attempt == _SCHEMA_ATTEMPTS or not _lost_race(exc):
                    raise self._database_error("create the tables of", exc) from exc
                logger.debug("Schema creation raced another process (%s); retrying", exc)
                time.sleep(random.uniform(0.02, 0.1) * attempt)
            except HwfitError:
                raise
            except Exception as exc:  # a driver's own error that SQLAlchemy did not wrap
                raise self._database_error("create the tables of", exc) from exc
        if found != SCHEMA_VERSION:
            raise DatabaseError(
                f"The database {self.display_url!r} has schema version {found!r}; "
                f"this hwfit reads version {SCHEMA_VERSION!r}.",
                hint="Upgrade hwfit, or pass --db with another database.",
            )

    def _create_schema_once(self) -> str:
        with self._engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                # Released at commit; DDL is transactional here, so the next creator sees all.
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK_KEY})
            Base.metadata.create_all(conn)
            conn.commit()
        with self._sessions() as session, session.begin():
            row = session.get(MetaRow, "schema_version")
            if row is None:
                session.add(MetaRow(key="schema_version", value=SCHEMA_VERSION))
            return SCHEMA_VERSION if row is None else row.value

    @contextlib.contextmanager
    def _translate_errors(self, action: str, *, driver: bool = False) -> Iterator[None]:
        """Turn database errors inside the block into :class:`DatabaseError`.

        Args:
            action: What was being done, as in "Cannot <action> the database ...".
            driver: The block runs only database calls, so any other exception is a driver's
                own (one SQLAlchemy did not wrap) and is translated too; blocks that run the
                caller's code (a session scope) keep such exceptions as they are.
        """
        try:
            yield
        except HwfitError:
            raise
        except (SQLAlchemyError, ImportError) as exc:  # a dialect imports driver parts lazily
            raise self._database_error(action, exc) from exc
        except Exception as exc:
            if not driver:
                raise
            raise self._database_error(action, exc) from exc

    def _database_error(self, action: str, exc: BaseException) -> DatabaseError:
        detail = _error_detail(exc)
        password = _password(self.url)
        if password:
            detail = detail.replace(password, "***")
        lowered = detail.lower()
        hint = next(
            (hint for words, hint in _MESSAGE_HINTS if any(w in lowered for w in words)), None
        )
        if hint is None:
            hint = _SQLITE_HINT if self.url.startswith("sqlite") else _SERVER_HINT
        return DatabaseError(
            f"Cannot {action} the database {self.display_url!r}: {detail}", hint=hint
        )


def _sqlite_url(path: Path) -> str:
    return f"sqlite:///{path.expanduser()}"


def _make_parent(path: Path, url: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DatabaseError(
            f"Cannot create the folder of the database {_mask_url(url)!r}: {exc.strerror or exc}.",
            hint=_SQLITE_HINT,
        ) from exc


def _mask_url(url: str) -> str:
    try:
        parsed = make_url(url)
        # Shown as given when there is nothing to hide (rendering would escape "file:" paths).
        return url if not parsed.password else parsed.render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        # Unparseable: still never show what sits between "user:" and "@".
        return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)


def _password(url: str) -> str | None:
    try:
        password = make_url(url).password
    except (ArgumentError, ValueError):
        return None
    return str(password) if password else None


def _error_detail(exc: BaseException) -> str:
    # SQLAlchemy's own text repeats the statement, its parameters and a docs link; the driver's
    # message (``orig``) is the part a user can act on.
    orig = getattr(exc, "orig", None)
    text_ = str(orig if orig is not None else exc).strip()
    first = text_.splitlines()[0].strip() if text_ else type(exc).__name__
    return first if first.endswith(".") else f"{first}."


def _lost_race(exc: DBAPIError) -> bool:
    """True when a failed schema write looks like another process creating the same thing."""
    if isinstance(exc, IntegrityError):
        return True
    return any(word in str(exc.orig or exc).lower() for word in _RACE_WORDS)


def _probe_result(fingerprint: str) -> BenchResult:
    """A row that :meth:`ResultStore.check_writable` writes and rolls back."""
    return BenchResult(
        model=ModelInfo(fingerprint, "onnx", fingerprint, InputSpec("x", (1,))),
        config=RunConfig("onnxruntime"),
        state=RowState.SKIPPED,
        reason="write check",
        fingerprint=fingerprint,
    )


def _sqlite_enable_foreign_keys(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def _naive_utc(moment: dt.datetime) -> dt.datetime:
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(dt.UTC).replace(tzinfo=None)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _created_at(result: BenchResult) -> dt.datetime:
    if result.created_at is None:
        return _now()
    try:
        return _naive_utc(dt.datetime.fromisoformat(result.created_at))
    except ValueError as exc:
        raise InternalError(
            f"Result created_at {result.created_at!r} is not an ISO 8601 time."
        ) from exc


def _result_row(result: BenchResult) -> ResultRow:
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


def _upsert_machine(session: Session, fingerprint: str, profile: Mapping[str, Any] | None) -> None:
    # One statement on SQLite and PostgreSQL: two processes measuring on the same machine
    # for the first time (a team's first day) cannot both insert it.
    now = _now()
    values = {
        "fingerprint": fingerprint,
        "profile": dict(profile) if profile is not None else null(),
        "first_seen": now,
        "last_seen": now,
    }
    update: dict[str, Any] = {"last_seen": now}
    if profile is not None:
        update["profile"] = dict(profile)
    _upsert(session, MachineRow, values, ("fingerprint",), update=update)
    session.flush()  # the results row that follows refers to this one


def _null(value: float) -> float | None:
    """NaN as NULL, the same in every database (PostgreSQL would keep NaN as a number)."""
    return None if math.isnan(value) else float(value)


def _nan(value: float | None) -> float:
    return math.nan if value is None else float(value)


def _latency_values(record: LatencyRecord) -> dict[str, Any]:
    if record.created_at is None:
        created = _now()
    else:
        try:
            created = _naive_utc(dt.datetime.fromisoformat(record.created_at))
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


def _latency_record(row: LatencyRow) -> LatencyRecord:
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


def _upsert(
    session: Session,
    table: type[Base],
    values: dict[str, Any],
    keys: Sequence[str],
    *,
    replace: bool = True,
    update: Mapping[str, Any] | None = None,
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
