"""The command line: outputs, exit codes, and one-line errors without tracebacks."""

import json
import os
import re
import subprocess
import sys

import pytest

from hwfit.cli.main import run

TINY = "timm:test_resnet"


@pytest.fixture(autouse=True)
def _wide_terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", "220")


def test_hardware_json(capsys):
    assert run(["hardware", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert len(data["fingerprint"]) == 16
    assert data["cpu"]["physical_cores"] >= 1
    runtimes = {r["name"]: r for r in data["runtimes"]}
    assert runtimes["onnxruntime"]["ok"]
    assert runtimes["openvino"]["ok"]
    assert runtimes["torch"]["ok"]


def test_hardware_table(capsys):
    assert run(["hardware"]) == 0
    out = capsys.readouterr().out
    assert "fingerprint" in out
    assert "openvino" in out
    assert "ISA" in out


def test_bench_table_then_history(capsys, db_path):
    code = run(
        [
            "bench",
            TINY,
            "-r",
            "torch,onnxruntime",
            "--duration",
            "0.3",
            "--min-runs",
            "5",
            "--db",
            db_path,
        ]
    )
    captured = capsys.readouterr()
    assert code == 0
    assert "onnxruntime" in captured.out
    assert "torch" in captured.out
    assert "baseline" in captured.out  # the PyTorch eager row is the baseline
    assert re.search(r"\d+\.\d\dx \[\d+\.\d\d-\d+\.\d\d\]", captured.out)  # paired, with its CI
    assert "Saved 2 rows" in captured.err
    assert run(["history", "--json", "--db", db_path]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["config"]["runtime"] for r in rows} == {"torch", "onnxruntime"}
    assert run(["history", "--runtime", "torch", "--machine", "this", "--db", db_path]) == 0
    assert "1 results" in capsys.readouterr().out


def test_bench_json_reports_executed_settings(capsys, db_path):
    code = run(
        [
            "bench",
            TINY,
            "-r",
            "openvino",
            "--threads",
            "1",
            "--duration",
            "0.3",
            "--json",
            "--db",
            db_path,
        ]
    )
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    (row,) = data["results"]
    assert row["state"] == "complete"
    assert row["executed"]["threads"] == 1
    assert row["executed"]["precision"] == "fp32"
    assert row["speedup"] is None  # no torch row measured, nothing to pair with


def _cli(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "hwfit.cli.main", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=300,
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["bench", "missing.onnx"], "Error: Model file 'missing.onnx' not found."),
        (
            ["bench", "timm:resnet_18"],
            "Error: Unknown timm model 'resnet_18'. Did you mean: resnet18",
        ),
        (
            ["bench", TINY, "-r", "onnxrt"],
            "Error: Unknown runtime 'onnxrt'. Did you mean 'onnxruntime'",
        ),
        (["bench", TINY, "--batch", "one"], "Error: --batch takes comma-separated integers"),
        (
            ["bench", TINY, "--input-shape", "1x3x160"],
            "Error: Input shape 1x3x160 has 3 dimensions",
        ),
        (["bench", TINY, "--db", "postgresql+psycopg://u:secret@127.0.0.1:1/x"], "Error: "),
        (["bench", "nonsense"], "Error: Cannot tell what model 'nonsense' is."),
    ],
    ids=[
        "missing-file",
        "unknown-timm",
        "unknown-runtime",
        "bad-batch",
        "wrong-shape",
        "bad-db",
        "bad-spec",
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, message):
    proc = _cli(*args)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert lines[0].startswith(message), proc.stderr
    assert len(lines) <= 2  # the error, then the hint
    assert "secret" not in proc.stderr


def test_corrupt_onnx_is_one_line(corrupt_onnx):
    proc = _cli("bench", str(corrupt_onnx))
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"Error: Cannot read ONNX model '{corrupt_onnx}'")
    assert "Traceback" not in proc.stderr


def test_no_args_shows_help():
    proc = _cli()
    assert "bench" in proc.stdout + proc.stderr
    assert "hardware" in proc.stdout + proc.stderr


def test_ctrl_c_mid_run_keeps_finished_rows(db_path):
    import signal
    import time

    from hwfit.db import ResultStore
    from hwfit.errors import DatabaseError

    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hwfit.cli.main",
            "bench",
            TINY,
            "-r",
            "onnxruntime,openvino,torch",
            "--duration",
            "4",
            "--min-time",
            "4",
            "--no-async",
            "--db",
            db_path,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # A shell's background job inherits SIGINT ignored (POSIX), and exec keeps SIG_IGN:
        # give the child the terminal's default, as a real Ctrl-C finds it.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 240

    def stored() -> int:
        # A new store (new connection) per poll: never a long-lived reader's stale view.
        try:
            with ResultStore(db_path) as store:
                return store.count()
        except DatabaseError:  # the bench may be creating the file right now
            return 0

    while stored() < 1 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.5)
    assert proc.poll() is None, "the bench ended before it could be interrupted"
    proc.send_signal(signal.SIGINT)  # what Ctrl-C sends to the foreground process
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Interrupted" in err
    assert "Traceback" not in err
    with ResultStore(db_path) as store:
        rows = store.query()
    assert len(rows) >= 1
    # Baselines run first (the other rows are paired against them): torch is the finished row.
    assert rows[-1].config.runtime == "torch"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["optimize", TINY, "--data", "no/such/folder", "--out", "{tmp}/o"], "Error: "),
        (
            [
                "optimize",
                TINY,
                "--data",
                "{tmp}",
                "--out",
                "{tmp}/o",
                "--max-accuracy-drop",
                "lots",
            ],
            "Error: ",
        ),
        (
            ["optimize", TINY, "--data", "{tmp}", "--out", "{tmp}/o", "--precision", "int4"],
            "Error: Unknown precision 'int4'",
        ),
        (
            ["optimize", TINY, "--data", "{tmp}", "--out", "{tmp}/o", "--preprocess", "mean=abc"],
            "Error: ",
        ),
        (["predict", "{tmp}", "x.jpg"], "Error: No hwfit.json in"),
    ],
    ids=["missing-data", "bad-budget", "bad-precision", "bad-preprocess", "predict-not-an-output"],
)
def test_optimize_bad_input_is_one_line(args, message, tmp_path):
    from PIL import Image

    (tmp_path / "a").mkdir()
    Image.new("RGB", (40, 40), (200, 10, 10)).save(tmp_path / "a" / "img.png")
    proc = _cli(*[a.replace("{tmp}", str(tmp_path)) for a in args])
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert lines[0].startswith(message), proc.stderr
    assert len(lines) <= 2
