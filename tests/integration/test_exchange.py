"""Result exchange against real SQLite files: export, import, timm's tables, idempotence."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from hwfit.db import HistoryQuery, ResultStore
from hwfit.db.exchange import (
    FORMAT,
    VERSION,
    export_results,
    import_results,
    result_key,
)
from hwfit.errors import UserError
from hwfit.records import (
    BenchResult,
    Executed,
    InputSpec,
    LatencyStats,
    ModelInfo,
    RowState,
    RunConfig,
    machine_name,
)

SHARED = Path("/work/shared/data/timm-results")
I9_TABLE = "benchmark-infer-fp32-nchw-pt240-cpu-i9_10940x-dynamo.csv"
TIMM_HEADER = (
    "model,infer_img_size,infer_samples_per_sec,infer_step_time,infer_batch_size,"
    "param_count,infer_gmacs,infer_macts"
)
PROFILE_A = {"cpu": {"brand": "Test CPU A", "physical_cores": 8}, "memory_bytes": 1 << 34}
PROFILE_B = {"cpu": {"brand": "Test CPU B", "physical_cores": 2}, "memory_bytes": 1 << 33}


def make_result(
    source: str = "timm:resnet18",
    runtime: str = "onnxruntime",
    p50: float = 10.0,
    fingerprint: str | None = "fp-a",
    created_at: str = "2026-01-02T03:04:05+00:00",
    state: RowState = RowState.COMPLETE,
) -> BenchResult:
    measured = state.measured
    return BenchResult(
        model=ModelInfo(
            source=source,
            kind="torch",
            content_hash="sha256:abc",
            input=InputSpec("input", (1, 3, 224, 224)),
            params=11_689_512,
            macs=1_814_073_856,
        ),
        config=RunConfig(runtime=runtime, batch=1, threads=2),
        state=state,
        reason=None if measured else "no such device here",
        runtime_version="1.0",
        executed=Executed("fp32", 2, details={"k": "v"}) if measured else None,
        latency=LatencyStats(
            n=50,
            p50_ms=p50,
            p90_ms=p50 * 1.1,
            p99_ms=p50 * 1.2,
            mean_ms=p50,
            std_ms=0.3,
            min_ms=p50 * 0.9,
            max_ms=p50 * 1.3,
            ci_low_ms=p50 * 0.99,
            ci_high_ms=p50 * 1.01,
            ci_rel=0.01,
            warmup_runs=3,
            timed_s=2.5,
            noise=("cpu frequency changed",),
        )
        if measured
        else None,
        throughput=1000 / p50 if measured else None,
        fingerprint=fingerprint,
        hwfit_version="0.1.0",
        created_at=created_at,
    )


@pytest.fixture
def source_store(tmp_path: Path):
    with ResultStore(str(tmp_path / "source.db")) as store:
        store.save(make_result(p50=10.0, created_at="2026-01-01T00:00:00+00:00"), PROFILE_A)
        store.save(
            make_result(runtime="openvino", p50=8.0, created_at="2026-01-02T00:00:00+00:00")
        )
        store.save(
            make_result(
                source="timm:mobilenetv3_small_100",
                runtime="torch",
                fingerprint="fp-b",
                created_at="2026-01-03T00:00:00+00:00",
            ),
            PROFILE_B,
        )
        store.save(
            make_result(
                runtime="onnxruntime-cuda",
                state=RowState.SKIPPED,
                created_at="2026-01-04T00:00:00+00:00",
            )
        )
        store.save_machine("fp-unused", {"cpu": {"brand": "Not exported"}})
        yield store


@pytest.fixture
def target_store(tmp_path: Path):
    with ResultStore(str(tmp_path / "target.db")) as store:
        yield store


def _timm_table(folder: Path, name: str, rows: list[str], header: str = TIMM_HEADER) -> Path:
    path = folder / name
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def test_export_writes_versioned_file_with_only_the_used_machines(source_store, tmp_path):
    path = tmp_path / "out" / "results.json"
    path.parent.mkdir()
    assert export_results(source_store, path) == 4
    document = json.loads(path.read_text())
    assert document["format"] == FORMAT == "hwfit-results"
    assert document["version"] == VERSION == 1
    assert set(document["machines"]) == {"fp-a", "fp-b"}
    assert document["machines"]["fp-a"] == PROFILE_A
    created = [r["created_at"] for r in document["results"]]
    assert created == sorted(created)  # oldest first
    assert [p.name for p in path.parent.iterdir()] == ["results.json"]  # no temporary left


def test_export_import_round_trip_then_reimport_adds_nothing(source_store, target_store, tmp_path):
    path = tmp_path / "results.json"
    export_results(source_store, path)

    first = import_results(target_store, path)
    assert (first.kind, first.added, first.duplicates) == ("hwfit-results", 4, 0)
    assert (first.machines, first.new_machines) == (2, 2)
    assert target_store.query() == source_store.query()
    assert dict(target_store.machines()) == {"fp-a": PROFILE_A, "fp-b": PROFILE_B}

    again = import_results(target_store, path)
    assert (again.added, again.duplicates, again.new_machines) == (0, 4, 0)
    assert target_store.count() == 4
    assert "Imported 0 rows" in again.line
    assert "4 duplicates skipped" in again.line


def test_export_applies_the_history_filters(source_store, tmp_path):
    path = tmp_path / "ov.json"
    assert export_results(source_store, path, HistoryQuery(runtime="openvino")) == 1
    document = json.loads(path.read_text())
    assert [r["config"]["runtime"] for r in document["results"]] == ["openvino"]
    assert set(document["machines"]) == {"fp-a"}


def test_import_skips_rows_already_measured_and_keeps_a_stored_profile(
    source_store, target_store, tmp_path
):
    richer = {**PROFILE_A, "os": "Linux"}
    target_store.save(make_result(p50=10.0, created_at="2026-01-01T00:00:00+00:00"), richer)
    path = tmp_path / "results.json"
    export_results(source_store, path)
    summary = import_results(target_store, path)
    assert (summary.added, summary.duplicates, summary.new_machines) == (3, 1, 1)
    assert dict(target_store.machines())["fp-a"] == richer


def test_result_key_ignores_when_and_by_which_hwfit_but_not_what_was_measured():
    row = make_result()
    assert result_key(row) == result_key(
        dataclasses.replace(row, created_at="2030-01-01T00:00:00+00:00", hwfit_version="9.9")
    )
    assert result_key(row) != result_key(make_result(p50=10.001))
    assert result_key(row) != result_key(make_result(fingerprint="fp-b"))


def test_timm_cpu_table_becomes_complete_torch_compile_rows(target_store, tmp_path):
    path = _timm_table(
        tmp_path,
        I9_TABLE,
        [
            "resnet50,224,67.2,14.865,1,25.56,4.11,11.11",
            "resnet50.a1_in1k,288,55.91,17.869,1,25.56,6.8,18.37",
            "mobilenetv3_large_150d,224,92.84,10.756,1,14.62,,",
            'eva_giant_patch14_560,560,0.5,2000.0,1,"1,014.45",,',
        ],
    )
    summary = import_results(target_store, path, origin="huggingface/pytorch-image-models@aa4b585")
    assert (summary.kind, summary.added, summary.machines, summary.new_machines) == (
        "timm-benchmark",
        4,
        1,
        1,
    )
    rows = {
        (r.model.source, r.model.input.shape[-1]): r
        for r in target_store.query(HistoryQuery(fingerprint="timm:i9_10940x"))
    }
    resnet = rows[("timm:resnet50", 224)]
    assert resnet.state is RowState.COMPLETE
    assert resnet.config.runtime == "torch-compile"
    assert (resnet.config.precision, resnet.executed.precision) == ("fp32", "fp32")
    assert resnet.config.batch == 1
    assert resnet.model.input.shape == (1, 3, 224, 224)
    assert resnet.p50_ms == resnet.latency.mean_ms == 14.865
    assert resnet.throughput == 67.2
    assert (resnet.model.params, resnet.model.macs) == (25_560_000, 4_110_000_000)
    assert resnet.runtime_version == "2.4.0"
    assert resnet.executed.device == "CPU"
    assert resnet.executed.details["file"] == I9_TABLE
    assert ("timm:resnet50", 288) in rows  # the weight tag is stripped
    assert rows[("timm:mobilenetv3_large_150d", 224)].model.macs is None
    assert rows[("timm:eva_giant_patch14_560", 560)].model.params == 1_014_450_000

    machines = dict(target_store.machines())
    profile = machines["timm:i9_10940x"]
    assert profile["kind"] == "published"
    assert profile["device"] == "cpu"
    assert profile["cpu"]["brand"] == "Intel Core i9-10940X"
    assert profile["origin"] == "huggingface/pytorch-image-models@aa4b585"
    assert machine_name("timm:i9_10940x", profile) == "Intel Core i9-10940X (timm table)"

    again = import_results(target_store, path)
    assert (again.added, again.duplicates) == (0, 4)


def test_timm_gpu_amp_table_becomes_fp16_torch_cuda_rows(target_store, tmp_path):
    path = _timm_table(
        tmp_path,
        "benchmark-infer-amp-nchw-pt240-cu124-rtx4090.csv",
        ["resnet50,224,3090.5,82.83,256,25.56,4.11,11.11"],
    )
    import_results(target_store, path)
    (row,) = target_store.query()
    assert row.config.runtime == "torch-cuda"
    assert row.config.precision == row.executed.precision == "fp16"
    assert row.config.batch == 256
    assert row.p50_ms == 82.83  # one batch step, as hwfit's own rows at batch 256
    assert row.executed.device == "GPU"
    assert row.executed.details["cuda"] == "12.4"
    assert row.fingerprint == "timm:rtx4090"
    profile = dict(target_store.machines())["timm:rtx4090"]
    assert profile["gpus"] == [{"name": "NVIDIA GeForce RTX 4090"}]
    assert profile["cpu"] is None


def test_timm_table_eager_cpu_machine_label_and_error_rows(target_store, tmp_path):
    path = _timm_table(
        tmp_path,
        "benchmark-infer-fp32-nchw-pt2100-cpu-mybox.csv",
        [
            "resnet18,224,126.23,7.907,1,11.69,1.82,2.48,",
            "broken_net,224,,,1,,,,RuntimeError: out of memory",
        ],
        header=TIMM_HEADER + ",error",
    )
    summary = import_results(target_store, path, machine_label="lab-server-3")
    assert summary.added == 2
    rows = {r.model.source: r for r in target_store.query()}
    assert rows["timm:resnet18"].config.runtime == "torch"
    assert rows["timm:resnet18"].runtime_version == "2.10.0"
    assert rows["timm:resnet18"].fingerprint == "timm:lab-server-3"
    failed = rows["timm:broken_net"]
    assert failed.state is RowState.FAILED
    assert failed.reason == "RuntimeError: out of memory"
    assert failed.latency is None


@pytest.mark.skipif(not (SHARED / I9_TABLE).is_file(), reason="timm's published tables are absent")
def test_timm_published_table_imports_every_row_once(target_store):
    summary = import_results(target_store, SHARED / I9_TABLE)
    assert summary.added == 1435
    rows = [
        r
        for r in target_store.query(HistoryQuery(model="timm:resnet50"))
        if r.model.source == "timm:resnet50" and r.model.input.shape[-1] == 224
    ]
    assert len(rows) == 1
    assert (rows[0].p50_ms, rows[0].throughput) == (14.865, 67.2)
    assert import_results(target_store, SHARED / I9_TABLE).added == 0


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("notes.txt", "hello,world\n1,2\n", "Cannot tell what 'notes.txt' holds"),
        ("bad.json", "{not json", "'bad.json' is not valid JSON"),
        ("other.json", '{"format": "something"}', "'other.json' is JSON but not an hwfit"),
        (
            "future.json",
            '{"format": "hwfit-results", "version": 2, "machines": {}, "results": []}',
            "'future.json' has exchange version 2",
        ),
        (
            "broken.json",
            '{"format": "hwfit-results", "version": 1, "machines": {}, "results": [{"x": 1}]}',
            "'broken.json': result 0 is malformed",
        ),
        (
            "nolist.json",
            '{"format": "hwfit-results", "version": 1, "machines": {}}',
            "'nolist.json' lacks",
        ),
        ("benchmark-timm-renamed.csv", TIMM_HEADER + "\nr,224,1,1,1,1,1,1\n", "Cannot tell the"),
        (
            "benchmark-infer-int4-nchw-pt240-cpu-x.csv",
            TIMM_HEADER + "\nr,224,1,1,1,1,1,1\n",
            "Unknown precision 'int4'",
        ),
        (
            I9_TABLE,
            TIMM_HEADER + "\nr,224,1,1,1,1,1,1\nq,224,fast,1,1,1,1,1\n",
            f"The infer_samples_per_sec 'fast' in '{I9_TABLE}' line 3 is not a number.",
        ),
        (I9_TABLE, TIMM_HEADER + "\nr,0,1,1,1,1,1,1\n", "The infer_img_size '0' in"),
        (I9_TABLE, TIMM_HEADER + "\n", f"The timm table '{I9_TABLE}' has no rows."),
    ],
    ids=[
        "unknown-kind",
        "bad-json",
        "json-other-format",
        "newer-version",
        "malformed-result",
        "no-results",
        "timm-unknown-name",
        "timm-precision",
        "timm-bad-number",
        "timm-zero-size",
        "timm-empty",
    ],
)
def test_bad_files_raise_one_line_user_errors(target_store, tmp_path, name, text, message):
    with pytest.raises(UserError) as info:
        import_results(target_store, _write(tmp_path / name, text))
    assert info.value.message.startswith(message), info.value.message
    assert "\n" not in str(info.value)
    assert info.value.hint
    assert target_store.count() == 0


def test_missing_file_machine_label_on_hwfit_file_and_unwritable_export(
    source_store, target_store, tmp_path
):
    with pytest.raises(UserError, match="not found"):
        import_results(target_store, tmp_path / "missing.json")
    path = tmp_path / "results.json"
    export_results(source_store, path)
    with pytest.raises(UserError, match="--machine-label applies to timm benchmark tables"):
        import_results(target_store, path, machine_label="x")
    with pytest.raises(UserError, match="does not exist"):
        export_results(source_store, tmp_path / "no" / "such" / "folder.json")


def _exported_with(source_store, tmp_path: Path, index: int, change) -> Path:
    """An export of ``source_store`` whose result ``index`` is edited by ``change(record)``."""
    path = tmp_path / "edited.json"
    export_results(source_store, path)
    document = json.loads(path.read_text())
    change(document["results"][index])
    path.write_text(json.dumps(document))
    return path


def _set(field: str, value):
    """An edit that sets the dotted ``field`` of a record to ``value``."""

    def change(record: dict) -> None:
        *outer, last = field.split(".")
        for key in outer:
            record = record[key]
        record[last] = value

    return change


@pytest.mark.parametrize(
    ("change", "message", "hint"),
    [
        (
            _set("model.path", "../evil.pt2"),
            "'edited.json': result 1, model.path: '../evil.pt2' is a relative path.",
            "resolved",
        ),
        (
            _set("model.path", "/models/../../etc/evil.pt2"),
            "'edited.json': result 1, model.path: '/models/../../etc/evil.pt2' holds a '..' or",
            "resolved",
        ),
        (
            _set("model.weights", "C:\\models\\..\\evil.pth"),
            "'edited.json': result 1, model.weights: 'C:\\\\models\\\\..\\\\evil.pth' holds a",
            "resolved",
        ),
        (
            _set("model.weights", "weights/w.pth"),
            "'edited.json': result 1, model.weights: 'weights/w.pth' is a relative path.",
            "resolved",
        ),
        (
            _set("config.runtime", "onnxrt"),
            "'edited.json': result 1, config.runtime: unknown runtime 'onnxrt'. Did you mean "
            "'onnxruntime'",
            "Known: onnxruntime, onnxruntime-cuda, onnxruntime-tensorrt, openvino,",
        ),
        (
            _set("config.precision", "int9"),
            "'edited.json': result 1, config.precision: unknown precision 'int9'. Did you mean "
            "'int8'",
            "Known: bf16, fp16, fp32, int8, int8-dynamic, int8-mixed, int8-selective.",
        ),
        (
            _set("model.kind", "pickle"),
            "'edited.json': result 1, model.kind: unknown model kind 'pickle'.",
            "Known: onnx, openvino, torch.",
        ),
        (
            _set("model.source", "timm:resnet18\x1b]0;owned\x07"),
            "'edited.json': result 1, model.source: 'timm:resnet18\\x1b]0;owned\\x07' holds a "
            "control character.",
            "no control characters",
        ),
        (
            _set("executed.details.k", "\x1b[2J"),
            "'edited.json': result 1, executed.details.k: '\\x1b[2J' holds a control character.",
            "no control characters",
        ),
    ],
    ids=[
        "relative-dotdot-path",
        "absolute-dotdot-path",
        "windows-dotdot-weights",
        "relative-weights",
        "unknown-runtime",
        "unknown-precision",
        "unknown-kind",
        "escape-in-source",
        "escape-in-details",
    ],
)
def test_import_refuses_values_hwfit_never_writes(
    source_store, target_store, tmp_path, change, message, hint
):
    path = _exported_with(source_store, tmp_path, 1, change)

    with pytest.raises(UserError) as info:
        import_results(target_store, path)

    assert info.value.message.startswith(message), info.value.message
    assert hint in info.value.hint
    assert "\n" not in str(info.value)
    assert target_store.count() == 0  # nothing of the file is stored


def test_import_refuses_a_control_character_in_a_machine(source_store, target_store, tmp_path):
    path = tmp_path / "machines.json"
    export_results(source_store, path)
    document = json.loads(path.read_text())
    document["machines"]["fp-a"]["cpu"]["brand"] = "Evil\x1b[31m CPU"
    path.write_text(json.dumps(document))

    with pytest.raises(UserError, match=r"machine 'fp-a', profile.cpu.brand: 'Evil\\x1b"):
        import_results(target_store, path)
    assert target_store.count() == 0


def test_import_keeps_paths_and_names_hwfit_writes(source_store, target_store, tmp_path):
    changes = [
        _set("model.path", "/data/models/m.onnx"),
        _set("model.weights", "C:\\Users\\me\\w.pth"),  # measured on a Windows machine
        _set("model.source", "../models/m.onnx"),  # the spec as typed: relative is fine
        _set("config.runtime", "onnxruntime-tensorrt"),
        _set("config.precision", "int8-mixed"),
        _set("reason", "line one\nline two\tand a tab"),
    ]

    def change(record: dict) -> None:
        for one in changes:
            one(record)

    path = _exported_with(source_store, tmp_path, 1, change)

    summary = import_results(target_store, path)

    assert summary.added == 4
    (row,) = target_store.query(HistoryQuery(runtime="onnxruntime-tensorrt"))
    assert (row.model.path, row.model.weights) == ("/data/models/m.onnx", "C:\\Users\\me\\w.pth")
    assert (row.model.source, row.config.precision) == ("../models/m.onnx", "int8-mixed")
