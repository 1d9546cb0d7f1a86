"""ResultStore and the result exchange against a live, throwaway PostgreSQL server.

The module starts its own cluster (``initdb`` + ``pg_ctl``) in a temporary folder on a free
port, and stops it at the end. PostgreSQL refuses to run as root, so as root the server runs
as the ``postgres`` system user. The binaries are looked up on PATH and in Debian's
``/usr/lib/postgresql/<version>/bin``. Skipped, with the reason, when the binaries, psycopg or
that user are missing; in CI (``HWFIT_CI=1``, set by ``.ci/run``) that fails instead, since a
skip there would hide a broken PostgreSQL path.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NoReturn

import pytest
from test_exchange import PROFILE_A, PROFILE_B, make_result

from hwfit.db import HistoryQuery, ResultStore
from hwfit.db.exchange import export_results, import_results
from hwfit.errors import DatabaseError
from hwfit.records import RowState

_SERVER_USER = "postgres"
_DB_USER = "hwfit"
_IN_CI = os.environ.get("HWFIT_CI") == "1"


def _missing(reason: str) -> NoReturn:
    """Skip, or fail in CI (``HWFIT_CI=1``), where a skipped PostgreSQL test hides breakage."""
    if _IN_CI:
        pytest.fail(f"HWFIT_CI=1 and the PostgreSQL tests cannot run: {reason}", pytrace=False)
    pytest.skip(reason)


def _bin_dirs() -> list[Path]:
    # Debian and Ubuntu keep the server binaries off PATH, one folder per major version.
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    return [Path("/usr/local/bin"), *versions, Path("/usr/bin")]


def _binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for folder in _bin_dirs():
        candidate = folder / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclasses.dataclass
class _Server:
    """A throwaway cluster: its URL (maintenance database ``postgres``) and how to stop it."""

    url: str
    stop: Callable[[], None]


@contextlib.contextmanager
def _start_server() -> Iterator[_Server]:
    if importlib.util.find_spec("psycopg") is None:
        _missing("psycopg 3 is not installed (pip install 'hwfit[dev]')")
    initdb, pg_ctl = _binary("initdb"), _binary("pg_ctl")
    if initdb is None or pg_ctl is None:
        _missing("PostgreSQL's initdb/pg_ctl are not installed (apt-get install postgresql)")
    prefix: list[str] = []
    if os.geteuid() == 0:
        try:
            server_user = pwd.getpwnam(_SERVER_USER)
        except KeyError:
            _missing(f"running as root and there is no {_SERVER_USER!r} user to run initdb")
        runuser = shutil.which("runuser") or shutil.which("setpriv")
        if runuser is None:
            _missing("running as root and neither runuser nor setpriv is available")
        if runuser.endswith("runuser"):
            prefix = [runuser, "-u", _SERVER_USER, "--"]
        else:
            prefix = [runuser, f"--reuid={server_user.pw_uid}", f"--regid={server_user.pw_gid}"]
            prefix += ["--init-groups", "--"]
    folder = Path(tempfile.mkdtemp(prefix="hwfit-pg-"))
    if os.geteuid() == 0:
        os.chown(folder, server_user.pw_uid, server_user.pw_gid)
    data, log, port = folder / "data", folder / "server.log", _free_port()

    def _run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*prefix, *args], capture_output=True, text=True, timeout=60, check=False
        )

    made = _run(initdb, "-D", str(data), "-U", _DB_USER, "--auth=trust", "-E", "UTF8", "-N")
    if made.returncode != 0:
        shutil.rmtree(folder, ignore_errors=True)
        _missing(f"initdb failed: {(made.stderr or made.stdout).strip()[:300]}")
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
    started = _run(pg_ctl, "-D", str(data), "-o", options, "-l", str(log), "-w", "start")
    if started.returncode != 0:
        text = log.read_text() if log.exists() else started.stderr
        shutil.rmtree(folder, ignore_errors=True)
        _missing(f"PostgreSQL did not start: {text.strip()[-300:]}")

    def _stop() -> None:
        _run(pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop")

    try:
        yield _Server(f"postgresql+psycopg://{_DB_USER}@127.0.0.1:{port}/postgres", _stop)
    finally:
        _stop()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def pg_server() -> Iterator[str]:
    """Start a cluster for the module; yield the URL of its maintenance database."""
    with _start_server() as server:
        yield server.url


def _new_database(server_url: str) -> str:
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    conninfo = server_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return server_url.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture
def pg_url(pg_server: str) -> str:
    """A fresh, empty database on the module's server."""
    return _new_database(pg_server)


def test_store_round_trip_on_postgres(pg_url):
    saved = [
        make_result(p50=10.0, created_at="2026-01-01T00:00:00+00:00"),
        make_result(runtime="openvino", p50=8.5, created_at="2026-01-02T00:00:00+00:00"),
        make_result(
            runtime="onnxruntime-cuda",
            state=RowState.SKIPPED,
            fingerprint="fp-b",
            created_at="2026-01-03T00:00:00+00:00",
        ),
    ]
    with ResultStore(pg_url) as store:
        store.save(saved[0], PROFILE_A)
        store.save(saved[1])
        store.save(saved[2], PROFILE_B)
        assert store.count() == 3
        assert store.query() == saved[::-1]  # newest first, records equal to what was saved
        assert store.query(HistoryQuery(runtime="openvino")) == [saved[1]]
        assert store.query(HistoryQuery(state="skipped", fingerprint="fp-")) == [saved[2]]
        assert dict(store.machines()) == {"fp-a": PROFILE_A, "fp-b": PROFILE_B}
    with ResultStore(pg_url) as reopened:  # the schema check passes on an existing database
        assert reopened.count() == 3


