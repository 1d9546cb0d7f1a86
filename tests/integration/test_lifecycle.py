"""Workers end with the process that started them; SIGTERM stops a run as Ctrl-C does.

Real processes throughout: the CLI is started, killed and signalled as a user, a service
manager or a CI time-out would, and the workers are found and watched with psutil.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from hwfit.bench.spawn import describe_in_worker
from hwfit.cli.main import run
from hwfit.db import ResultStore
from hwfit.errors import UnknownNameError
from hwfit.models import load_model
from hwfit.runtimes import RUNTIMES

TINY = "timm:test_resnet"
HERE = Path(__file__).parent
QUICK = ["--duration", "1", "--min-time", "0.5", "--min-runs", "5", "--no-async"]

# The CLI with a runtime that hangs registered, as a user's plug-in would be.
CLI_WITH_HANG = (
    "from hwfit.runtimes import RUNTIMES\n"
    "RUNTIMES.register('test-hang', 'misbehaving_runtimes:HangingRuntime')\n"
    "from hwfit.cli.main import main\n"
    "main()\n"
)


def _env(tmp: Path) -> dict[str, str]:
    """The child's environment: its temporary folders in ``tmp``, the test modules importable."""
    path = os.pathsep.join(p for p in (str(HERE), os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "TMPDIR": str(tmp), "PYTHONPATH": path}


def _start_cli(args: list[str], tmp: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", CLI_WITH_HANG, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(tmp),
    )


def _wait_for_row_worker(cli: subprocess.Popen[str], runtime: str) -> psutil.Process:
    """The worker measuring ``runtime``'s row, once it runs (its job file names the runtime).

    A worker is found by its output, the ``log.txt`` in its temporary folder, whether it was
    forked from the fork server or started as a fresh interpreter.
    """
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if cli.poll() is not None:
            pytest.fail(f"the CLI ended first: {cli.communicate()[1]}")
        for child in psutil.Process(cli.pid).children(recursive=True):
            try:
                folder = _worker_folder(child)
                if folder is not None:
                    job = json.loads((folder / "job.json").read_text())
                    if job.get("config", {}).get("runtime") == runtime:
                        return child
            except (psutil.Error, OSError, ValueError):  # not started, or already gone
                continue
        time.sleep(0.2)
    pytest.fail(f"no worker for {runtime} started")


def _worker_folder(proc: psutil.Process) -> Path | None:
    """The temporary folder of a worker: where the log its output goes to lies."""
    for file in proc.open_files():
        path = Path(file.path)
        if path.name == "log.txt" and path.parent.name.startswith("hwfit-worker-"):
            return path.parent
    return None


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _assert_ended(proc: psutil.Process, tmp: Path, within_s: float = 5.0) -> None:
    deadline = time.monotonic() + within_s
    while _alive(proc) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(proc), f"worker {proc.pid} still runs {within_s:.0f} s on"
    assert not list(tmp.glob("hwfit-worker-*")), "a worker's temporary folder was left behind"


@pytest.fixture
def tmp(tmp_path: Path) -> Path:
    folder = tmp_path / "tmp"
    folder.mkdir()
    return folder


def test_kill_9_of_the_cli_ends_its_worker_and_removes_the_folder(tmp):
    cli = _start_cli(
        ["bench", TINY, "-r", "onnxruntime", "--duration", "60", "--min-time", "60", "--no-save"],
        tmp,
    )
    worker = _wait_for_row_worker(cli, "onnxruntime")
    time.sleep(2)  # into compiling or measuring
    started = psutil.Process(cli.pid).children(recursive=True)  # the fork server too
    cli.kill()  # no handler runs: only the worker can notice
    cli.wait()  # not communicate(): the fork server holds the CLI's output pipes until it ends
    _assert_ended(worker, tmp)  # within 5 s of the kill
    for proc in started:
        _assert_ended(proc, tmp)
    cli.communicate()


def test_sigterm_stops_a_bench_as_ctrl_c_does_and_exits_143(tmp, db_path):
    cli = _start_cli(["bench", TINY, "-r", "onnxruntime,test-hang", *QUICK, "--db", db_path], tmp)
    worker = _wait_for_row_worker(cli, "test-hang")  # onnxruntime's row is stored by now
    cli.send_signal(signal.SIGTERM)
    _, err = cli.communicate(timeout=60)
    assert cli.returncode == 143, err
    assert "Interrupted: 1 finished rows kept (1 saved)." in err
    assert "Traceback" not in err
    _assert_ended(worker, tmp)
    with ResultStore(db_path) as store:
        assert [r.config.runtime for r in store.query()] == ["onnxruntime"]


def test_a_model_whose_forward_pass_segfaults_is_one_error_line(tmp):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "hwfit",
            "bench",
            "crashing_models:segfaulting_net",
            "--input-shape",
            "1x3x8x8",
            "-r",
            "onnxruntime",
            "--no-save",
        ],
        capture_output=True,
        text=True,
        env=_env(tmp),
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr  # an exit code: the CLI was not killed
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert lines[0].startswith(
        "Error: Model 'crashing_models:segfaulting_net' could not run one forward pass: "
        "worker crashed with SIGSEGV"
    ), proc.stderr
    assert len(lines) == 2  # the error, then the hint
    assert not list(tmp.glob("hwfit-worker-*"))


