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
                q.latency_ms <= p.latency_ms and q.entry.top1 >= p.entry.top1
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
