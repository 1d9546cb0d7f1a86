import json
from pathlib import Path

import pytest

from hwfit.cli.main import run
from hwfit.db import ResultStore

TIMM = Path(__file__).resolve().parents[3] / "shared" / "data" / "timm-results"
CPU_TABLES = [
    TIMM / "benchmark-infer-fp32-nchw-pt240-cpu-i9_10940x-dynamo.csv",
    TIMM / "benchmark-infer-fp32-nchw-pt240-cpu-i7_12700h-dynamo.csv",
]


def test_compare_json_from_database(tmp_path, capsys):
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
    from test_compare import row

    db = str(tmp_path / "r.db")
    with ResultStore(db) as store:
        for r in [row("m1", 10.0, fp="aaaa1111"), row("m2", 20.0, fp="aaaa1111")]:
            store.save(r, {"label": "laptop"})
        for r in [row("m1", 30.0, fp="bbbb2222"), row("m2", 20.0, fp="bbbb2222")]:
            store.save(r, {"label": "server"})
    code = run(["compare", "laptop", "server", "--db", db, "--out", str(tmp_path), "--json"])
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert data["flip_count"] == 1
    assert data["flips"][0]["faster_on_x"] == "m1 @224"
    code = run(["compare", "laptop", "server", "--db", db, "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0
    assert "1 rank flips" in out


def test_compare_errors_are_one_line_exit_2(tmp_path, capsys):
    code = run(["compare", "nope", "nada", "--db", str(tmp_path / "r.db")])
    err = capsys.readouterr().err
    assert code == 2
    assert "No machine" in err
    assert "Traceback" not in err


@pytest.mark.skipif(not CPU_TABLES[0].is_file(), reason="shared timm tables not present")
def test_compare_reads_timms_two_published_cpu_tables(tmp_path, capsys):
    code = run(["compare", *map(str, CPU_TABLES), "--out", str(tmp_path), "--json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0
    assert [m["label"] for m in data["machines"]] == ["i9_10940x", "i7_12700h"]
    assert len(data["rows"]) > 1000
    assert data["flip_count"] > 0
    assert (tmp_path / "compare.html").stat().st_size > 1_000_000


def test_frontier_bad_precision_and_unknown_family(capsys):
    assert run(["frontier", "--precision", "int8"]) == 2
    assert run(["frontier", "--family", "no-such-family"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err


def test_gap_no_measure_prints_instructions(tmp_path, capsys):
    code = run(["gap", "timm:test_resnet", "--no-measure", "--db", str(tmp_path / "r.db"),
                "--out", str(tmp_path)])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    assert "hwfit import" in out
