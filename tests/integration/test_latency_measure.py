"""Real latency measurements on the target: OpenVINO INT8, ONNX Runtime FP32, cache, failures."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch
from torch import nn

from hwfit.errors import InputShapeError
from hwfit.nas.latency import LatencyCache, LatencyMeasurer, measure
from hwfit.nas.target import Target

SHAPE = (1, 3, 32, 32)
QUICK = 0.2  # seconds of timed loop: enough for sane numbers, not for precise ones


def tiny_cnn() -> nn.Module:
    """Stem, one inverted residual (1x1 expand, 3x3 depthwise, 1x1 project), classifier."""
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, stride=2, padding=1),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        nn.Conv2d(16, 64, 1),
        nn.ReLU(),
        nn.Conv2d(64, 64, 3, padding=1, groups=64),
        nn.ReLU(),
        nn.Conv2d(64, 24, 1),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(24, 10),
    ).eval()


class Exploding(nn.Module):
    """A model whose forward pass raises: it can be neither exported nor measured."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("this candidate is broken")


def _sane(m, precision: str) -> None:
    assert m.ok, m.reason
    assert 0.001 < m.p50_ms < 100.0
    assert m.quiet_ms > 0.001
    if math.isnan(m.ratio):  # no reference: the quiet latency
        assert m.quiet_ms <= m.p50_ms * 1.05  # the quietest window, not a slower one
        assert m.latency_ms == m.quiet_ms
    else:  # the ratio times the reference's quiet latency, measured at another time
        assert m.latency_ms == pytest.approx(m.ratio * m.reference_ms)
        assert m.quiet_ms == pytest.approx(m.ratio * m.reference_ms)
    assert 0 <= m.contention <= 1 or (math.isnan(m.contention) and not m.contended)
    assert 0 <= m.ci_rel < 1.0
    assert m.runs >= 10
    assert m.executed_precision.startswith(precision)
    assert m.seconds > 0
    assert not m.cached


def test_measure_openvino_int8_in_a_worker_then_from_the_cache(tmp_path, db_path):
    target = Target("openvino", "int8")
    first = measure(
        tiny_cnn(), SHAPE, target, duration_s=QUICK, workdir=tmp_path, key="tiny", db=db_path
    )
    _sane(first, "int8")
    with LatencyCache(db_path, target=target) as cache:  # stored in the results database
        assert cache.get("tiny") == dataclasses.replace(first, cached=True)
    assert not (tmp_path / "latency" / "tiny").exists()  # temporary model files are removed

    # A cache hit does not measure: even a model that cannot be exported gets the cached number.
    again = measure(
        Exploding(), SHAPE, target, duration_s=QUICK, workdir=tmp_path, key="tiny", db=db_path
    )
    assert again.cached
    assert again.p50_ms == first.p50_ms
    assert again.executed_precision == first.executed_precision


def test_measure_onnxruntime_fp32_in_process(tmp_path, db_path):
    with LatencyMeasurer(
        Target("onnxruntime", "fp32"), tmp_path, db=db_path, duration_s=QUICK, isolate=False
    ) as measurer:
        small = measurer.measure(tiny_cnn(), SHAPE, key="small")
        large = measurer.measure(tiny_cnn(), (1, 3, 160, 160), key="large")
        _sane(small, "fp32")
        _sane(large, "fp32")
        assert large.p50_ms > small.p50_ms  # nine times the pixels
        cache = measurer.cache
        fingerprint = measurer.fingerprint
    assert cache is not None
    with LatencyCache(
        db_path, target=Target("onnxruntime", "fp32"), fingerprint=fingerprint, threads=1
    ) as one_thread:
        assert one_thread.get("small") is None  # other thread counts are kept apart
    assert [m.arch_key for m in cache.measurements()] == ["small", "large"]
    # Another target (or machine) does not see these entries.
    with LatencyCache(db_path, target=Target(), fingerprint="x") as other:
        assert other.get("small") is None
        assert len(other) == 0


def test_a_model_that_cannot_be_exported_gives_a_failed_measurement(tmp_path, db_path):
    with LatencyMeasurer(
        Target("onnxruntime", "fp32"), tmp_path, db=db_path, duration_s=QUICK, isolate=False
    ) as measurer:
        failed = measurer.measure(Exploding(), SHAPE, key="broken")
        assert not failed.ok
        assert failed.failed
        assert "export failed" in failed.reason
        assert "this candidate is broken" in failed.reason
        assert math.isnan(failed.p50_ms)
        cached = measurer.measure(Exploding(), SHAPE, key="broken")  # not tried twice
        assert cached.cached
        assert cached.reason == failed.reason
        with pytest.raises(InputShapeError, match="Calibration samples"):
            measurer.measure(
                tiny_cnn(), SHAPE, key="x", calibration=np.zeros((4, 3, 16, 16), np.float32)
            )


