"""A database that fails mid-run: the rows it did not take go to an ``hwfit import`` file.

The failure is real: another process takes SQLite's exclusive lock after the first row and
holds it past the store's busy timeout (``?timeout=`` in the URL), as a long write by another
tool would. Every later row then fails to store, goes to ``hwfit-results-<UTC>.json``, and
importing that file gives exactly the rows the database is missing.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import hwfit
from hwfit.db import ResultStore
from hwfit.db.exchange import FORMAT, import_results, result_key
from hwfit.db.fallback import FallbackFile
from hwfit.records import BenchResult, InputSpec, ModelInfo, RowState, RunConfig

QUICK = {"duration_s": 0.3, "min_time_s": 0.1, "min_runs": 5, "async_throughput": False}


@contextlib.contextmanager
def _exclusive_lock(path: Path) -> Iterator[None]:
    """Hold SQLite's exclusive lock on ``path`` (no other connection reads or writes)."""
    conn = sqlite3.connect(path, timeout=30, isolation_level=None)
    try:
        conn.execute("BEGIN EXCLUSIVE")
        yield
    finally:
        conn.execute("ROLLBACK")
        conn.close()


def _keys(results: list[BenchResult]) -> list[str]:
    return sorted(result_key(r) for r in results)


def _row(runtime: str, fingerprint: str = "fp-x") -> BenchResult:
    return BenchResult(
        model=ModelInfo("m.onnx", "onnx", "h", InputSpec("x", (1, 3, 8, 8))),
        config=RunConfig(runtime),
        state=RowState.SKIPPED,
        reason="not here",
        fingerprint=fingerprint,
        created_at="2026-01-01T00:00:00+00:00",
    )


def test_fallback_file_is_an_export_file_rewritten_per_row(tmp_path):
    fallback = FallbackFile(db_url="sqlite:////x/y.db", folder=tmp_path)
    assert (fallback.path, fallback.command, fallback.rows) == (None, None, 0)

    fallback.add(_row("onnxruntime"), {"cpu": {"brand": "A"}})
    first = json.loads(fallback.path.read_text())
    fallback.add(_row("openvino"), {"cpu": {"brand": "A"}})
    second = json.loads(fallback.path.read_text())

    assert fallback.path.parent == tmp_path
    assert fallback.path.name.startswith("hwfit-results-")
    assert (first["format"], len(first["results"]), len(second["results"])) == (FORMAT, 1, 2)
    assert second["machines"] == {"fp-x": {"cpu": {"brand": "A"}}}
    assert fallback.command == f"hwfit import {fallback.path} --db sqlite:////x/y.db"
    other = FallbackFile(folder=tmp_path)  # a second run failing in the same second
    other.add(_row("torch"))
    assert other.path != fallback.path
    assert other.command == f"hwfit import {other.path}"


