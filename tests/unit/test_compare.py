import pytest

from hwfit.analysis.compare import MachineResults, compare, compare_results
from hwfit.db import ResultStore
from hwfit.errors import UserError
from hwfit.records import BenchResult, InputSpec, LatencyStats, ModelInfo, RowState, RunConfig


def row(model, p50, *, fp="a", runtime="openvino", ci=0.01, batch=1, size=224, state="complete"):
    lat = LatencyStats(
        n=50, p50_ms=p50, p90_ms=p50, p99_ms=p50, mean_ms=p50, std_ms=0.0, min_ms=p50,
        max_ms=p50, ci_low_ms=p50 * (1 - ci), ci_high_ms=p50 * (1 + ci), ci_rel=ci,
        warmup_runs=1, timed_s=1.0,
    )  # fmt: skip
    return BenchResult(
        model=ModelInfo(f"timm:{model}", "torch", model, InputSpec("x", (batch, 3, size, size))),
        config=RunConfig(runtime=runtime, batch=batch),
        state=RowState(state),
        latency=lat if state == "complete" else None,
        fingerprint=fp,
        created_at="2025-01-01T00:00:00+00:00",
    )


def machine(fp, rows):
    return MachineResults(fp, fp.upper(), "test", {}, tuple(rows))


def test_flip_found_and_ratio_side_by_side():
    a = machine("a", [row("m1", 10.0), row("m2", 20.0), row("m3", 30.0)])
    b = machine("b", [row("m1", 30.0, fp="b"), row("m2", 20.0, fp="b"), row("m3", 40.0, fp="b")])
    report = compare_results([a, b])
    assert [r.name for r in report.rows] == ["m1 @224", "m2 @224", "m3 @224"]
    assert report.rows[0].ratio(1) == pytest.approx(3.0)
    pairs = {(f.a.name, f.b.name, f.x, f.y) for f in report.flips}
    # m1 beats m2 on A (by 100%) and loses on B (by 50%); m1 beats m3 on both machines.
    assert pairs == {("m1 @224", "m2 @224", 0, 1)}
    strongest = report.flips[0]
    assert (strongest.gain_x, strongest.gain_y) == pytest.approx((1.0, 0.5))


def test_differences_within_margin_or_noise_are_ties():
    a = machine("a", [row("m1", 10.0), row("m2", 10.4)])
    b = machine("b", [row("m1", 10.4, fp="b"), row("m2", 10.0, fp="b")])
    assert compare_results([a, b]).flips == ()  # 4% apart: under the 5% margin
    assert len(compare_results([a, b], margin=0.01).flips) == 1
    noisy_a = machine("a", [row("m1", 10.0, ci=0.1), row("m2", 11.0, ci=0.1)])
    noisy_b = machine("b", [row("m1", 11.0, fp="b", ci=0.1), row("m2", 10.0, fp="b", ci=0.1)])
    assert compare_results([noisy_a, noisy_b], margin=0.01).flips == ()  # inside the CIs


def test_runtimes_matched_when_shared_else_fastest():
    a = machine("a", [row("m1", 10.0, runtime="torch"), row("m1", 5.0, runtime="openvino")])
    b = machine("b", [row("m1", 20.0, fp="b", runtime="torch")])
    (only,) = compare_results([a, b]).rows
    assert only.runtime == "torch"
    assert only.p50_ms == (10.0, 20.0)
    c = machine("c", [row("m1", 7.0, fp="c", runtime="onnxruntime")])
    report = compare_results([a, c])
    (mixed,) = report.rows
    assert mixed.runtime is None
    assert mixed.runtimes == ("openvino", "onnxruntime")
    assert any("different runtimes" in n for n in report.notes)


def test_failed_rows_and_single_machine_models_are_left_out():
    a = machine("a", [row("m1", 10.0), row("m2", 1.0, state="failed"), row("m3", 3.0)])
    b = machine("b", [row("m1", 12.0, fp="b"), row("m2", 1.0, fp="b")])
    assert [r.model for r in compare_results([a, b]).rows] == ["timm:m1"]
    with pytest.raises(UserError, match="two of these machines"):
        compare_results([machine("a", [row("m3", 1.0)]), b])
    with pytest.raises(UserError, match="two or more"):
        compare_results([a])


