"""Timed loops run ahead of other work where the system allows it, and say so either way."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

import hwfit
from hwfit.bench.priority import RAISED, ahead_of_others, can_raise

pytestmark = pytest.mark.skipif(
    not hasattr(os, "sched_getscheduler"), reason="no real-time scheduling on this OS"
)


def _policies() -> set[int]:
    return {os.sched_getscheduler(int(t.name)) for t in Path("/proc/self/task").iterdir()}


def test_every_thread_runs_real_time_inside_the_block_and_normal_after_it():
    said = can_raise()
    ready, done = threading.Event(), threading.Event()
    worker = threading.Thread(target=lambda: (ready.set(), done.wait(10)), daemon=True)
    worker.start()  # a thread that exists before the block, as a runtime's pool does
    ready.wait(5)
    try:
        with ahead_of_others() as inside:
            policies = _policies()
        assert inside == said
        if said == RAISED:
            assert policies == {os.SCHED_FIFO}
        else:  # no root, no CAP_SYS_NICE: unchanged, and the reason is given
            assert said.startswith("normal (")
            assert policies == {os.SCHED_OTHER}
        assert _policies() == {os.SCHED_OTHER}
    finally:
        done.set()
        worker.join(5)


def test_hwfit_priority_normal_leaves_the_scheduling_alone(monkeypatch):
    monkeypatch.setenv("HWFIT_PRIORITY", "normal")
    with ahead_of_others() as said:
        assert _policies() == {os.SCHED_OTHER}
    assert said == "normal (HWFIT_PRIORITY=normal)"


def test_bench_rows_and_paired_figures_say_the_priority_they_ran_at():
    report = hwfit.bench(
        "timm:test_resnet",
        runtimes=["torch", "onnxruntime"],
        duration_s=0.5,
        min_time_s=0.2,
        save=False,
        async_throughput=False,
    )
    expected = can_raise()
    for row in report.results:
        assert row.priority == expected
    figure = report.results[-1].speedup
    assert figure is not None
    assert figure.priority == expected


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root to drop")
def test_a_user_without_the_right_is_told_why_the_priority_stayed_normal():
    import subprocess
    import sys

    # Imports first (the interpreter may live where nobody cannot read), then become nobody:
    # no CAP_SYS_NICE, RLIMIT_RTPRIO 0.
    probe = (
        "import os; from hwfit.bench.priority import can_raise; os.setuid(65534); "
        "print(can_raise())"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    said = out.stdout.strip()
    assert said.startswith("normal (not permitted")
    assert "CAP_SYS_NICE" in said
