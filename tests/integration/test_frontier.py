from hwfit.analysis.frontier import frontier
from hwfit.records import RowState
from hwfit.zoo import ZooEntry


def entry(name, arch, family, top1, size=160, params=0.5, gmacs=0.05):
    return ZooEntry(name, arch, family, top1, None, size, params, gmacs, "hand-made for tests")


ENTRIES = [
    entry("test_resnet.a", "test_resnet", "resnet", 60.0),
    entry("test_resnet.b", "test_resnet", "resnet", 61.0),  # same arch: measured once
    entry("test_efficientnet.x", "test_efficientnet", "efficientnet", 50.0, params=0.4),
    entry("broken.x", "no_such_model_anywhere", "broken", 99.0),
]


def test_frontier_measures_each_arch_once_then_reuses_the_database(tmp_path):
    db = str(tmp_path / "r.db")
    calls = []
    report = frontier(
        entries=ENTRIES,
        runtime="onnxruntime",
        duration_s=0.3,
        min_time_s=0.1,
        db=db,
        out=tmp_path,
        progress=lambda e: calls.append((e.done, e.total, e.label)),
    )
    names = sorted(p.entry.name for p in report.points)
    assert names == ["test_efficientnet.x", "test_resnet.a", "test_resnet.b"]
    a, b = (p for p in report.points if p.entry.arch == "test_resnet")
    assert a.result is b.result
    assert not a.reused
    (miss,) = report.missing
    assert miss.entry.name == "broken.x"
    assert miss.state is RowState.FAILED
    assert "no_such_model_anywhere" in miss.reason
    assert calls[0] == (0, 3, "test_resnet @160")
    assert calls[-1][0] == 3
    # The front agrees with the measured numbers: no point off it is both faster and better.
    front = {report.points[i].entry.name for i in report.frontier}
    assert "test_resnet.b" in front
    assert "test_resnet.a" not in front
    for p in report.points:
        if p.entry.name not in front:
            assert any(
                q.latency_ms <= p.latency_ms and q.entry.accuracy >= p.entry.accuracy
                for q in report.frontier_points
            )
    assert (tmp_path / "frontier.html").is_file()

    again = frontier(entries=ENTRIES[:3], runtime="onnxruntime", duration_s=0.3, db=db)
    assert all(p.reused for p in again.points)
    assert {p.result.created_at for p in again.points} <= {
        p.result.created_at for p in report.points
    }
    fresh = frontier(
        entries=ENTRIES[:1], runtime="onnxruntime", duration_s=0.3, min_time_s=0.1, db=db,
        fresh=True,
    )  # fmt: skip
    assert not fresh.points[0].reused


def test_detection_frontier_measures_each_detector_at_its_own_size(monkeypatch):
    from hwfit.models.detection import DETECTORS
    from hwfit.zoo import load_zoo, select

    ssdlite, ssd300 = select(
        load_zoo(), models=["torchvision:ssdlite320_mobilenet_v3_large", "ssd300_vgg16"]
    )
    # A zoo row whose detector hwfit does not run (yet): a FAILED entry, not a crash.
    monkeypatch.delitem(DETECTORS, "ssd300_vgg16")
    entries = [ssdlite, ssd300, ENTRIES[-1]]  # and a (broken) classifier
    report = frontier(
        entries=entries, families=["detection"], runtime="onnxruntime", duration_s=0.3,
        min_time_s=0.1, save=False,
    )  # fmt: skip
    assert report.metric == "box_map"
    (point,) = report.points
    assert point.entry == ssdlite
    assert point.result.model.source == "torchvision:ssdlite320_mobilenet_v3_large"
    assert point.result.model.input.shape == (1, 3, 320, 320)
    assert point.latency_ms > 0
    assert report.frontier == (0,)
    (miss,) = report.missing
    assert (miss.entry, miss.state) == (ssd300, RowState.FAILED)
    assert "ssd300_vgg16" in miss.reason
    assert "COCO val2017 box mAP" in report.notes[0]
    # Without a selection: the classifiers only, never one front over mixed metrics.
    default = frontier(entries=entries[1:], runtime="onnxruntime", save=False)
    assert default.metric == "top1"
    assert [m.entry.name for m in default.missing] == ["broken.x"]
