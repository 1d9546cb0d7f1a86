"""Each analysis page opens offline in headless Chromium and its figures render."""

import shutil
import subprocess
from pathlib import Path

import pytest

from hwfit.analysis.compare import MachineResults, compare_results
from hwfit.analysis.frontier import FrontierPoint, FrontierReport, frontier_of
from hwfit.analysis.gap import GapReport, GapSide, gap_steps
from hwfit.hardware import probe
from hwfit.report.analysis_pages import (
    render_compare_page,
    render_frontier_page,
    render_gap_page,
)
from hwfit.report.html import write_report
from hwfit.zoo import ZooEntry

CHROMIUM = shutil.which("chromium") or (
    "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None
)


def _rows():
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
    from test_compare import row

    return row


def frontier_page():
    row = _rows()
    specs = [("mnv2 <b>", "mobilenet", 72.0, 4.0, 3.5, 0.3), ("effb0", "efficientnet", 77.0, 9.0,
             5.3, 0.4), ("r50", "resnet", 80.0, 25.0, 25.6, 4.1), ("slow", "resnet", 70.0, 30.0,
             11.0, None)]  # fmt: skip
    points = [
        FrontierPoint(ZooEntry(n, n, f, t, None, 224, p, g, "test"), row(n, ms))
        for n, f, t, ms, p, g in specs
    ]
    front, gfront = frontier_of(points)
    hw = probe(include_runtimes=False)
    return render_frontier_page(
        FrontierReport(tuple(points), tuple(front), tuple(gfront), (), {"runtime": "openvino",
                       "precision": "fp32", "batch": 1}, hw.to_dict(), hw.fingerprint)
    )  # fmt: skip


def compare_page():
    row = _rows()
    a = MachineResults("a", "A", "t", {}, (row("m1", 10.0), row("m2", 20.0)))
    b = MachineResults("b", "B", "t", {}, (row("m1", 30.0, fp="b"), row("m2", 20.0, fp="b")))
    return render_compare_page(compare_results([a, b]))


def gap_page():
    def side(device, ms):
        return GapSide(device, "torch", "fp32", 1, ms, 1000 / ms, "3x224x224", "here", "m")

    steps = gap_steps(side("CPU", 20.0), side("CPU", 8.0), side("GPU", 2.0), side("GPU", 0.5))
    hw = probe(include_runtimes=False).to_dict()
    return render_gap_page(GapReport("timm:r50", "3x224x224", steps, False, (), (), hw))


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
@pytest.mark.timeout(180)
@pytest.mark.parametrize(("make", "plots"), [(frontier_page, 2), (compare_page, 1), (gap_page, 1)])
def test_page_renders_offline_in_headless_chromium(tmp_path, make, plots):
    html = make()
    assert "<script src=" not in html  # plotly is inlined: nothing is fetched
    if make is frontier_page:
        assert "mnv2 &lt;b&gt;" in html
        assert "mnv2 <b>" not in html
    path = write_report(tmp_path / "page.html", html)
    result = subprocess.run(
        [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
         "--virtual-time-budget=5000", "--dump-dom", path.as_uri()],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.count('class="main-svg"') >= plots
