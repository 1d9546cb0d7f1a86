"""Workers forked from the fork server behave as a fresh interpreter would.

The subject is :func:`hwfit.bench.spawn_worker`'s fork server (``hwfit.bench._forkserver``):
the worker sees the caller's environment and folder as they are when it starts, a variable
that a preloaded library read when it loaded sends the worker to a fresh interpreter, and the
caller's script is not run again in the worker. Real workers and real PyTorch throughout.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

import hwfit
from hwfit.records import RowState
from hwfit.runtimes import RUNTIMES

TINY = "timm:test_resnet"
QUICK = {"duration_s": 0.3, "min_runs": 5, "save": False, "async_throughput": False}


@pytest.fixture
def echo():
    with RUNTIMES.override("test-echo", "misbehaving_runtimes:EchoingRuntime"):
        yield


def _seen() -> str:
    """What the echoing runtime's worker saw (its row fails with it)."""
    (row,) = hwfit.bench(TINY, runtimes=["test-echo"], **QUICK).results
    assert row.state is RowState.FAILED
    return str(row.reason)


def test_workers_stay_forked_when_the_caller_loads_more_frameworks(echo, monkeypatch, tmp_path):
    _seen()  # the fork server runs from here on
    # What importing timm or scikit-learn in the caller does: variables that no preloaded
    # library reads when it loads.
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("KMP_INIT_AT_FORK", "FALSE")
    monkeypatch.setenv("KMP_DUPLICATE_LIB_OK", "True")
    assert f"ppid={os.getpid()} " not in _seen()  # the fork server's child, not a fresh one


def test_a_forked_worker_sees_the_environment_and_folder_the_caller_has_now(
    echo, monkeypatch, tmp_path
):
    _seen()  # the fork server runs from here on
    monkeypatch.setenv("HWFIT_TEST_ECHO", "set-later")
    monkeypatch.chdir(tmp_path)
    seen = _seen()
    assert "echo=set-later" in seen
    assert f"cwd={tmp_path}" in seen


def test_a_forked_worker_starts_processes_as_a_fresh_interpreter_would(echo):
    fresh = subprocess.run(
        [
            sys.executable,
            "-c",
            "import multiprocessing; print(multiprocessing.get_start_method())",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    _seen()  # the fork server runs from here on
    assert f"start-method={fresh} " in _seen()  # not "forkserver", the server's own


@pytest.mark.parametrize("switch", ["1", "0"], ids=["forkserver", "fresh-interpreter"])
def test_a_variable_read_when_torch_loads_reaches_the_worker(echo, monkeypatch, switch):
    monkeypatch.setenv("HWFIT_FORKSERVER", switch)
    _seen()  # the fork server runs from here on (with the switch on)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # libgomp reads it once, when it loads
    assert "threads=1 " in _seen()


def test_the_callers_script_is_not_run_again_in_the_worker(tmp_path):
    script = tmp_path / "user_script.py"  # no __main__ guard, as many scripts are written
    script.write_text(
        textwrap.dedent(
            """
            print("the script ran", flush=True)
            from hwfit.bench.spawn import describe_in_worker
            info = describe_in_worker("timm:test_resnet", None, None)
            print("described", info.input.shape, flush=True)
            """
        )
    )
    proc = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=300, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("the script ran") == 1, proc.stdout
    assert "described" in proc.stdout