def test_compare_from_database_by_prefix_and_label(tmp_path):
    db = str(tmp_path / "r.db")
    with ResultStore(db) as store:
        for r in [row("m1", 10.0, fp="aaaa1111"), row("m2", 20.0, fp="aaaa1111")]:
            store.save(r, {"label": "laptop"})
        for r in [row("m1", 30.0, fp="bbbb2222"), row("m2", 20.0, fp="bbbb2222")]:
            store.save(r, {"cpu": {"brand": "Big Xeon"}})
    report = compare("laptop", "bbbb", db=db, out=tmp_path)
    assert [m.fingerprint for m in report.machines] == ["aaaa1111", "bbbb2222"]
    assert len(report.flips) == 1
    assert (tmp_path / "compare.html").is_file()
    with pytest.raises(UserError, match="No machine"):
        compare("laptop", "nothing-like-this", db=db)


def test_compare_only_named_models_or_zoo_families(tmp_path):
    db = str(tmp_path / "r.db")
    with ResultStore(db) as store:
        for fp, times in (("aaaa", (10.0, 20.0, 5.0)), ("bbbb", (30.0, 20.0, 6.0))):
            for name, ms in zip(
                ("resnet50", "efficientnet_b0", "vit_tiny_patch16_224"), times, strict=True
            ):
                store.save(row(name, ms, fp=fp), {"label": fp})
    everything = compare("aaaa", "bbbb", db=db)
    assert len(everything.rows) == 3
    named = compare("aaaa", "bbbb", db=db, models=["resnet50", "timm:efficientnet_b0"])
    assert sorted(r.name for r in named.rows) == ["efficientnet_b0 @224", "resnet50 @224"]
    assert len(named.flips) == 1
    family = compare("aaaa", "bbbb", db=db, families=["resnet"])
    assert [r.name for r in family.rows] == ["resnet50 @224"]


def detector_row(name, p50, *, fp, size):
    base = row(name, p50, fp=fp, size=size)
    model = ModelInfo(f"torchvision:{name}", "torch", name, InputSpec("x", (1, 3, size, size)))
    return BenchResult(**{**base.__dict__, "model": model})


def test_detectors_flip_between_machines_as_classifiers_do():
    """The seed's case: two detectors swap places between two CPUs (constructed rows)."""
    a = machine(
        "a",
        [
            detector_row("ssdlite320_mobilenet_v3_large", 9.0, fp="a", size=320),
            detector_row("ssd300_vgg16", 60.0, fp="a", size=300),
        ],
    )
    b = machine(
        "b",
        [
            detector_row("ssdlite320_mobilenet_v3_large", 30.0, fp="b", size=320),
            detector_row("ssd300_vgg16", 20.0, fp="b", size=300),
        ],
    )
    report = compare_results([a, b])
    assert [r.name for r in report.rows] == [
        "ssd300_vgg16 @300",
        "ssdlite320_mobilenet_v3_large @320",
    ]
    (flip,) = report.flips
    assert {flip.a.name, flip.b.name} == {
        "ssdlite320_mobilenet_v3_large @320",
        "ssd300_vgg16 @300",
    }


def test_compare_detection_family_selects_the_detectors_rows(tmp_path):
    db = str(tmp_path / "r.db")
    with ResultStore(db) as store:
        for fp, (lite, ssd, resnet) in (("aaaa", (9.0, 60.0, 10.0)), ("bbbb", (30.0, 20.0, 12.0))):
            store.save(detector_row("ssdlite320_mobilenet_v3_large", lite, fp=fp, size=320), {})
            store.save(detector_row("ssd300_vgg16", ssd, fp=fp, size=300), {})
            store.save(row("resnet50", resnet, fp=fp), {})
    family = compare("aaaa", "bbbb", db=db, families=["detection"])
    assert [r.model for r in family.rows] == [
        "torchvision:ssd300_vgg16",
        "torchvision:ssdlite320_mobilenet_v3_large",
    ]
    assert len(family.flips) == 1
    # A bare name matches a torchvision model as well as a timm one.
    named = compare("aaaa", "bbbb", db=db, models=["ssd300_vgg16", "resnet50"])
    assert sorted(r.model for r in named.rows) == ["timm:resnet50", "torchvision:ssd300_vgg16"]
