"""CUDA paths: run only where a CUDA device exists (marked gpu; skipped elsewhere)."""

import pytest

import hwfit
from hwfit.records import RowState

pytestmark = pytest.mark.gpu


@pytest.mark.parametrize("runtime", ["torch-cuda", "onnxruntime-cuda"])
def test_gpu_runtime_measures_on_the_gpu(runtime):
    from hwfit.runtimes import get_runtime

    available = get_runtime(runtime).probe()
    if not available.ok:  # e.g. the CPU build of onnxruntime next to a GPU
        pytest.skip(f"{runtime}: {available.reason}")
    report = hwfit.bench(
        "timm:test_resnet", runtimes=[runtime, "torch"], duration_s=0.5, min_runs=5, save=False
    )
    rows = {r.config.runtime: r for r in report.results}
    assert rows[runtime].state is RowState.COMPLETE, rows[runtime].reason
    assert rows[runtime].executed.device == "GPU"
    assert report.speedup(rows[runtime]) is not None


def test_torch_cuda_says_when_fp32_convolutions_run_in_tf32():
    import torch

    rows = {}
    for precision in ("fp32", "bf16"):
        report = hwfit.bench(
            "timm:test_resnet",
            runtimes=["torch-cuda"],
            precision=precision,
            duration_s=0.3,
            min_runs=3,
            save=False,
        )
        (rows[precision],) = report.results
    assert all(r.state is RowState.COMPLETE for r in rows.values()), rows
    tf32 = torch.backends.cudnn.allow_tf32 and torch.cuda.get_device_capability(0)[0] >= 8
    assert ("conv TF32" in rows["fp32"].executed.precision) == tf32
    assert "TF32" not in rows["bf16"].executed.precision  # BF16 weights: no FP32 convolution


def test_gap_measures_both_devices_here(tmp_path):
    report = hwfit.gap(
        "timm:test_resnet", db=str(tmp_path / "gap.sqlite"), duration_s=0.3, out=tmp_path
    )
    assert report.gpu_here
    for step in report.steps:
        assert step.cpu is not None
        assert step.gpu is not None
        assert step.gpu.origin == "measured here"
        assert step.latency_ratio is not None
        assert step.latency_ratio > 0
    assert (tmp_path / "gap.html").exists()
