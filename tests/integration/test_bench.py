"""hwfit.bench end to end with real runtimes, worker isolation and the results database."""

import contextlib
import json
from pathlib import Path

import pytest

import hwfit
from hwfit.db import HistoryQuery, ResultStore
from hwfit.errors import DatabaseError
from hwfit.records import RowState
from hwfit.runtimes import RUNTIMES

TINY = "timm:test_resnet"
QUICK = {"duration_s": 0.3, "min_runs": 5}


def _by_runtime(report):
    return {r.config.runtime: r for r in report.results}


def test_bench_three_runtimes_stores_every_row(db_path):
    report = hwfit.bench(TINY, runtimes=["torch", "onnxruntime", "openvino"], db=db_path, **QUICK)
    rows = _by_runtime(report)
    assert [r.state for r in report.results] == [RowState.COMPLETE] * 3, [
        r.reason for r in report.results
    ]
    for r in report.results:
        lat = r.latency
        assert lat.n >= 5
        assert 0 < lat.min_ms <= lat.p50_ms <= lat.p90_ms <= lat.p99_ms <= lat.max_ms
        assert lat.ci_low_ms <= lat.p50_ms <= lat.ci_high_ms
        assert r.throughput == pytest.approx(1000 / lat.p50_ms)
        assert r.compile_s >= 0
        assert r.first_run_ms > 0
        assert r.peak_rss_mb > 50
        assert r.artifact_size_bytes > 1_000_000  # 0.47 M fp32 params
        assert r.executed.threads >= 1
        assert r.runtime_version
        assert r.fingerprint == report.fingerprint
    # On a CPU with BF16 (AVX512-BF16 or AMX) OpenVINO runs "FP32" in BF16 unless forced;
    # on any CPU, fp32 asked must be fp32 read back.
    assert rows["openvino"].executed.precision == "fp32"
    assert rows["openvino"].executed.details["INFERENCE_PRECISION_HINT"] == "f32"
    assert rows["openvino"].async_throughput > 0
    assert report.speedup(rows["torch"]) is None  # the baseline itself
    for name in ("onnxruntime", "openvino"):  # measured paired against the torch row
        figure = report.speedup(rows[name])
        assert figure is not None, rows[name].speedup_reason
        assert 0 < figure.ci_low <= figure.speedup <= figure.ci_high
        assert figure.pairs >= 12
        assert figure.a_ms > 0
        assert figure.b_ms > 0
    assert report.saved == 3
    with ResultStore(db_path) as store:
        stored = store.query(HistoryQuery(model="test_resnet"))
    assert sorted(stored, key=lambda r: r.config.runtime) == sorted(
        report.results, key=lambda r: r.config.runtime
    )


def test_batches_and_threads_are_applied_and_read_back():
    report = hwfit.bench(
        TINY,
        runtimes=["onnxruntime"],
        batches=[1, 2],
        threads=[1, 2],
        save=False,
        async_throughput=False,
        **QUICK,
    )
    got = {(r.config.batch, r.config.threads): r.executed.threads for r in report.results}
    assert got == {(1, 1): 1, (1, 2): 2, (2, 1): 1, (2, 2): 2}
    assert all(r.async_throughput is None for r in report.results)


def test_end_to_end_includes_the_copy_and_is_recorded():
    report = hwfit.bench(TINY, runtimes=["openvino"], end_to_end=True, save=False, **QUICK)
    (row,) = report.results
    assert row.state is RowState.COMPLETE
    assert row.config.end_to_end


def test_onnx_file_skips_torch_and_fixed_batch(onnx_file):
    report = hwfit.bench(
        str(onnx_file),
        runtimes=["torch", "onnxruntime", "openvino"],
        batches=[1, 2],
        save=False,
        async_throughput=False,
        **QUICK,
    )
    states = {
        (r.config.runtime, r.config.batch): (r.state, r.reason or "") for r in report.results
    }
    assert states[("torch", 1)][0] is RowState.SKIPPED
    assert "ONNX file" in states[("torch", 1)][1]
    assert states[("onnxruntime", 1)][0] is RowState.COMPLETE
    assert states[("openvino", 1)][0] is RowState.COMPLETE
    assert states[("onnxruntime", 2)][0] is RowState.SKIPPED
    assert "fixed batch of 1" in states[("onnxruntime", 2)][1]


