"""The persistent worker pool: a crash or hang fails one job; the next job gets a new worker."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
from pool_handlers import HANDLERS, ProbeJob, UnhandledJob

from hwfit.bench.pool import WorkerPool

HERE = Path(__file__).parent
NO_WARM: tuple[str, ...] = ()  # these jobs need no framework: start the worker quickly


def _pool() -> WorkerPool:
    return WorkerPool(handlers=HANDLERS, warm_imports=NO_WARM, name="hwfit-test-pool")


@pytest.mark.timeout(120)
def test_pool_keeps_one_worker_for_many_jobs():
    with _pool() as pool:
        first = pool.run(ProbeJob(), timeout_s=60)
        second = pool.run(ProbeJob(), timeout_s=60)
        assert first.ok
        assert first.pid == second.pid
        assert first.pid != os.getpid()
        assert pool.pid == first.pid
    assert not psutil.pid_exists(first.pid)  # close() ended it


@pytest.mark.timeout(120)
def test_pool_restarts_after_a_worker_crash():
    with _pool() as pool:
        before = pool.run(ProbeJob(), timeout_s=60)
        crashed = pool.run(ProbeJob("abort"), timeout_s=60)
        assert not crashed.ok
        assert crashed.error == "worker crashed with SIGABRT"
        assert pool.pid is None  # forgotten; the next job starts a new one
        after = pool.run(ProbeJob(), timeout_s=60)
        assert after.ok
        assert after.pid != before.pid


@pytest.mark.timeout(120)
def test_pool_kills_a_hung_worker_at_the_time_out_and_restarts():
    with _pool() as pool:
        hung_pid = pool.run(ProbeJob(), timeout_s=60).pid
        hung = pool.run(ProbeJob("sleep", seconds=60), timeout_s=1)
        assert not hung.ok
        assert hung.error == "timed out after 1 s (worker killed)"
        assert hung_pid is not None
        assert not psutil.pid_exists(hung_pid)
        after = pool.run(ProbeJob(), timeout_s=60)
        assert after.ok
        assert after.pid != hung_pid


@pytest.mark.timeout(120)
def test_a_handler_error_fails_the_job_and_keeps_the_worker():
    with _pool() as pool:
        pid = pool.run(ProbeJob(), timeout_s=60).pid
        raised = pool.run(ProbeJob("raise"), timeout_s=60)
        assert raised == ProbeJob().failed("ValueError: the handler raised")
        assert pool.run(ProbeJob(), timeout_s=60).pid == pid


@pytest.mark.timeout(120)
def test_a_task_without_a_handler_fails_with_the_known_tasks():
    with _pool() as pool:
        result = pool.run(UnhandledJob(), timeout_s=60)
    assert not result.ok
    assert result.error == (
        "no handler for the worker task 'unhandled'; known: latency, pair, probe, row"
    )


_PARENT = """
import sys, time
from pool_handlers import HANDLERS, ProbeJob
from hwfit.bench.pool import WorkerPool
pool = WorkerPool(handlers=HANDLERS, warm_imports=())
print(pool.run(ProbeJob(), timeout_s=60).pid, flush=True)
time.sleep(120)
"""


@pytest.mark.timeout(120)
def test_the_worker_dies_with_its_parent():
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), *sys.path])}
    with subprocess.Popen(
        [sys.executable, "-c", _PARENT], stdout=subprocess.PIPE, text=True, env=env
    ) as parent:
        try:
            worker = psutil.Process(int(parent.stdout.readline()))
            assert worker.is_running()
        finally:
            parent.kill()  # SIGKILL: the parent cannot end its worker itself
            parent.wait()
    worker.wait(timeout=10)  # the worker noticed and exited
