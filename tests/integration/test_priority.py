"""The measuring worker's CPU priority: raised where the system allows it, said either way."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import hwfit

PROBE = (
    "import json, os; from hwfit.bench.priority import raise_priority; "
    "said = raise_priority(); print(json.dumps([said, os.getpriority(os.PRIO_PROCESS, 0)]))"
)


def _run(env: dict[str, str]) -> tuple[str, int]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, env=env
    )
    said, nice = json.loads(out.stdout)
    return said, nice


@pytest.mark.skipif(not hasattr(os, "getpriority"), reason="no nice values on this OS")
def test_raise_priority_sets_nice_minus_20_or_says_why_not():
    said, nice = _run(dict(os.environ))
    if said == "raised":
        assert nice == -20
    else:  # no root, no CAP_SYS_NICE: unchanged, and the reason is given
        assert said.startswith("normal (not permitted")
        assert "CAP_SYS_NICE" in said
        assert nice == os.getpriority(os.PRIO_PROCESS, 0)


@pytest.mark.skipif(not hasattr(os, "getpriority"), reason="no nice values on this OS")
def test_hwfit_priority_normal_leaves_the_priority_alone():
    said, nice = _run({**os.environ, "HWFIT_PRIORITY": "normal"})
    assert said == "normal"
    assert nice == os.getpriority(os.PRIO_PROCESS, 0)


def test_bench_rows_and_paired_figures_say_the_priority_they_ran_at():
    report = hwfit.bench(
        "timm:test_resnet",
        runtimes=["torch", "onnxruntime"],
        duration_s=0.5,
        min_time_s=0.2,
        save=False,
        async_throughput=False,
    )
    for row in report.results:
        assert row.priority is not None
        assert row.priority == "raised" or row.priority.startswith("normal")
    figure = report.results[-1].speedup
    assert figure is not None
    assert figure.priority == report.results[-1].priority
