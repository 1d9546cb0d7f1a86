import dataclasses

import pytest
from test_compare import row

from hwfit.analysis.gap import GapSide, gap, gap_steps, gpu_instructions
from hwfit.db import ResultStore
from hwfit.hardware import probe
from hwfit.records import Executed

MODEL = "test_resnet"  # timm's tiny test model: loading it takes a second


def side(device, p50, batch=1, throughput=None):
    return GapSide(device, "torch", "fp32", batch, p50, throughput, "3x160x160", "test", "m")


def test_steps_ratios_and_best_falls_back_to_default():
    defaults, best = gap_steps(side("CPU", 10.0), None, side("GPU", 2.0), side("GPU", 1.0))
    assert defaults.latency_ratio == pytest.approx(5.0)
    assert best.cpu == side("CPU", 10.0)  # nothing beat the default: it is the best
    assert best.latency_ratio == pytest.approx(10.0)
    # Different batches: no latency ratio, throughput still compares.
    big = side("GPU", 100.0, batch=1024, throughput=10240.0)
    (step, _) = gap_steps(side("CPU", 10.0, throughput=100.0), None, big, None)
    assert step.latency_ratio is None
    assert step.throughput_ratio == pytest.approx(102.4)


def test_instructions_name_the_commands():
    lines = gpu_instructions("timm:resnet50", None)
    assert "hwfit bench timm:resnet50 --runtime torch-cuda" in lines[0]
    assert any("hwfit import" in line for line in lines)


def stored_cpu_rows(store, fp):
    for runtime, p50 in (("torch", 4.0), ("openvino", 2.0)):
        r = row(MODEL, p50, fp=fp, runtime=runtime, size=160)
        store.save(dataclasses.replace(r, hwfit_version=None), {"label": "here"})


def test_gap_without_gpu_rows_says_what_to_run(tmp_path):
    db = str(tmp_path / "r.db")
    fp = probe(include_runtimes=False).fingerprint
    with ResultStore(db) as store:
        stored_cpu_rows(store, fp)
    report = gap(f"timm:{MODEL}", db=db, measure=False, out=tmp_path)
    best = report.steps[1]
    assert best.cpu is not None
    assert best.cpu.runtime == "openvino"
    assert best.gpu is None
    assert report.instructions
    assert (tmp_path / "gap.html").is_file()


def test_gap_uses_gpu_rows_from_the_database_and_names_them(tmp_path):
    db = str(tmp_path / "r.db")
    fp = probe(include_runtimes=False).fingerprint
    gpu = Executed(precision="fp16", threads=None, device="GPU")
    with ResultStore(db) as store:
        stored_cpu_rows(store, fp)
        r = row(MODEL, 8.0, fp="timm:rtx4090", runtime="torch-cuda", batch=256, size=160)
        r = dataclasses.replace(r, executed=gpu, throughput=32000.0)
        store.save(dataclasses.replace(r, config=dataclasses.replace(r.config, precision="fp16")),
                   {"label": "rtx4090", "kind": "published"})  # fmt: skip
    report = gap(f"timm:{MODEL}", db=db, measure=False)
    best = report.steps[1]
    assert best.gpu is not None
    assert "rtx4090" in best.gpu.origin
    assert best.throughput_ratio == pytest.approx(32000.0 / 500.0)  # CPU: 1 / 2 ms
    assert report.steps[0].gpu is None  # no PyTorch FP32 GPU row
    assert not report.instructions
