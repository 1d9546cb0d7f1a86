"""The ``hwfit search`` page: the found architectures against the baseline, one offline HTML file.

Figures: the verified picture (measured latency vs accuracy trained with the same recipe, for the
baseline, its scaled variants and the found architectures), the explored space (predicted
latency vs estimated accuracy of every trial, the front), the latency predictor (predicted vs
measured) and the proxies' rank correlation with short training. A table and the search's cost
follow; the hardware footer closes the page.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import plotly.graph_objects as go

from hwfit._version import tool_versions
from hwfit.records.hardware import HardwareProfile
from hwfit.records.search import ArchResult, Calibration, SearchResult
from hwfit.report._page import escape, ms, notes_section, page, plots
from hwfit.report.html import write_report

__all__ = ["render_search_page", "write_search_report"]

_COLOURS = {"baseline": "#111827", "scaled": "#9ca3af", "found": "#16a34a", "front": "#2563eb"}


def _kind(role: str) -> str:
    return "scaled" if role.startswith("scaled") else role


def verified_figure(result: SearchResult) -> go.Figure:
    """Measured latency vs trained top-1 (same recipe) of baseline, scaled variants, found."""
    fig = go.Figure()
    rows = [result.baseline, *result.scaled, *result.found]
    for kind, label in (
        ("baseline", "baseline"),
        ("scaled", "baseline scaled (width/depth)"),
        ("found", "found by search"),
    ):
        pts = [r for r in rows if _kind(r.role) == kind and r.measured_ms and r.trained_top1]
        if not pts:
            continue
        fig.add_trace(
            go.Scatter(
                x=[r.measured_ms for r in pts],
                y=[r.trained_top1 for r in pts],
                mode="markers+text",
                name=label,
                text=[r.key[:6] if kind == "found" else r.role for r in pts],
                textposition="top center",
                marker={
                    "size": 13,
                    "color": _COLOURS[kind],
                    "symbol": "diamond" if kind == "baseline" else "circle",
                },
                hovertemplate="%{text}<br>%{x:.3f} ms<br>top-1 %{y:.1f}%<extra></extra>",
            )
        )
    fig.update_layout(
        title=f"Verified: measured latency on {result.target} vs top-1 (same training recipe)",
        xaxis_title="measured latency, ms (p50)",
        yaxis_title="top-1, % (validation)",
        template="plotly_white",
        height=460,
    )
    return fig


def explored_figure(result: SearchResult) -> go.Figure:
    """Predicted latency vs estimated top-1 of every trial, with the front."""
    fig = go.Figure()
    trials = [t for t in result.trials if t.predicted_ms and t.estimated_top1]
    fig.add_trace(
        go.Scattergl(
            x=[t.predicted_ms for t in trials],
            y=[t.estimated_top1 for t in trials],
            mode="markers",
            name="trials",
            marker={
                "size": 6,
                "color": ["#cbd5e1" if t.feasible else "#fecaca" for t in trials],
            },
            hovertemplate="trial %{text}<br>%{x:.3f} ms<br>est. %{y:.1f}%<extra></extra>",
            text=[str(t.number) for t in trials],
        )
    )
    front = sorted(
        (r for r in result.front if r.predicted_ms and r.estimated_top1 is not None),
        key=lambda r: r.predicted_ms or 0.0,
    )
    if front:
        fig.add_trace(
            go.Scatter(
                x=[r.predicted_ms for r in front],
                y=[r.estimated_top1 for r in front],
                mode="lines+markers",
                name="Pareto front",
                line={"color": _COLOURS["front"], "shape": "hv"},
            )
        )
    b = result.baseline
    if b.predicted_ms and b.estimated_top1 is not None:
        fig.add_trace(
            go.Scatter(
                x=[b.predicted_ms],
                y=[b.estimated_top1],
                mode="markers",
                name="baseline",
                marker={"size": 14, "color": _COLOURS["baseline"], "symbol": "diamond"},
            )
        )
    fig.update_layout(
        title="Explored: predicted latency vs estimated top-1 (training-free estimate)",
        xaxis_title="predicted latency, ms",
        yaxis_title="estimated top-1, %",
        template="plotly_white",
        height=460,
    )
    return fig


def predictor_figure(rows: Sequence[ArchResult]) -> go.Figure:
    """Predicted vs measured latency with the +-10% band."""
    pts = [r for r in rows if r.predicted_ms and r.measured_ms]
    fig = go.Figure()
    if pts:
        hi = max(max(r.measured_ms or 0, r.predicted_ms or 0) for r in pts) * 1.1
        fig.add_trace(
            go.Scatter(
                x=[0, hi],
                y=[0, hi],
                mode="lines",
                name="exact",
                line={"color": "#111827", "dash": "dot"},
            )
        )
        for factor in (0.9, 1.1):
            fig.add_trace(
                go.Scatter(
                    x=[0, hi],
                    y=[0, hi * factor],
                    mode="lines",
                    showlegend=False,
                    line={"color": "#9ca3af", "width": 1},
                )
            )
        fig.add_trace(
            go.Scatter(
                x=[r.measured_ms for r in pts],
                y=[r.predicted_ms for r in pts],
                mode="markers",
                name="architectures",
                text=[f"{r.role} {r.key[:6]}" for r in pts],
                marker={"size": 9, "color": [_COLOURS[_kind(r.role)] for r in pts]},
            )
        )
    fig.update_layout(
        title="Latency predictor: predicted vs measured (lines: exact and +-10%)",
        xaxis_title="measured, ms",
        yaxis_title="predicted, ms",
        template="plotly_white",
        height=420,
    )
    return fig


def calibration_figure(calibration: Calibration) -> go.Figure:
    """Kendall tau of each proxy against short-trained accuracy."""
    taus = calibration.kendall_tau

    def order(name: str) -> float:
        tau = taus[name]
        return -(tau if tau is not None and tau == tau else -9)  # undefined taus last

    names = sorted(taus, key=order)
    fig = go.Figure(
        go.Bar(
            x=names,
            y=[taus[n] for n in names],
            marker={"color": ["#16a34a" if n == calibration.chosen else "#94a3b8" for n in names]},
        )
    )
    fig.update_layout(
        title="Accuracy proxies: Kendall tau with short-trained top-1 (green: used)",
        yaxis_title="Kendall tau",
        template="plotly_white",
        height=360,
    )
    return fig


def render_search_page(
    result: SearchResult, hardware: Mapping[str, object], versions: Mapping[str, str]
) -> str:
    """Return the search page as one self-contained HTML string."""
    rows = [result.baseline, *result.scaled, *result.found]
    figures = [
        verified_figure(result),
        explored_figure(result),
        predictor_figure([*rows, *result.front]),
        calibration_figure(result.calibration),
    ]
    q = result.predictor_quality
    cost = result.cost
    if result.best is not None and result.speedup is not None:
        verdict = (
            f"<p>Found <code>{escape(result.best.key)}</code>: "
            f"<b>{result.speedup:.2f}x faster</b> "
            f"than the baseline measured on {escape(result.target)} in this run "
            f"({ms(result.best.measured_ms)} vs {ms(result.baseline.measured_ms)}), top-1 "
            f"{result.best.trained_top1:.1f}% vs {result.baseline.trained_top1:.1f}% with the "
            "same training recipe.</p>"
        )
        cls = "verdict"
    else:
        verdict = "<p>No found architecture beat the baseline at equal accuracy.</p>"
        cls = "verdict none"
    facts = [
        ("space", result.space),
        ("target", result.target),
        ("trials", str(cost.trials)),
        ("measured", str(cost.measured)),
        ("trained", str(cost.trained)),
        ("wall time", f"{cost.wall_s / 60:.1f} min"),
        ("CPU-hours", f"{cost.cpu_hours:.2f}"),
        ("predictor within +-10%", _pct(q.within_10)),
        ("predictor MAPE", _pct(q.mape)),
        ("predictor Kendall tau", _num(q.kendall_tau)),
        ("proxy used", str(result.calibration.chosen)),
    ]
    facts_html = "".join(f"<div><dt>{escape(k)}</dt><dd>{escape(v)}</dd></div>" for k, v in facts)
    table_rows = "".join(_row(r) for r in [*rows, *result.front])
    result_card = (
        f'<section class="card {cls}"><h2>Result</h2>{verdict}'
        f'<dl class="facts">{facts_html}</dl></section>'
    )
    body = f"""{result_card}
{notes_section(result.notes)}
<section class="figures"><h2>Figures</h2>{plots(figures)}</section>
<section><h2>Architectures</h2><div class="table-wrap"><table>
<tr><th>role</th><th>key</th><th>architecture</th><th>params</th><th>predicted</th>
<th>measured</th><th>est. top-1</th><th>screened top-1</th><th>trained top-1</th>
<th>artifact / note</th></tr>
{table_rows}
</table></div></section>"""
    subtitle = (
        f"target <code>{escape(result.target)}</code> \u00b7 "
        f"output <code>{escape(result.out)}</code>"
    )
    return page(
        f"hwfit search: {result.space}",
        subtitle,
        body,
        hardware,
        versions,
        css=".facts dd { font-size: 16px; overflow-wrap: anywhere; }",
    )


def _row(r: ArchResult) -> str:
    cells = [
        escape(r.role),
        f"<code>{escape(r.key)}</code>",
        f"<code>{escape(r.description)}</code>",
        "-" if r.model_params is None else f"{r.model_params / 1e6:.2f} M",
        ms(r.predicted_ms),
        ms(r.measured_ms),
        "-" if r.estimated_top1 is None else f"{r.estimated_top1:.1f}%",
        "-" if r.screened_top1 is None else f"{r.screened_top1:.1f}%",
        "-" if r.trained_top1 is None else f"{r.trained_top1:.1f}%",
        escape(" \u00b7 ".join(t for t in (r.artifact, r.note) if t) or "-"),
    ]
    return "<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * float(value):.0f}%"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{float(value):.2f}"


def write_search_report(path: Path, result: SearchResult, hardware: HardwareProfile) -> Path:
    """Render and write ``search.html``."""
    return write_report(path, render_search_page(result, hardware.to_dict(), tool_versions()))