def test_dynamic_onnx_and_ir_sources_run(dynamic_onnx_file, ir_file):
    report = hwfit.bench(
        str(dynamic_onnx_file),
        input_shape="1x3x64x64",
        runtimes=["onnxruntime", "openvino"],
        batches=[2],
        save=False,
        async_throughput=False,
        **QUICK,
    )
    assert [r.state for r in report.results] == [RowState.COMPLETE] * 2
    ir = hwfit.bench(str(ir_file), runtimes=["openvino", "onnxruntime"], save=False, **QUICK)
    states = _by_runtime(ir)
    assert states["openvino"].state is RowState.COMPLETE
    assert states["onnxruntime"].state is RowState.SKIPPED


@pytest.fixture
def misbehaving():
    names = {
        "test-crash": "misbehaving_runtimes:CrashingRuntime",
        "test-hang": "misbehaving_runtimes:HangingRuntime",
        "test-raise": "misbehaving_runtimes:RaisingRuntime",
    }
    with contextlib.ExitStack() as stack:
        for name, path in names.items():
            stack.enter_context(RUNTIMES.override(name, path))
        yield


def test_a_crashing_or_hanging_runtime_fails_its_row_only(misbehaving, db_path):
    report = hwfit.bench(
        TINY,
        runtimes=["test-crash", "test-hang", "test-raise", "onnxruntime"],
        db=db_path,
        # Room for the healthy row on a loaded machine (imports, compile, contended retries).
        timeout_s=20,
        async_throughput=False,
        **QUICK,
    )
    rows = _by_runtime(report)
    assert rows["test-crash"].state is RowState.FAILED
    assert "SIGSEGV" in rows["test-crash"].reason
    assert rows["test-hang"].state is RowState.FAILED
    assert "timed out after 20 s" in rows["test-hang"].reason
    assert rows["test-raise"].state is RowState.FAILED
    assert "kaboom in the runtime" in rows["test-raise"].reason
    assert rows["onnxruntime"].state is RowState.COMPLETE, rows["onnxruntime"].reason
    assert report.saved == 4  # failures are recorded too


def test_unreachable_database_fails_before_measuring(tmp_path):
    with pytest.raises(DatabaseError) as info:
        hwfit.bench(
            TINY, runtimes=["onnxruntime"], db="postgresql+psycopg://u:secret@127.0.0.1:1/x"
        )
    assert "secret" not in str(info.value)


def test_interrupted_run_keeps_finished_rows(db_path):
    def interrupt_after_first(event):
        if event.result is not None and event.done == 1:
            raise KeyboardInterrupt

    report = hwfit.bench(
        TINY,
        runtimes=["onnxruntime", "openvino"],
        db=db_path,
        progress=interrupt_after_first,
        async_throughput=False,
        **QUICK,
    )
    assert report.interrupted
    assert len(report.results) == 1
    assert report.saved == 1
    with ResultStore(db_path) as store:
        assert store.count() == 1


def test_database_failing_mid_run_writes_results_to_a_file(db_path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    calls = {"n": 0}
    original = ResultStore.save

    def save_then_fail(self, result, profile=None):  # the DB goes away after the first row
        calls["n"] += 1
        if calls["n"] > 1:
            raise DatabaseError("Cannot write to the database: disk I/O error")
        return original(self, result, profile)

    monkeypatch.setattr(ResultStore, "save", save_then_fail)
    report = hwfit.bench(
        TINY, runtimes=["onnxruntime", "openvino"], db=db_path, async_throughput=False, **QUICK
    )
    assert report.saved == 1
    assert "disk I/O" in report.db_error
    saved = json.loads(Path(report.fallback_path).read_text())
    assert saved["format"] == "hwfit-results"  # an `hwfit import` file (tests/integration/
    # test_fallback.py fails a real database and imports it back)
    assert [r["config"]["runtime"] for r in saved["results"]] == ["openvino"]  # only the unsaved
