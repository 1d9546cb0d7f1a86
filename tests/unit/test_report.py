"""The optimize report: figures from hand-built records, and one self-contained HTML page."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import plotly.graph_objects as go
import plotly.offline
import pytest

from hwfit.records import (
    BenchResult,
    Candidate,
    Executed,
    InputSpec,
    LatencyStats,
    ModelInfo,
    Outcome,
    PairedRatio,
    RowState,
    RunConfig,
    to_dict,
)
from hwfit.report import (
    accuracy_figure,
    latency_figure,
    render_optimize_page,
    size_figure,
    speedup_figure,
    write_report,
)

MODEL = ModelInfo(
    source="timm:resnet18<script>alert(1)</script>",
    kind="torch",
    content_hash="0123456789abcdef0123",
    input=InputSpec("x", (1, 3, 224, 224)),
    params=11_689_512,
    macs=1_814_000_000,
)
REJECT_REASON = "top1 dropped 2.40 points; the budget allows 1.00"
FAIL_REASON = "RuntimeError: QLinearConv is not implemented for this input"
SKIP_REASON = "bf16: this CPU has no AVX512-BF16 or AMX; it would run emulated"
PLOTLY_JS_MARKER = "* plotly.js v"  # the bundle's licence header


def _latency(p50: float) -> LatencyStats:
    return LatencyStats(
        n=200,
        p50_ms=p50,
        p90_ms=p50 * 1.08,
        p99_ms=p50 * 1.25,
        mean_ms=p50 * 1.02,
        std_ms=p50 * 0.05,
        min_ms=p50 * 0.95,
        max_ms=p50 * 1.4,
        ci_low_ms=p50 * 0.98,
        ci_high_ms=p50 * 1.03,
        ci_rel=0.025,
        warmup_runs=5,
        timed_s=2.0,
    )


def _outcome(
    runtime: str,
    precision: str,
    state: RowState,
    *,
    p50: float | None = None,
    size_bytes: int | None = None,
    top1: float | None = None,
    drop: float | None = None,
    reason: str | None = None,
    explanation: str | None = None,
) -> Outcome:
    candidate = Candidate(runtime, precision, threads=4)
    config = RunConfig(runtime=runtime, precision=precision, threads=4)
    bench = None
    if p50 is not None:
        # A paired figure as bench/optimize attach it: the baseline (20 ms) over this p50.
        paired = (
            None
            if runtime == "torch"
            else PairedRatio(20.0 / p50, 0.97 * 20.0 / p50, 1.04 * 20.0 / p50, 30, 20.0, p50)
        )
        bench = BenchResult(
            model=MODEL,
            config=config,
            state=RowState.COMPLETE,
            executed=Executed(precision=precision, threads=4),
            latency=_latency(p50),
            throughput=1000.0 / p50,
            artifact_size_bytes=size_bytes,
            speedup=paired,
        )
    return Outcome(
        candidate=candidate,
        state=state,
        reason=reason,
        bench=bench,
        accuracy=None if top1 is None else {"top1": top1, "top5": top1 + 18.0},
        metric="top1",
        drop=drop,
        artifact_size_bytes=size_bytes,
        explanation=explanation,
    )


BASELINE = _outcome(
    "torch", "fp32", RowState.COMPLETE, p50=20.0, size_bytes=46_800_000, top1=69.8, drop=0.0
)
WINNER = _outcome(
    "openvino",
    "int8_static",
    RowState.COMPLETE,
    p50=6.0,
    size_bytes=11_900_000,
    top1=69.3,
    drop=0.5,
    explanation="VNNI runs INT8 dot products at 4x the FP32 rate on this CPU.",
)
REJECTED = _outcome(
    "onnxruntime",
    "int8_static",
    RowState.REJECTED,
    p50=8.0,
    size_bytes=11_800_000,
    top1=67.4,
    drop=2.4,
    reason=REJECT_REASON,
)
FAILED = _outcome("onnxruntime", "int8_dynamic", RowState.FAILED, reason=FAIL_REASON)
SKIPPED = _outcome("torch", "bf16", RowState.SKIPPED, reason=SKIP_REASON)
OUTCOMES = [BASELINE, WINNER, REJECTED, FAILED, SKIPPED]
MEASURED = {BASELINE.candidate.label, WINNER.candidate.label, REJECTED.candidate.label}

HARDWARE = {
    "fingerprint": "a1b2c3d4e5f60718",
    "cpu": {
        "vendor": "AMD",
        "brand": "AMD EPYC 9R14",
        "arch": "x86_64",
        "physical_cores": 8,
        "logical_threads": 16,
        "usable_threads": 16,
        "features": ["avx2", "avx512_vnni", "avx512f", "fma"],
    },
    "memory_bytes": 64 * 2**30,
    "os": "Linux-6.1-x86_64",
    "python": "3.11.9",
    "gpus": [],
    "runtimes": [],
}


def _render(**overrides) -> str:
    kwargs = {
        "title": "hwfit optimize: resnet18",
        "model": to_dict(MODEL),
        "outcomes": OUTCOMES,
        "baseline": BASELINE,
        "winner": WINNER,
        "budget_text": "top1 drop <= 1.0 point",
        "metric": "top1",
        "budget_points": 1.0,
        "hardware": HARDWARE,
        "versions": {"hwfit": "0.1.0", "openvino": "2025.2"},
        "notes": ["INT8 paid off on OpenVINO thanks to VNNI; ONNX Runtime lost 2.4 points."],
    }
    kwargs.update(overrides)
    return render_optimize_page(**kwargs)


@pytest.fixture(scope="module")
def page() -> str:
    return _render()


def _bars(fig: go.Figure) -> list[str]:
    return [x for trace in fig.data if trace.type == "bar" for x in trace.x]


# -- figures ------------------------------------------------------------------------------------


def test_latency_figure_has_one_bar_per_measured_candidate():
    fig = latency_figure(OUTCOMES, BASELINE, winner=WINNER)
    assert sorted(_bars(fig)) == sorted(MEASURED)


def test_latency_figure_orders_bars_fastest_first():
    fig = latency_figure(OUTCOMES, BASELINE, winner=WINNER)
    assert list(fig.layout.xaxis.categoryarray) == [
        WINNER.candidate.label,
        REJECTED.candidate.label,
        BASELINE.candidate.label,
    ]


def test_latency_figure_error_bars_span_the_ci_of_the_median():
    fig = latency_figure(OUTCOMES, BASELINE, winner=WINNER)
    (winner_bar,) = [t for t in fig.data if t.type == "bar" and t.name == "winner"]
    assert winner_bar.error_y.array[0] == pytest.approx(6.0 * 0.03)
    assert winner_bar.error_y.arrayminus[0] == pytest.approx(6.0 * 0.02)


def test_latency_figure_marks_p90_p99_and_the_baseline_line():
    fig = latency_figure(OUTCOMES, BASELINE, winner=WINNER)
    markers = {t.name: len(t.x) for t in fig.data if t.type == "scatter"}
    assert markers == {"p90": 3, "p99": 3}
    assert [s.y0 for s in fig.layout.shapes] == [20.0]


def test_latency_figure_hatches_the_rejected_candidate():
    fig = latency_figure(OUTCOMES, BASELINE, winner=WINNER)
    (rejected,) = [t for t in fig.data if t.type == "bar" and t.name.startswith("rejected")]
    assert list(rejected.x) == [REJECTED.candidate.label]
    assert rejected.marker.pattern.shape == "/"


def test_latency_figure_adds_the_baseline_when_it_is_not_a_candidate():
    fig = latency_figure([WINNER, FAILED], BASELINE, winner=WINNER)
    assert sorted(_bars(fig)) == sorted([BASELINE.candidate.label, WINNER.candidate.label])


def test_latency_figure_notes_when_nothing_was_measured():
    unmeasured = _outcome("torch", "fp32", RowState.FAILED, reason="boom")
    fig = latency_figure([FAILED, SKIPPED], unmeasured)
    assert _bars(fig) == []
    assert "No candidate was measured" in fig.layout.annotations[0].text


def test_size_figure_orders_by_size_with_latency_on_a_second_axis():
    fig = size_figure(OUTCOMES, BASELINE, winner=WINNER)
    assert sorted(_bars(fig)) == sorted(MEASURED)
    assert list(fig.layout.xaxis.categoryarray) == [
        BASELINE.candidate.label,
        WINNER.candidate.label,
        REJECTED.candidate.label,
    ]
    (line,) = [t for t in fig.data if t.type == "scatter"]
    assert line.yaxis == "y2"
    assert list(line.y) == [20.0, 6.0, 8.0]


def test_accuracy_figure_draws_baseline_and_budget_lines():
    fig = accuracy_figure(OUTCOMES, BASELINE, 1.0, "top1", winner=WINNER)
    points = [x for t in fig.data if t.type == "scatter" for x in t.x]
    assert sorted(points) == sorted(MEASURED)
    lines = sorted(s.y0 for s in fig.layout.shapes if s.type == "line")
    assert lines == pytest.approx([68.8, 69.8])
    (rejected,) = [t for t in fig.data if t.name.startswith("rejected")]
    assert rejected.marker.symbol == "x"


def test_speedup_figure_shows_the_paired_figures_with_their_intervals():
    fig = speedup_figure(OUTCOMES, BASELINE, winner=WINNER)
    bars = [t for t in fig.data if t.type == "bar"]
    speedups = {x: y for t in bars for x, y in zip(t.x, t.y, strict=True)}
    assert speedups == pytest.approx(
        {WINNER.candidate.label: 20 / 6, REJECTED.candidate.label: 2.5}
    )
    (winner,) = [t for t in bars if WINNER.candidate.label in t.x]
    assert list(winner.error_y.array) == pytest.approx([0.04 * 20 / 6])
    assert list(winner.error_y.arrayminus) == pytest.approx([0.03 * 20 / 6])
    assert [s.y0 for s in fig.layout.shapes] == [1.0]  # the baseline is the 1.0x line


# -- page ---------------------------------------------------------------------------------------


class _Resources(HTMLParser):
    """Collects every URL a tag would fetch: script/img/iframe src, stylesheet href."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "script":
            self.scripts += 1
        if tag in ("script", "img", "iframe", "embed", "source") and values.get("src"):
            self.urls.append(values["src"] or "")
        if tag == "link" and values.get("href"):
            self.urls.append(values["href"] or "")


