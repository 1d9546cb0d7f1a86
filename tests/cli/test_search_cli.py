import json

import pytest

from hwfit.cli.main import run


def test_search_space_prints_dimensions_and_size(capsys):
    assert (
        run(["search", "space", "--baseline", "timm:mobilenetv2_100", "--resolution", "64"]) == 0
    )
    out = capsys.readouterr().out
    assert "s3_kernel" in out
    assert "resolution" in out
    assert "Size: 82170781731127296000000 architectures" in out


def test_search_space_json(capsys):
    assert run(["search", "space", "--baseline", "nb201", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["size"] == 15625
    assert len(data["dimensions"]) == 6


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["search"], "needs --baseline"),
        (["search", "--baseline", "resnet18"], "--data is required"),
        (["search", "space", "--baseline", "vit_tiny_patch16_224"], "vit_tiny_patch16_224"),
        (["search", "--baseline", "resnet18", "--data", "/no/such/dir"], "/no/such/dir"),
        (
            ["search", "--demo", "--target", "tensorflow:int8:bs1:cpu", "--out", "{tmp}"],
            "tensorflow",
        ),
        (["search", "--demo", "--latency-budget", "-1", "--out", "{tmp}"], "latency-budget"),
        (["search", "--demo", "--speedup", "0", "--out", "{tmp}"], "--speedup must be > 0"),
        (  # an unusable storage fails before anything is measured
            ["search", "--demo", "--storage", "sqlite:////no/such/dir/s.db", "--out", "{tmp}"],
            "Cannot open the search storage",
        ),
    ],
)
def test_search_bad_input_is_one_line_exit_2(tmp_path, capsys, args, message):
    args = [a.replace("{tmp}", str(tmp_path / "o")) for a in args]
    assert run(args) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) <= 2


@pytest.mark.timeout(600)
def test_ctrl_c_during_search_keeps_measurements_and_says_how_to_resume(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    from hwfit.db import ResultStore
    from hwfit.errors import DatabaseError
    from hwfit.nas.demo import demo_path

    out = tmp_path / "out"
    db = tmp_path / "results.db"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hwfit.cli.main",
            "search",
            "--baseline",
            "timm:mobilenetv2_050",
            "--data",
            str(demo_path()),
            "--resolution",
            "32",
            "--measure",
            "30",
            "--out",
            str(out),
            "--db",
            str(db),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's foreground job
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )

    def measured() -> int:
        if not db.exists():  # not created yet
            return 0
        try:
            with ResultStore(str(db)) as store:
                return len(store.latencies())
        except DatabaseError:  # the search is creating it
            return 0

    deadline = time.monotonic() + 400
    while measured() < 2 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.5)
    assert proc.poll() is None, "the search ended before it could be interrupted"
    before = measured()
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C reaches the whole foreground group
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Interrupted" in err
    assert "resume" in err
    assert "Traceback" not in err
    assert measured() >= before