def test_bench_database_failing_mid_run_keeps_only_the_missing_rows(
    dynamic_onnx_file, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    db_file = tmp_path / "team.db"
    url = f"sqlite:///{db_file}?timeout=0.2"
    lock = contextlib.ExitStack()

    def lock_after_first_row(event):
        if event.result is not None and event.done == 1:
            lock.enter_context(_exclusive_lock(db_file))

    with lock:
        report = hwfit.bench(
            str(dynamic_onnx_file),
            runtimes=["onnxruntime"],
            batches=[1, 2, 3],
            input_shape="1x3x64x64",
            db=url,
            progress=lock_after_first_row,
            **QUICK,
        )

    assert len(report.results) == 3
    assert (report.saved, report.fallback_rows) == (1, 2)
    assert "database is locked" in report.db_error
    fallback = Path(report.fallback_path)
    assert fallback.parent == tmp_path
    assert report.fallback_command == f"hwfit import {fallback} --db '{url}'"
    with ResultStore(url) as stored:
        in_db = stored.query()
    assert _keys(in_db) == _keys(list(report.results[:1]))

    with ResultStore(str(tmp_path / "fresh.db")) as fresh:
        summary = import_results(fresh, fallback)
        imported = fresh.query()
        machines = dict(fresh.machines())
    assert (summary.added, summary.duplicates) == (2, 0)
    assert imported == sorted(report.results[1:], key=lambda r: r.config.batch, reverse=True)
    assert machines == {report.fingerprint: report.hardware}


def _wait_then_lock(db_file: Path, locked: threading.Event, release: threading.Event) -> None:
    """Once the first row is stored, take the exclusive lock and hold it until ``release``."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not release.is_set():
        with contextlib.suppress(sqlite3.Error):
            with contextlib.closing(sqlite3.connect(db_file, timeout=0.05)) as conn:
                (count,) = conn.execute("SELECT count(*) FROM results").fetchone()
            if count >= 1:
                with _exclusive_lock(db_file):
                    locked.set()
                    release.wait(300)
                return
        time.sleep(0.02)


def test_bench_cli_prints_the_import_command_that_stores_the_missing_rows(
    dynamic_onnx_file, tmp_path
):
    db_file = tmp_path / "team.db"
    url = f"sqlite:///{db_file}?timeout=0.2"
    with ResultStore(url):  # the tables exist before the watcher polls them
        pass
    locked, release = threading.Event(), threading.Event()
    watcher = threading.Thread(target=_wait_then_lock, args=(db_file, locked, release))
    watcher.start()
    try:
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "hwfit.cli.main",
                "bench",
                str(dynamic_onnx_file),
                "--runtime",
                "onnxruntime",
                "--batch",
                "1,2,3",
                "--input-shape",
                "1x3x64x64",
                "--duration",
                "0.3",
                "--min-runs",
                "5",
                "--db",
                url,
            ],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env={**os.environ, "COLUMNS": "250"},
            timeout=300,
            check=False,
        )
    finally:
        release.set()
        watcher.join()
    assert locked.is_set(), proc.stderr
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert any(ln.startswith("Database write failed: Cannot write to") for ln in lines), lines
    (files,) = [ln for ln in lines if "rows were not stored" in ln]
    assert files.startswith("2 of 3 rows were not stored; they are in "), files
    (command,) = [ln for ln in lines if ln.startswith("Store them later with: ")]
    argv = shlex.split(command.removeprefix("Store them later with: "))
    assert argv[:2] == ["hwfit", "import"]
    assert argv[3:] == ["--db", url]
    fallback = Path(argv[2])
    assert fallback.parent == tmp_path
    assert files.endswith(f" {fallback}.")

    imported = subprocess.run(
        [sys.executable, "-m", "hwfit.cli.main", *argv[1:]],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.startswith(f"Imported 2 rows from {fallback} (hwfit results; 0 dup")
    with ResultStore(url) as store:
        rows = store.query()
    assert sorted(r.config.batch for r in rows) == [1, 2, 3]  # nothing measured was lost


@pytest.mark.parametrize("how", ["mode=ro", "immutable=1"])
def test_bench_read_only_database_fails_before_measuring(onnx_file, tmp_path, how):
    db_file = tmp_path / "shared.db"
    with ResultStore(str(db_file)) as store:
        store.save(_row("openvino"))
    url = f"sqlite:///file:{db_file}?{how}&uri=true"
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "hwfit.cli.main", "bench", str(onnx_file), "--db", url],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "COLUMNS": "250"},
        timeout=120,
        check=False,
    )
    elapsed = time.monotonic() - started
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert lines[0] == (
        f"Error: Cannot write to the database {url!r}: attempt to write a readonly database."
    )
    assert lines[1].startswith("The database is read-only here:")
    assert len(lines) == 2
    assert proc.stdout == ""  # no table: nothing was measured
    assert not list(tmp_path.glob("hwfit-results-*.json"))
    with ResultStore(str(db_file)) as store:
        assert store.count() == 1
    assert elapsed < 60  # generous: a loaded 2-core machine; no worker was started


def test_frontier_and_gap_measurer_keeps_the_rows_the_database_missed(
    dynamic_onnx_file, tmp_path, monkeypatch
):
    from hwfit.analysis._measure import Measurer
    from hwfit.hardware import probe
    from hwfit.models import load_model

    monkeypatch.chdir(tmp_path)
    db_file = tmp_path / "team.db"
    url = f"sqlite:///{db_file}?timeout=0.2"
    info = load_model(str(dynamic_onnx_file), input_shape="1x3x64x64").info
    configs = [
        RunConfig("onnxruntime", batch=b, duration_s=0.3, min_time_s=0.1, min_runs=5)
        for b in (1, 2, 3)
    ]
    with ResultStore(url, writable=True) as store:
        measurer = Measurer(probe(include_runtimes=False), store)
        first = measurer.measure(info, configs[0])
        assert measurer.storage_note() is None
        with _exclusive_lock(db_file):
            rest = [measurer.measure(info, c) for c in configs[1:]]

    note = measurer.storage_note()
    assert note is not None
    assert "database is locked" in note
    fallback = measurer.fallback
    assert (measurer.saved, fallback.rows, fallback.path.parent) == (1, 2, tmp_path)
    assert f"store them with: {fallback.command}" in note
    with ResultStore(url) as stored:
        assert _keys(stored.query()) == _keys([first])
    with ResultStore(str(tmp_path / "fresh.db")) as fresh:
        summary = import_results(fresh, fallback.path)
        assert (summary.added, summary.duplicates) == (2, 0)
        assert _keys(fresh.query()) == _keys(rest)
