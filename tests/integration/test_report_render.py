"""Every HTML page hwfit writes opens offline in headless Chromium, and all its figures render.

The pages: optimize (``report.html``), frontier, compare, gap and search. Without Chromium the
test skips, except under CI (``HWFIT_CI=1``, set by ``.ci/run``, which installs it): there a
missing browser fails the test, so the pages can never go unchecked.
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hwfit.analysis.compare import MachineResults, compare_results
from hwfit.analysis.frontier import FrontierPoint, FrontierReport, frontier_of
from hwfit.analysis.gap import GapReport, GapSide, gap_steps
from hwfit.hardware import probe
from hwfit.records.search import (
    ArchResult,
    Calibration,
    PredictorQuality,
    ProxyCorrelation,
    SearchCost,
    SearchResult,
    TrialRecord,
)
from hwfit.report import (
    render_compare_page,
    render_frontier_page,
    render_gap_page,
)
from hwfit.report.html import write_report
from hwfit.report.search_page import render_search_page
from hwfit.zoo import ZooEntry

UNIT = Path(__file__).resolve().parents[1] / "unit"


def find_chromium(env) -> str:
    """The Chromium binary (``$HWFIT_CHROMIUM`` overrides the search).

    Skips without one; fails without one under CI (``HWFIT_CI=1``), where it must be present.
    """
    wanted = env.get("HWFIT_CHROMIUM")
    if wanted is not None:
        found = wanted if Path(wanted).is_file() else None
    else:
        found = shutil.which("chromium") or (
            "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None
        )
    if found is None:
        if env.get("HWFIT_CI") == "1":
            pytest.fail("HWFIT_CI=1 but Chromium is not installed: .ci/run installs it (apt-get)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return found


@pytest.fixture(scope="module")
def chromium() -> str:
    return find_chromium(os.environ)


def _unit(name: str):
    if str(UNIT) not in sys.path:
        sys.path.insert(0, str(UNIT))
    return __import__(name)


def optimize_page():
    return _unit("test_report")._render()


def frontier_page():
    row = _unit("test_compare").row
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
    row = _unit("test_compare").row
    a = MachineResults("a", "A", "t", {}, (row("m1", 10.0), row("m2", 20.0)))
    b = MachineResults("b", "B", "t", {}, (row("m1", 30.0, fp="b"), row("m2", 20.0, fp="b")))
    return render_compare_page(compare_results([a, b]))


def gap_page():
    def side(device, ms):
        return GapSide(device, "torch", "fp32", 1, ms, 1000 / ms, "3x224x224", "here", "m")

    steps = gap_steps(side("CPU", 20.0), side("CPU", 8.0), side("GPU", 2.0), side("GPU", 0.5))
    hw = probe(include_runtimes=False).to_dict()
    return render_gap_page(GapReport("timm:r50", "3x224x224", steps, False, (), (), hw))


def search_page():
    def arch(key, role, predicted, measured, estimated, top1):
        return ArchResult(key, role, "ir_r1_k3_s1_e6_c16", {}, predicted, measured, estimated,
                          top1, 1_200_000, screened_top1=top1)  # fmt: skip

    base = arch("base0000", "baseline", 2.0, 2.1, 60.0, 70.0)
    found = [arch("found001 <b>", "found", 1.1, 1.2, 61.0, 70.5)]
    trials = [
        TrialRecord(i, f"t{i}", {}, 1 + i / 10, 50.0 + i, feasible=bool(i % 3)) for i in range(12)
    ]
    taus = {"synflow": 0.6, "naswot": 0.3}
    result = SearchResult(
        out="out",
        space="mobilenetv2_100",
        target="openvino:int8:bs1:cpu",
        baseline=base,
        scaled=[arch("scaled01", "scaled w0.5 d1.0", 1.2, 1.3, 55.0, 64.0)],
        found=found,
        front=[
            arch("front1", "front", 1.0, None, 59.0, None),
            arch("front2", "front", 1.5, None, 62.0, None),
        ],
        trials=trials,
        predictor_quality=PredictorQuality(
            n_train=20, n_test=6, mape=0.05, within_10=0.9, kendall_tau=0.8
        ),
        calibration=Calibration(
            tuple(ProxyCorrelation(p, tau, tau, 0.01, 8) for p, tau in taus.items()),
            chosen="synflow",
            n=8,
            reason="highest Kendall tau",
        ),
        cost=SearchCost(wall_s=600, cpu_hours=0.3, measured=30, trained=4, trials=12),
        best=found[0],
        speedup=1.75,
        notes=["a note"],
    )
    return render_search_page(result, probe(include_runtimes=False).to_dict(), {"hwfit": "t"})


def _figures(dom: str) -> list[tuple[str, int]]:
    """(title, drawn traces) of each figure plotly drew into the page (scripts left out)."""
    dom = re.sub(r"<script\b.*?</script>", "", dom, flags=re.DOTALL)
    figures = []
    for chunk in dom.split('class="plot-container plotly"')[1:]:
        title = re.search(r'class="gtitle"[^>]*>([^<]+)<', chunk)
        traces = len(re.findall(r'class="trace ', chunk)) + chunk.count("gl-canvas")
        figures.append((title.group(1) if title else "", traces))
    return figures


@pytest.mark.timeout(180)
@pytest.mark.parametrize(
    "make", [optimize_page, frontier_page, compare_page, gap_page, search_page],
    ids=["optimize", "frontier", "compare", "gap", "search"],
)  # fmt: skip
def test_page_renders_offline_in_headless_chromium(tmp_path, chromium, make):
    html = make()
    assert "<script src=" not in html  # plotly is inlined: nothing is fetched
    expected = html.count("Plotly.newPlot(")
    assert expected >= 1
    path = write_report(tmp_path / "page.html", html)
    result = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
         "--virtual-time-budget=5000", "--dump-dom", path.as_uri()],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    figures = _figures(result.stdout)
    assert len(figures) == expected, figures  # every figure of the page was drawn
    for title, traces in figures:
        assert title, figures  # plotly ran: it drew the title
        assert traces >= 1, figures  # and the data


def test_pages_escape_user_text():
    assert "mnv2 &lt;b&gt;" in frontier_page()
    assert "mnv2 <b>" not in frontier_page()
    assert "found001 &lt;b&gt;" in search_page()
    assert "found001 <b>" not in search_page()


def test_missing_chromium_fails_under_ci_and_skips_elsewhere(tmp_path):
    missing = str(tmp_path / "no-chromium")
    with pytest.raises(pytest.fail.Exception, match="HWFIT_CI=1 but Chromium is not installed"):
        find_chromium({"HWFIT_CI": "1", "HWFIT_CHROMIUM": missing})
    with pytest.raises(pytest.skip.Exception, match="chromium is not installed"):
        find_chromium({"HWFIT_CHROMIUM": missing})
