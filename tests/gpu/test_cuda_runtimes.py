"""CUDA paths: run only where a CUDA device exists (marked gpu; skipped elsewhere)."""

import pytest

import hwfit
from hwfit.records import RowState

pytestmark = pytest.mark.gpu


@pytest.mark.parametrize("runtime", ["torch-cuda", "onnxruntime-cuda"])
def test_gpu_runtime_measures_on_the_gpu(runtime):
    report = hwfit.bench(
        "timm:test_resnet", runtimes=[runtime, "torch"], duration_s=0.5, min_runs=5, save=False
    )
    rows = {r.config.runtime: r for r in report.results}
    assert rows[runtime].state is RowState.COMPLETE, rows[runtime].reason
    assert rows[runtime].executed.device == "GPU"
    assert report.speedup(rows[runtime]) is not None