def test_a_crash_in_the_worker_fails_one_measurement_and_the_next_one_runs(
    tmp_path, db_path, monkeypatch
):
    from hwfit.precisions import RECIPES

    # crashing_recipe.py (next to this file) kills its process with SIGSEGV in prepare().
    crashing = RECIPES.override("onnxruntime:int8", "crashing_recipe:CrashingInt8Recipe")
    with LatencyMeasurer(
        Target("onnxruntime", "int8"), tmp_path, db=db_path, duration_s=QUICK
    ) as measurer:
        with crashing:
            crashed = measurer.measure(tiny_cnn(), SHAPE, key="crash")
        assert not crashed.ok
        assert "SIGSEGV" in crashed.reason
        # the real recipe again; a fresh worker takes the next job
        calibration = np.random.default_rng(1).standard_normal((20, 3, 32, 32))
        measured = measurer.measure(tiny_cnn(), SHAPE, key="fine", calibration=calibration)
    _sane(measured, "int8")


def test_an_old_latency_sqlite_in_the_work_folder_is_not_read(tmp_path, db_path, caplog):
    """Caches of the earlier method are not mixed with new figures; new ones go to the DB."""
    import sqlite3

    from hwfit.hardware import probe
    from hwfit.nas.latency.measure import LatencyMeasurement

    fingerprint = probe(include_runtimes=False).fingerprint
    old = tmp_path / "latency.sqlite"
    with sqlite3.connect(old) as db:  # the schema of the sqlite3 cache
        db.execute(
            "CREATE TABLE latency (arch_key TEXT NOT NULL, target TEXT NOT NULL, "
            "fingerprint TEXT NOT NULL, p50_ms REAL, ci_rel REAL, runs INTEGER NOT NULL, "
            "executed_precision TEXT NOT NULL, seconds REAL NOT NULL, reason TEXT, "
            "created_at TEXT NOT NULL, PRIMARY KEY (arch_key, target, fingerprint))"
        )
        db.execute(
            "INSERT INTO latency VALUES ('old', 'openvino:int8:bs1:cpu', ?, 0.5, 0.01, 10, "
            "'int8', 1.0, NULL, '2026-01-01T00:00:00')",
            (fingerprint,),
        )
    db.close()
    with caplog.at_level("WARNING", logger="hwfit.nas.latency.measure"):
        measurer = LatencyMeasurer(Target(), tmp_path, db=db_path, isolate=False)
    with measurer:
        assert "latency.sqlite is not read" in caplog.text
        cache = measurer.cache
        assert cache is not None
        assert cache.get("old") is None
        assert cache.measurements() == []
        new = LatencyMeasurement("new", 0.5, 0.01, 10, "int8", 1.0, quiet_ms=0.4, contention=0.02)
        cache.put(new)
        got = cache.get("new")
        assert got is not None
        assert (got.quiet_ms, got.contention, got.contended) == (0.4, 0.02, False)
        busy = LatencyMeasurement("busy", 5.0, 0.01, 10, "int8", 1.0, quiet_ms=4.0, contention=0.5)
        cache.put(busy)
        assert cache.get("busy").contended


def test_measurements_paired_with_a_reference_are_ratios_to_it(tmp_path, db_path):
    """The reference against itself is ~1x; a model with 25x the pixels is several times it.

    (9x the pixels gave only 1.9x with OpenVINO INT8 on an AMX Xeon: a call's fixed cost
    weighs that much there.)
    """
    from hwfit.nas.latency import Reference

    reference = Reference(tiny_cnn(), SHAPE, "ref")
    target = Target("openvino", "int8")
    with LatencyMeasurer(
        target, tmp_path, db=db_path, duration_s=0.5, reference=reference
    ) as measurer:
        itself = measurer.measure(tiny_cnn(), SHAPE, key="ref")
        large = measurer.measure(tiny_cnn(), (1, 3, 160, 160), key="large")
        scale = measurer.reference_ms
    _sane(itself, "int8")
    _sane(large, "int8")
    assert 0.7 < itself.ratio < 1.4
    assert large.ratio > 2.0
    assert scale > 0
    assert large.reference_ms == scale
    assert large.latency_ms == pytest.approx(large.ratio * scale)
    # A new measurer on the same cache reuses the stored scale: ratios stay comparable.
    with LatencyMeasurer(
        target, tmp_path, db=db_path, duration_s=0.5, reference=reference
    ) as again:
        again.measure(tiny_cnn(), (1, 3, 64, 64), key="mid")
        assert again.reference_ms == scale
    # Relative measurements are kept apart from absolute ones.
    with LatencyCache(db_path, target=target) as absolute:
        assert absolute.get("large") is None
