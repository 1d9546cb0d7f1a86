"""``hwfit export`` and ``hwfit import``: summaries, filters, one-line errors with exit 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hwfit.cli.main import run
from hwfit.db import ResultStore

TIMM_TABLE = "benchmark-infer-fp32-nchw-pt240-cpu-i9_10940x-dynamo.csv"
TIMM_ROWS = (
    "model,infer_img_size,infer_samples_per_sec,infer_step_time,infer_batch_size,"
    "param_count,infer_gmacs,infer_macts\n"
    "resnet18,224,126.23,7.907,1,11.69,1.82,2.48\n"
    "mobilenetv2_100,224,188.22,5.299,1,3.5,0.31,6.68\n"
)


@pytest.fixture(autouse=True)
def _wide_terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", "220")


@pytest.fixture
def timm_table(tmp_path: Path) -> Path:
    path = tmp_path / TIMM_TABLE
    path.write_text(TIMM_ROWS, encoding="utf-8")
    return path


def test_import_export_import_round_trip(capsys, tmp_path, timm_table):
    first_db, second_db = str(tmp_path / "a.db"), str(tmp_path / "b.db")
    assert run(["import", str(timm_table), "--db", first_db, "--origin", "timm@aa4b585"]) == 0
    out = capsys.readouterr().out.strip()
    assert out == (
        f"Imported 2 rows from {timm_table} (timm benchmark table; 0 duplicates skipped; "
        "1 machine, 1 new)."
    )

    exported = tmp_path / "shared.json"
    assert run(["export", str(exported), "--db", first_db, "--model", "resnet"]) == 0
    assert capsys.readouterr().out.strip().startswith("Exported 1 row from sqlite:///")
    document = json.loads(exported.read_text())
    assert [r["model"]["source"] for r in document["results"]] == ["timm:resnet18"]
    assert document["machines"]["timm:i9_10940x"]["origin"] == "timm@aa4b585"

    assert run(["import", str(exported), str(timm_table), "--db", second_db]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("Imported 1 row from")
    assert "(hwfit results;" in lines[0]
    assert lines[1].startswith("Imported 1 row from")
    assert "1 duplicates skipped" in lines[1]
    with ResultStore(second_db) as store:
        assert sorted(r.model.source for r in store.query()) == [
            "timm:mobilenetv2_100",
            "timm:resnet18",
        ]


def test_import_machine_label_keys_the_rows(capsys, tmp_path, timm_table):
    db = str(tmp_path / "r.db")
    assert run(["import", str(timm_table), "--db", db, "--machine-label", "desk"]) == 0
    capsys.readouterr()
    assert run(["history", "--json", "--machine", "timm:desk", "--db", db]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["fingerprint"] for r in rows} == {"timm:desk"}
    assert len(rows) == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["import", "{tmp}/missing.json"], "Error: Results file '{tmp}/missing.json' not found."),
        (["import", "{tmp}/notes.txt"], "Error: Cannot tell what 'notes.txt' holds"),
        (["export", "{tmp}/no/folder/x.json"], "Error: Cannot write '{tmp}/no/folder/x.json'"),
        (["export", "{tmp}/x.json", "--state", "weird"], "Usage:"),
    ],
    ids=["missing-file", "unknown-file", "unwritable-export", "bad-state"],
)
def test_bad_input_is_one_line_and_exit_2(capsys, tmp_path, args, message):
    (tmp_path / "notes.txt").write_text("a,b\n1,2\n")
    args = [a.format(tmp=tmp_path) for a in args]
    code = run([*args, "--db", str(tmp_path / "r.db")])
    assert code == 2
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    if message != "Usage:":
        assert lines[0].startswith(message.format(tmp=tmp_path)), err
        assert len(lines) <= 2  # the error, then the hint
    assert "Traceback" not in err


def test_unreachable_database_is_one_line_in_a_real_process(tmp_path, timm_table):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "hwfit.cli.main",
            "import",
            str(timm_table),
            "--db",
            "postgresql+psycopg://u:secret@127.0.0.1:1/x",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "220"},
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("Error: Cannot open the database"), proc.stderr
    assert "Traceback" not in proc.stderr
    assert "secret" not in proc.stderr