def test_describe_in_worker_gives_the_info_loading_here_gives():
    assert describe_in_worker(TINY, None, None) == load_model(TINY).info


def test_describe_in_worker_raises_the_workers_error_again():
    with pytest.raises(UnknownNameError, match="Did you mean: resnet18"):
        describe_in_worker("timm:resnet_18", None, None)


@pytest.fixture
def raising_runtime():
    with RUNTIMES.override("test-raise", "misbehaving_runtimes:RaisingRuntime"):
        yield


@pytest.mark.parametrize(
    ("runtimes", "code"),
    [("test-raise", 1), ("torch", 1), ("onnxruntime,test-raise", 0)],
    ids=["all-failed", "all-skipped", "one-measured"],
)
def test_bench_exits_1_when_no_row_was_measured(
    raising_runtime, onnx_file, runtimes, code, capsys
):
    assert run(["bench", str(onnx_file), "-r", runtimes, *QUICK, "--no-save"]) == code
    err = capsys.readouterr().err
    assert ("No row was measured" in err) == (code == 1), err


_DIE_WITH = (
    "import sys, time\n"
    "from pathlib import Path\n"
    "from hwfit.bench.lifecycle import die_with_parent\n"
    "die_with_parent(int(sys.argv[1]), Path(sys.argv[2]))\n"
    "time.sleep(60)\n"
)


def test_die_with_parent_exits_at_once_when_the_parent_is_already_gone(tmp_path):
    folder = tmp_path / "hwfit-worker-x"
    folder.mkdir()
    (folder / "job.json").write_text("{}")
    not_the_parent = os.getppid()  # the parent's parent: as if the parent had died
    proc = subprocess.run(
        [sys.executable, "-c", _DIE_WITH, str(not_the_parent), str(folder)],
        timeout=30,
        check=False,
    )
    assert proc.returncode == 143
    assert not folder.exists()


_END_WITH = (
    "import sys, time\n"
    "from pathlib import Path\n"
    "from hwfit.bench.lifecycle import end_with_caller\n"
    "end_with_caller(int(sys.argv[1]), Path(sys.argv[2]))\n"
    "Path(sys.argv[2], 'ready').touch()\n"
    "time.sleep(60)\n"
)


def test_a_worker_ends_when_its_caller_closes_the_sentinel_while_its_parent_lives(tmp_path):
    folder = tmp_path / "hwfit-worker-x"
    folder.mkdir()
    read_end, write_end = os.pipe()  # as a fork server's worker gets from its caller
    child = subprocess.Popen(
        [sys.executable, "-c", _END_WITH, str(read_end), str(folder)], pass_fds=(read_end,)
    )
    os.close(read_end)
    deadline = time.monotonic() + 60
    while not (folder / "ready").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert (folder / "ready").exists(), "the child never called end_with_caller"
    assert child.poll() is None  # its parent (this test) lives, and so does the child
    os.close(write_end)  # what the kernel does when the caller dies
    assert child.wait(timeout=5) == 143
    assert not folder.exists()


def test_a_multiprocessing_child_ends_with_its_parent(tmp_path):
    folder = tmp_path / "work"
    folder.mkdir()
    parent = subprocess.Popen(
        [sys.executable, str(HERE / "orphan_parent.py"), str(folder)],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert parent.stdout is not None
    child = psutil.Process(int(parent.stdout.readline()))
    deadline = time.monotonic() + 30
    while not (folder / "ready").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert (folder / "ready").exists(), "the child never called die_with_parent"
    parent.kill()
    parent.communicate()
    _assert_ended(child, tmp_path)
    assert not folder.exists()


# In a fresh interpreter: a SIGTERM sent to the pytest process itself, after earlier tests
# compiled and released OpenVINO models in it, crashed that process inside kill() (SIGSEGV on
# an AMD EPYC with AVX-512, 2026-12-07; not reproduced in a plain Python process with the same
# models), which would take the rest of the suite with it.
_SIGTERM_CHECK = """
import os, signal
from hwfit.cli.render import Terminated, interrupted_exit_code, sigterm_as_interrupt

before = signal.getsignal(signal.SIGTERM)
with sigterm_as_interrupt():
    assert interrupted_exit_code() == 130
    try:
        os.kill(os.getpid(), signal.SIGTERM)  # the handler runs before kill returns
    except Terminated:
        print("terminated")
    assert interrupted_exit_code() == 143
assert signal.getsignal(signal.SIGTERM) is before
print("restored")
"""


def test_sigterm_as_interrupt_raises_terminated_then_restores_the_handler():
    done = subprocess.run(
        [sys.executable, "-c", _SIGTERM_CHECK], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["terminated", "restored"]
