"""``--db`` mistakes as users make them: one line, a hint, exit 2, nothing measured."""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from hwfit.cli.main import run
from hwfit.db import ResultStore


@pytest.fixture(autouse=True)
def _wide_terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _hwfit(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hwfit.cli.main", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "COLUMNS": "250"},
        timeout=120,
        check=False,
    )


@pytest.fixture
def not_sqlite(tmp_path: Path) -> Path:
    path = tmp_path / "results.db"
    path.write_bytes(b"name,latency\nresnet,3.2\n" + bytes(range(256)) * 8)  # a CSV, renamed
    return path


@pytest.mark.parametrize(
    "command",
    [
        ["history"],
        ["export", "{tmp}/out.json"],
        ["import", "{tmp}/in.json"],
        ["frontier", "--models", "resnet18"],
    ],
    ids=["history", "export", "import", "frontier"],
)
def test_db_that_is_not_sqlite_is_one_line_and_exit_2(
    capsys, tmp_path, not_sqlite, onnx_file, command
):
    (tmp_path / "in.json").write_text('{"format": "hwfit-results", "version": 1}')
    args = [a.format(tmp=tmp_path, onnx=onnx_file) for a in command]
    before = not_sqlite.read_bytes()

    code = run([*args, "--db", str(not_sqlite)])

    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert code == 2, captured.err
    assert lines == [
        f"Error: Cannot open the database 'sqlite:///{not_sqlite}': file is not a database.",
        "It is not an SQLite database: pass --db with an hwfit results database or a new file "
        "name.",
    ]
    assert not_sqlite.read_bytes() == before  # hwfit wrote nothing into the user's file


def test_bench_on_a_file_that_is_not_sqlite_measures_nothing(tmp_path, not_sqlite, onnx_file):
    proc = _hwfit("bench", str(onnx_file), "--db", str(not_sqlite), cwd=tmp_path)

    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    assert proc.stderr.startswith(f"Error: Cannot open the database 'sqlite:///{not_sqlite}'")
    assert len(proc.stderr.strip().splitlines()) == 2
    assert "Traceback" not in proc.stderr


def test_bench_on_a_closed_postgres_port_is_one_line_without_the_password(tmp_path, onnx_file):
    url = f"postgresql+psycopg://hwfit:s3cret@127.0.0.1:{_free_port()}/team"

    proc = _hwfit("bench", str(onnx_file), "--db", url, cwd=tmp_path)

    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 2, proc.stderr
    assert lines[0].startswith(
        "Error: Cannot open the database 'postgresql+psycopg://hwfit:***@127.0.0.1:"
    )
    if importlib.util.find_spec("psycopg") is not None:
        assert "Connection refused" in lines[0]
        assert lines[1] == (
            "Check the URL and that the server is running, or omit --db to use the local "
            "SQLite file."
        )
    assert "s3cret" not in proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""


@pytest.mark.parametrize(
    ("url", "module", "hint"),
    [
        (
            "mysql://me:pw@db/hwfit",
            "MySQLdb",
            "pip install mysqlclient (it needs the MySQL client library), or use a "
            "mysql+pymysql:// URL with pip install pymysql.",
        ),
        ("mysql+pymysql://me:pw@db/hwfit", "pymysql", "pip install pymysql."),
        (
            "postgresql+psycopg2://me:pw@db/hwfit",
            "psycopg2",
            "pip install psycopg2-binary, or use a postgresql+psycopg:// URL with pip install "
            "'psycopg[binary]' (or pip install 'hwfit[postgres]').",
        ),
    ],
    ids=["mysql", "pymysql", "psycopg2"],
)
def test_missing_driver_hint_is_the_right_pip_command(capsys, url, module, hint):
    if importlib.util.find_spec(module) is not None:
        pytest.skip(f"{module} is installed here")

    assert run(["history", "--db", url]) == 2

    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[0].startswith(f"Error: Cannot open the database '{url.replace(':pw@', ':***@')}'")
    assert lines[1] == hint  # "[binary]" is text, not a markup tag


def test_import_of_an_edited_file_names_the_row_and_field(capsys, tmp_path):
    db = str(tmp_path / "r.db")
    document = {
        "format": "hwfit-results",
        "version": 1,
        "machines": {},
        "results": [
            {
                "model": {
                    "source": "m.onnx",
                    "kind": "onnx",
                    "content_hash": "h",
                    "input": {"name": "x", "shape": [1, 3, 8, 8]},
                    "path": "../../shared/evil.pt2",
                },
                "config": {"runtime": "onnxruntime"},
                "state": "skipped",
                "reason": "-",
            }
        ],
    }
    (tmp_path / "team.json").write_text(json.dumps(document))

    code = run(["import", str(tmp_path / "team.json"), "--db", db])

    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert lines[0] == (
        "Error: 'team.json': result 0, model.path: '../../shared/evil.pt2' is a relative path."
    )
    assert lines[1].startswith("hwfit writes this path resolved")
    with ResultStore(db) as store:
        assert store.count() == 0


@pytest.mark.parametrize(
    "command",
    [
        ["optimize", "{onnx}", "--data", "{tmp}/data.npz", "--out", "{tmp}/out"],
        ["frontier", "--models", "resnet18"],
        ["gap", "{onnx}"],
        ["import", "{tmp}/in.json"],
    ],
    ids=["optimize", "frontier", "gap", "import"],
)
def test_read_only_db_fails_before_anything_is_measured(capsys, tmp_path, onnx_file, command):
    db_file = tmp_path / "shared.db"
    with ResultStore(str(db_file)):
        pass
    url = f"sqlite:///file:{db_file}?mode=ro&uri=true"
    (tmp_path / "data.npz").write_bytes(b"")  # never read: the database fails first
    (tmp_path / "in.json").write_text(
        '{"format": "hwfit-results", "version": 1, "machines": {}, "results": []}'
    )
    args = [a.format(tmp=tmp_path, onnx=onnx_file) for a in command]

    code = run([*args, "--db", url])

    captured = capsys.readouterr()
    assert code == 2, captured.err
    assert captured.err.strip().splitlines() == [
        f"Error: Cannot write to the database {url!r}: attempt to write a readonly database.",
        "The database is read-only here: pass --db with a writable file or server, or "
        "--no-save to measure without storing.",
    ]
    assert "Imported" not in captured.out