def test_page_inlines_plotly_js_exactly_once(page: str):
    assert plotly.offline.get_plotlyjs().count(PLOTLY_JS_MARKER) == 1
    assert page.count(PLOTLY_JS_MARKER) == 1


def test_page_fetches_nothing_from_the_network(page: str):
    parser = _Resources()
    parser.feed(page)
    assert parser.urls == []
    assert parser.scripts == 5  # plotly.js, then one per figure
    assert "@import" not in page.split("<script>", 1)[0]


def test_page_lists_every_candidate_and_the_reasons(page: str):
    for outcome in OUTCOMES:
        assert outcome.candidate.label in page
    for reason in (REJECT_REASON, FAIL_REASON, SKIP_REASON):
        assert reason in page


def test_page_escapes_the_model_name(page: str):
    assert "<script>alert(1)</script>" not in page
    assert "resnet18&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_page_shows_the_winner_and_its_speedup(page: str):
    assert f"Winner: {WINNER.candidate.label}" in page
    assert "3.33x [3.23-3.47] (paired)" in page
    assert "+0.50 points" in page


def test_page_shows_the_hardware_footer_and_versions(page: str):
    assert "a1b2c3d4e5f60718" in page
    assert "AMD EPYC 9R14" in page
    assert "AVX2 FMA AVX-512 AVX512-VNNI" in page
    assert "openvino 2025.2" in page


def test_page_says_when_no_candidate_met_the_budget():
    page = _render(winner=None, outcomes=[BASELINE, REJECTED, FAILED])
    assert "No candidate met the budget" in page
    assert "Winner:" not in page


def test_page_escapes_notes_and_reasons():
    evil = _outcome("tvm", "fp16", RowState.FAILED, reason="<img src=x onerror=alert(1)>")
    page = _render(outcomes=[*OUTCOMES, evil], notes=["<b>bold</b> & co"])
    assert "<img src=x" not in page
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; co" in page


def test_write_report_creates_the_folder(tmp_path: Path, page: str):
    path = write_report(tmp_path / "out" / "report.html", page)
    assert path.read_text(encoding="utf-8") == page


# The page's headless-Chromium check sits with every other page's in
# tests/integration/test_report_render.py.
