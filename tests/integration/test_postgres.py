"""ResultStore and the result exchange against a live, throwaway PostgreSQL server.

The module starts its own cluster (``initdb`` + ``pg_ctl``) in a temporary folder on a free
port, and stops it at the end. PostgreSQL refuses to run as root, so as root the server runs
as the ``postgres`` system user. Skipped, with the reason, when the binaries, psycopg or that
user are missing.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_exchange import PROFILE_A, PROFILE_B, make_result

from hwfit.db import HistoryQuery, ResultStore
from hwfit.db.exchange import export_results, import_results
from hwfit.errors import DatabaseError
from hwfit.records import RowState

pytest.importorskip("psycopg", reason="psycopg 3 is not installed (pip install 'hwfit[dev]')")

_BIN_DIRS = ("/usr/local/bin", "/usr/lib/postgresql/15/bin", "/usr/bin")
_SERVER_USER = "postgres"
_DB_USER = "hwfit"


def _binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for folder in _BIN_DIRS:
        candidate = Path(folder) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def pg_server() -> Iterator[str]:
    """Start a cluster; yield the URL of its maintenance database ``postgres``."""
    initdb, pg_ctl = _binary("initdb"), _binary("pg_ctl")
    if initdb is None or pg_ctl is None:
        pytest.skip("PostgreSQL's initdb/pg_ctl are not installed")
    prefix: list[str] = []
    if os.geteuid() == 0:
        try:
            server_user = pwd.getpwnam(_SERVER_USER)
        except KeyError:
            pytest.skip(f"running as root and there is no {_SERVER_USER!r} user to run initdb")
        runuser = shutil.which("runuser") or shutil.which("setpriv")
        if runuser is None:
            pytest.skip("running as root and neither runuser nor setpriv is available")
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
        pytest.skip(f"initdb failed: {(made.stderr or made.stdout).strip()[:300]}")
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
    started = _run(pg_ctl, "-D", str(data), "-o", options, "-l", str(log), "-w", "start")
    if started.returncode != 0:
        text = log.read_text() if log.exists() else started.stderr
        shutil.rmtree(folder, ignore_errors=True)
        pytest.skip(f"PostgreSQL did not start: {text.strip()[-300:]}")
    try:
        yield f"postgresql+psycopg://{_DB_USER}@127.0.0.1:{port}/postgres"
    finally:
        _run(pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def pg_url(pg_server: str) -> str:
    """A fresh, empty database on the module's server."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    conninfo = pg_server.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return pg_server.rsplit("/", 1)[0] + f"/{name}"


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
