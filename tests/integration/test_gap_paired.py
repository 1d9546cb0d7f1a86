"""The gap is measured paired when both sides are this machine's, and says so when not."""

from __future__ import annotations

import dataclasses

import pytest

import hwfit
from hwfit.analysis.gap import GapStep, _paired_step, side_of


@pytest.fixture(scope="module")
def rows():
    """Two real rows of this machine (torch and ONNX Runtime), measured once for both tests."""
    report = hwfit.bench(
        "timm:test_resnet",
        runtimes=["torch", "onnxruntime"],
        duration_s=0.5,
        min_time_s=0.2,
        save=False,
        async_throughput=False,
    )
    rows = {r.config.runtime: r for r in report.results}
    return report.fingerprint, rows["torch"], rows["onnxruntime"]


def test_a_step_of_two_sides_of_this_machine_gets_a_paired_gap(rows):
    fingerprint, slow, fast = rows
    # A stand-in for the GPU side: any second configuration of this machine is paired the same.
    step = GapStep("defaults", side_of(slow, "measured here", "here"), side_of(fast, "x", "here"))
    paired = _paired_step(step, fingerprint, timeout_s=300, duration_s=1.0)
    assert paired.paired is not None, paired.paired_note
    assert paired.latency_ratio == paired.paired.speedup
    assert paired.paired.ci_low <= paired.latency_ratio <= paired.paired.ci_high
    assert paired.to_dict()["latency_ratio_paired"]["pairs"] >= 12
    assert "row" not in paired.to_dict()["cpu"]


def test_a_side_from_another_machine_is_not_paired_and_says_so(rows):
    fingerprint, slow, fast = rows
    elsewhere = dataclasses.replace(fast, fingerprint="another-machine")
    step = GapStep("best", side_of(slow, "measured here", "here"), side_of(elsewhere, "db", "gpu"))
    unpaired = _paired_step(step, fingerprint, timeout_s=300, duration_s=1.0)
    assert unpaired.paired is None
    assert "different machines" in unpaired.paired_note
    assert unpaired.latency_ratio == slow.p50_ms / fast.p50_ms