def test_export_from_sqlite_import_into_postgres(pg_url, tmp_path):
    with ResultStore(str(tmp_path / "local.db")) as local:
        local.save(make_result(p50=10.0, created_at="2026-01-01T00:00:00+00:00"), PROFILE_A)
        local.save(make_result(runtime="torch", p50=21.0, created_at="2026-01-02T00:00:00+00:00"))
        local.save(make_result(fingerprint="fp-b", created_at="2026-01-03T00:00:00"), PROFILE_B)
        path = tmp_path / "results.json"
        assert export_results(local, path) == 3
        expected = local.query()
    with ResultStore(pg_url) as team:
        first = import_results(team, path)
        assert (first.added, first.duplicates, first.new_machines) == (3, 0, 2)
        assert team.query() == expected
        assert dict(team.machines()) == {"fp-a": PROFILE_A, "fp-b": PROFILE_B}
        again = import_results(team, path)
        assert (again.added, again.duplicates) == (0, 3)
        assert team.count() == 3


def test_unreachable_postgres_is_a_one_line_database_error():
    url = f"postgresql+psycopg://hwfit:secret@127.0.0.1:{_free_port()}/nothing?connect_timeout=2"
    with pytest.raises(DatabaseError) as info:
        ResultStore(url)
    message = str(info.value)
    assert message.startswith("Cannot open the database 'postgresql+psycopg://hwfit:***@127.0.0.1")
    assert "\n" not in message
    assert "secret" not in message


def _execute(url: str, *statements: str) -> None:
    import psycopg

    conninfo = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)  # type: ignore[arg-type]  # test-made SQL, no user input


def test_concurrent_first_use_of_new_postgres_database_all_succeed(pg_server):
    from db_openers import open_at_once

    urls = [_new_database(pg_server) for _ in range(2)]

    failures = open_at_once(urls, processes=4)

    errors = [error for round_errors in failures.values() for error in round_errors]
    assert (sorted(failures), errors) == (list(range(2)), []), "\n".join(errors)
    for url in urls:
        with ResultStore(url) as store:
            assert store.count() == 4
            assert [fp for fp, _ in store.machines()] == ["fp-shared"]


@pytest.mark.parametrize("how", ["read-only database", "user without INSERT"])
def test_read_only_postgres_fails_before_writing(pg_url, how):
    with ResultStore(pg_url) as store:  # the tables exist; reading them works
        store.save(make_result())
    name = pg_url.rsplit("/", 1)[1]
    if how == "read-only database":
        _execute(pg_url, f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
        url = pg_url
    else:
        _execute(
            pg_url,
            "CREATE ROLE reader LOGIN",
            "GRANT SELECT ON ALL TABLES IN SCHEMA public TO reader",
        )
        url = pg_url.replace(f"{_DB_USER}@", "reader@")

    with ResultStore(url) as reader:
        assert reader.count() == 1
    with pytest.raises(DatabaseError) as info:
        ResultStore(url, writable=True)

    message = str(info.value)
    assert message.startswith(f"Cannot write to the database {url!r}: ")
    assert "\n" not in message
    if how == "read-only database":
        assert "cannot execute INSERT in a read-only transaction" in info.value.message
        assert "--no-save" in info.value.hint
    else:
        assert "permission denied for table" in info.value.message
        assert "grant it CREATE and INSERT" in info.value.hint


def test_postgres_stopped_mid_run_fallback_file_holds_the_missing_rows(
    dynamic_onnx_file, pg_url, tmp_path, monkeypatch
):
    import hwfit

    monkeypatch.chdir(tmp_path)
    with _start_server() as doomed:  # a server of its own: this test stops it
        url = _new_database(doomed.url)

        def stop_after_first_row(event):
            if event.result is not None and event.done == 1:
                doomed.stop()

        report = hwfit.bench(
            str(dynamic_onnx_file),
            runtimes=["onnxruntime"],
            batches=[1, 2, 3],
            input_shape="1x3x64x64",
            db=url,
            progress=stop_after_first_row,
            duration_s=0.3,
            min_time_s=0.1,
            min_runs=5,
            async_throughput=False,
        )
    assert (len(report.results), report.saved, report.fallback_rows) == (3, 1, 2)
    assert report.db_error.startswith(f"Cannot write to the database {url!r}: ")
    assert report.fallback_command == f"hwfit import {report.fallback_path} --db {url}"

    with ResultStore(pg_url) as team:  # where the rows go once a server is back
        summary = import_results(team, report.fallback_path)
        assert (summary.added, summary.duplicates, summary.new_machines) == (2, 0, 1)
        assert sorted(team.query(), key=lambda r: r.config.batch) == list(report.results[1:])
