"""Opening a results database: URLs, engines, the schema, and driver errors as `DatabaseError`.

Every driver error is translated, never shown as a traceback: the message says what failed on
which database (password masked) and the hint is chosen from the driver's message (not an
SQLite file, read-only, locked, wrong password, unknown database, unreachable server, missing
driver).

Opening a store creates what is missing and may race another process doing the same on a fresh
database (a team's first day on a shared server, two searches started together): PostgreSQL
serializes the creators with an advisory lock, and on any database a ``CREATE TABLE`` or first
schema-version row that fails because the other process got there first is retried; the next
try finds what that process made.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import platformdirs
import sqlalchemy
from sqlalchemy import Engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import (
    ArgumentError,
    DBAPIError,
    IntegrityError,
    NoSuchModuleError,
    SQLAlchemyError,
)
from sqlalchemy.orm import Session, sessionmaker

from hwfit.db.schema import SCHEMA_VERSION, Base, MetaRow
from hwfit.errors import DatabaseError, HwfitError

if TYPE_CHECKING:
    import sqlite3

    from sqlalchemy.pool import ConnectionPoolEntry

__all__ = [
    "ENV_VAR",
    "create_engine",
    "create_schema",
    "database_error",
    "default_db_url",
    "make_parent",
    "mask_url",
    "normalize_url",
    "translate_errors",
]

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
    make_parent(path, url)
    return url


def create_engine(url_text: str) -> Engine:
    """Make the engine of ``url_text``: timeouts set, SQLite's foreign keys on, errors translated.

    Raises:
        DatabaseError: The URL cannot be parsed, names an unknown or asynchronous driver, or
            its driver is not installed (the hint says what to install).
    """
    display_url = mask_url(url_text)
    try:
        url = make_url(url_text)
    except (ArgumentError, ValueError) as exc:
        raise DatabaseError(
            f"Cannot parse the database URL {display_url!r}: {exc}.",
            hint=_URL_HINT,
        ) from exc
    connect_args: dict[str, object] = {}
    database = url.database or ""
    backend, driver = url.get_backend_name(), url.get_driver_name()
    if backend == "sqlite":
        if database not in ("", ":memory:") and not database.startswith("file:"):
            make_parent(Path(database).expanduser(), url_text)
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
                f"Cannot open the database {display_url!r}: its driver {driver!r} is "
                "asynchronous.",
                hint=_SYNC_HINT,
            )
        engine = sqlalchemy.create_engine(url, connect_args=connect_args, pool_pre_ping=True)
    except ImportError as exc:
        module = exc.name or "the database driver"
        hint = _DRIVER_HINTS.get(module) or _DRIVER_HINTS.get(module.split(".")[0])
        raise DatabaseError(
            f"Cannot open the database {display_url!r}: its driver {module!r} is not installed.",
            hint=hint or f"pip install {module.split('.')[0]}",
        ) from exc
    except NoSuchModuleError as exc:
        raise DatabaseError(
            f"Cannot open the database {display_url!r}: unknown database kind {url.drivername!r}.",
            hint=_URL_HINT,
        ) from exc
    except (SQLAlchemyError, TypeError, ValueError) as exc:  # bad query arguments too
        raise database_error(url_text, "open", exc) from exc
    if engine.dialect.name == "sqlite":
        # SQLite ignores foreign keys unless asked; enforce them as PostgreSQL does.
        event.listen(engine, "connect", _sqlite_enable_foreign_keys)
    return engine


def create_schema(engine: Engine, sessions: sessionmaker[Session], url: str) -> None:
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
            found = _create_schema_once(engine, sessions)
            break
        except DBAPIError as exc:
            if attempt == _SCHEMA_ATTEMPTS or not _lost_race(exc):
                raise database_error(url, "create the tables of", exc) from exc
            logger.debug("Schema creation raced another process (%s); retrying", exc)
            time.sleep(random.uniform(0.02, 0.1) * attempt)
        except HwfitError:
            raise
        except Exception as exc:  # a driver's own error that SQLAlchemy did not wrap
            raise database_error(url, "create the tables of", exc) from exc
    if found != SCHEMA_VERSION:
        raise DatabaseError(
            f"The database {mask_url(url)!r} has schema version {found!r}; "
            f"this hwfit reads version {SCHEMA_VERSION!r}.",
            hint="Upgrade hwfit, or pass --db with another database.",
        )


def _create_schema_once(engine: Engine, sessions: sessionmaker[Session]) -> str:
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            # Released at commit; DDL is transactional here, so the next creator sees all.
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK_KEY})
        Base.metadata.create_all(conn)
        conn.commit()
    with sessions() as session, session.begin():
        row = session.get(MetaRow, "schema_version")
        if row is None:
            session.add(MetaRow(key="schema_version", value=SCHEMA_VERSION))
        return SCHEMA_VERSION if row is None else row.value


@contextlib.contextmanager
def translate_errors(url: str, action: str, *, driver: bool = False) -> Iterator[None]:
    """Turn database errors inside the block into :class:`DatabaseError`.

    Args:
        url: The database URL (shown with its password masked).
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
        raise database_error(url, action, exc) from exc
    except Exception as exc:
        if not driver:
            raise
        raise database_error(url, action, exc) from exc


def database_error(url: str, action: str, exc: BaseException) -> DatabaseError:
    """The `DatabaseError` of ``exc`` while doing ``action``, its hint read from the driver."""
    detail = _error_detail(exc)
    password = _password(url)
    if password:
        detail = detail.replace(password, "***")
    lowered = detail.lower()
    hint = next((hint for words, hint in _MESSAGE_HINTS if any(w in lowered for w in words)), None)
    if hint is None:
        hint = _SQLITE_HINT if url.startswith("sqlite") else _SERVER_HINT
    return DatabaseError(f"Cannot {action} the database {mask_url(url)!r}: {detail}", hint=hint)


def _sqlite_url(path: Path) -> str:
    return f"sqlite:///{path.expanduser()}"


def make_parent(path: Path, url: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DatabaseError(
            f"Cannot create the folder of the database {mask_url(url)!r}: {exc.strerror or exc}.",
            hint=_SQLITE_HINT,
        ) from exc


def mask_url(url: str) -> str:
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


def _sqlite_enable_foreign_keys(
    dbapi_connection: sqlite3.Connection, _record: ConnectionPoolEntry
) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()
