"""ResultStore: the one interface to the results database.

Every SQLAlchemy call in hwfit goes through :class:`ResultStore`. Writes run inside
:meth:`ResultStore.session_scope`, which commits, rolls back on error and turns SQLAlchemy and
driver errors into :class:`~hwfit.errors.DatabaseError` (URL shown with the password masked, plus
a hint). Reads return frozen records (:class:`~hwfit.records.BenchResult`,
:class:`~hwfit.db.latency.LatencyRecord`), never ORM objects.

Opening a store creates what is missing and may race another process doing the same on a fresh
database (two searches started together): a failed ``CREATE TABLE`` or first schema-version
row is retried, and the second try finds what the other process made.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import logging
import math
import os
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import platformdirs
from sqlalchemy import Engine, create_engine, event, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import (
    ArgumentError,
    IntegrityError,
    NoSuchModuleError,
    OperationalError,
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
from hwfit.errors import DatabaseError, InternalError, UnknownNameError, UserError
from hwfit.records import BenchResult, RowState, from_dict, to_dict

__all__ = ["HistoryQuery", "ResultStore", "default_db_url", "normalize_url"]

logger = logging.getLogger(__name__)

ENV_VAR = "HWFIT_DB"
"""Environment variable that overrides the default database URL."""

_SERVER_HINT = (
    "Check the URL and that the server is running, or omit --db to use the local SQLite file."
)
_SQLITE_HINT = "Check that the folder exists and is writable, or pass --db with another path."
_URL_HINT = "Use sqlite:///PATH, postgresql+psycopg://USER:PASSWORD@HOST/DB, or a file path."
_DRIVER_HINTS = {
    "psycopg": "pip install 'psycopg[binary]' (or pip install 'hwfit[postgres]').",
    "psycopg2": "pip install psycopg2-binary, or use a postgresql+psycopg:// URL "
    "with pip install 'psycopg[binary]'.",
}
_CONNECT_TIMEOUT_S = 10  # a firewalled host would otherwise hang for minutes before measuring
_SQLITE_BUSY_S = 30  # how long a SQLite write waits for another process's (searches share it)
_SCHEMA_ATTEMPTS = 5  # tries at creating the tables while another process may be doing it


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

    Raises:
        DatabaseError: The database cannot be reached, opened or created, its driver is not
            installed, or it holds a schema this hwfit does not know.

    Example:
        >>> with ResultStore("sqlite://") as store:
        ...     store.count()
        0
    """

    def __init__(self, url: str | None = None) -> None:
        self.url = normalize_url(url if url is not None else default_db_url())
        self._engine = self._create_engine()
        self._sessions = sessionmaker(bind=self._engine, expire_on_commit=False)
        try:
            self.check()
            self._create_schema()
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
        """Connect once and run a trivial statement.

        Raises:
            DatabaseError: The database cannot be reached or opened.
        """
        with self._translate_errors("open"), self._engine.connect() as conn:
            conn.execute(text("SELECT 1"))

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
        if url.get_backend_name() == "sqlite":
            if database not in ("", ":memory:") and not database.startswith("file:"):
                _make_parent(Path(database).expanduser(), self.url)
            connect_args["timeout"] = _SQLITE_BUSY_S
        elif url.get_backend_name() == "postgresql" and "connect_timeout" not in url.query:
            connect_args["connect_timeout"] = _CONNECT_TIMEOUT_S
        try:
            engine = create_engine(url, connect_args=connect_args, pool_pre_ping=True)
        except ImportError as exc:
            module = exc.name or "the database driver"
            raise DatabaseError(
                f"Cannot open the database {self.display_url!r}: "
                f"its driver {module!r} is not installed.",
                hint=_DRIVER_HINTS.get(module, f"pip install {module}"),
            ) from exc
        except NoSuchModuleError as exc:
            raise DatabaseError(
                f"Cannot open the database {self.display_url!r}: "
                f"unknown database kind {url.drivername!r}.",
                hint=_URL_HINT,
            ) from exc
        except SQLAlchemyError as exc:
            raise self._database_error("open", exc) from exc
        if engine.dialect.name == "sqlite":
            # SQLite ignores foreign keys unless asked; enforce them as PostgreSQL does.
            event.listen(engine, "connect", _sqlite_enable_foreign_keys)
        return engine

    def _create_schema(self) -> None:
        """Create missing tables and the version row, or check the version that is there.

        Another process opening the same fresh database at the same time can create a table
        or the version row between our check and our write; the write then fails, and the
        next try sees what that process made.
        """
        for attempt in range(1, _SCHEMA_ATTEMPTS + 1):
            try:
                Base.metadata.create_all(self._engine)
                with self._sessions() as session, session.begin():
                    row = session.get(MetaRow, "schema_version")
                    if row is None:
                        session.add(MetaRow(key="schema_version", value=SCHEMA_VERSION))
                    found = SCHEMA_VERSION if row is None else row.value
                break
            except (OperationalError, IntegrityError) as exc:
                if attempt == _SCHEMA_ATTEMPTS:
                    raise self._database_error("create the tables of", exc) from exc
                time.sleep(0.05 * attempt)
            except SQLAlchemyError as exc:
                raise self._database_error("create the tables of", exc) from exc
            except ImportError as exc:  # a dialect imports optional driver parts lazily
                raise self._database_error("create the tables of", exc) from exc
        if found != SCHEMA_VERSION:
            raise DatabaseError(
                f"The database {self.display_url!r} has schema version {found!r}; "
                f"this hwfit reads version {SCHEMA_VERSION!r}.",
                hint="Upgrade hwfit, or pass --db with another database.",
            )

    @contextlib.contextmanager
    def _translate_errors(self, action: str) -> Iterator[None]:
        try:
            yield
        except SQLAlchemyError as exc:
            raise self._database_error(action, exc) from exc
        except ImportError as exc:  # a dialect imports optional driver parts lazily
            raise self._database_error(action, exc) from exc

    def _database_error(self, action: str, exc: BaseException) -> DatabaseError:
        detail = _error_detail(exc)
        password = _password(self.url)
        if password:
            detail = detail.replace(password, "***")
        is_sqlite = self.url.startswith("sqlite")
        return DatabaseError(
            f"Cannot {action} the database {self.display_url!r}: {detail}",
            hint=_SQLITE_HINT if is_sqlite else _SERVER_HINT,
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
        return make_url(url).render_as_string(hide_password=True)
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
    first = text_.splitlines()[0] if text_ else type(exc).__name__
    return first if first.endswith(".") else f"{first}."


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
    # Read-then-write keeps this portable across SQLite and PostgreSQL; a concurrent first
    # insert of the same machine surfaces as a DatabaseError on commit, and a retry succeeds.
    now = _now()
    machine = session.get(MachineRow, fingerprint)
    if machine is None:
        session.add(
            MachineRow(
                fingerprint=fingerprint,
                profile=dict(profile) if profile is not None else None,
                first_seen=now,
                last_seen=now,
            )
        )
        session.flush()  # the results row that follows refers to this one
        return
    machine.last_seen = now
    if profile is not None:
        machine.profile = dict(profile)


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
) -> None:
    """Insert ``values``; a row with the same ``keys`` is updated (or kept: ``replace=False``).

    SQLite and PostgreSQL do it in one statement (``ON CONFLICT ... DO UPDATE``), so two
    processes storing the same key at once cannot both insert.
    """
    dialect = session.get_bind().dialect.name
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
