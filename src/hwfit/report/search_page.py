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
from typing import TYPE_CHECKING, Any

import plotly.graph_objects as go
import plotly.offline

from hwfit.report.html import _CSS, _PLOT_CONFIG, _e, _footer, _ms, write_report

if TYPE_CHECKING:
    from hwfit.hardware.profile import HardwareProfile
    from hwfit.nas.search import ArchResult, SearchResult

__all__ = ["render_search_report", "write_search_report"]

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
    trials = [t for t in result.trials if t.get("predicted_ms") and t.get("estimated_top1")]
    fig.add_trace(
        go.Scattergl(
            x=[t["predicted_ms"] for t in trials],
            y=[t["estimated_top1"] for t in trials],
            mode="markers",
            name="trials",
            marker={
                "size": 6,
                "color": ["#cbd5e1" if t.get("feasible", True) else "#fecaca" for t in trials],
            },
            hovertemplate="trial %{text}<br>%{x:.3f} ms<br>est. %{y:.1f}%<extra></extra>",
            text=[str(t["number"]) for t in trials],
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


def calibration_figure(calibration: Mapping[str, Any]) -> go.Figure:
    """Kendall tau of each proxy against short-trained accuracy."""
    taus = calibration.get("kendall_tau") or {}
    names = sorted(taus, key=lambda n: -(taus[n] if taus[n] == taus[n] else -9))
    fig = go.Figure(
        go.Bar(
            x=names,
            y=[taus[n] for n in names],
            marker={
                "color": [
                    "#16a34a" if n == calibration.get("chosen") else "#94a3b8" for n in names
                ]
            },
        )
    )
    fig.update_layout(
        title="Accuracy proxies: Kendall tau with short-trained top-1 (green: used)",
        yaxis_title="Kendall tau",
        template="plotly_white",
        height=360,
    )
    return fig


def render_search_report(
    result: SearchResult, hardware: Mapping[str, Any], versions: Mapping[str, str]
) -> str:
    """Return the search page as one self-contained HTML string."""
    rows = [result.baseline, *result.scaled, *result.found]
    figures = [
        verified_figure(result),
        explored_figure(result),
        predictor_figure([*rows, *result.front]),
        calibration_figure(result.calibration),
    ]
    plots = "\n".join(
        '<div class="plot">'
        + f.to_html(full_html=False, include_plotlyjs=False, config=_PLOT_CONFIG)
        + "</div>"
        for f in figures
    )
    q = result.predictor_quality
    cost = result.cost
    if result.best is not None and result.speedup is not None:
        verdict = (
            f"<p>Found <code>{_e(result.best.key)}</code>: <b>{result.speedup:.2f}x faster</b> "
            f"than the baseline measured on {_e(result.target)} in this run "
            f"({_ms(result.best.measured_ms)} vs {_ms(result.baseline.measured_ms)}), top-1 "
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
        ("trials", str(cost.get("trials"))),
        ("measured", str(cost.get("measured"))),
        ("trained", str(cost.get("trained"))),
        ("wall time", f"{cost.get('wall_s', 0) / 60:.1f} min"),
        ("CPU-hours", f"{cost.get('cpu_hours', 0):.2f}"),
        ("predictor within +-10%", _pct(q.get("within_10"))),
        ("predictor MAPE", _pct(q.get("mape"))),
        ("predictor Kendall tau", _num(q.get("kendall_tau"))),
        ("proxy used", str(result.calibration.get("chosen"))),
    ]
    facts_html = "".join(f"<div><dt>{_e(k)}</dt><dd>{_e(v)}</dd></div>" for k, v in facts)
    notes = (
        '<section class="notes card"><h2>Notes</h2><ul>'
        + "".join(f"<li>{_e(n)}</li>" for n in result.notes)
        + "</ul></section>"
        if result.notes
        else ""
    )
    table_rows = "".join(_row(r) for r in [*rows, *result.front])
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>hwfit search: {_e(result.space)}</title>
<style>{_CSS}
.facts dd {{ font-size: 16px; overflow-wrap: anywhere; }}</style>
<script>{plotly.offline.get_plotlyjs()}</script>
</head>
<body>
<main>
<header><h1>hwfit search: {_e(result.space)}</h1>
<p class="model">target <code>{_e(result.target)}</code> \u00b7
output <code>{_e(result.out)}</code></p>
</header>
<section class="card {cls}"><h2>Result</h2>{verdict}<dl class="facts">{facts_html}</dl></section>
{notes}
<section class="figures"><h2>Figures</h2>{plots}</section>
<section><h2>Architectures</h2><div class="table-wrap"><table>
<tr><th>role</th><th>key</th><th>architecture</th><th>params</th><th>predicted</th>
<th>measured</th><th>est. top-1</th><th>screened top-1</th><th>trained top-1</th>
<th>artifact / note</th></tr>
{table_rows}
</table></div></section>
{_footer(hardware, versions)}
</main>
</body>
</html>
"""


def _row(r: ArchResult) -> str:
    cells = [
        _e(r.role),
        f"<code>{_e(r.key)}</code>",
        f"<code>{_e(r.description)}</code>",
        "-" if r.model_params is None else f"{r.model_params / 1e6:.2f} M",
        _ms(r.predicted_ms),
        _ms(r.measured_ms),
        "-" if r.estimated_top1 is None else f"{r.estimated_top1:.1f}%",
        "-" if r.screened_top1 is None else f"{r.screened_top1:.1f}%",
        "-" if r.trained_top1 is None else f"{r.trained_top1:.1f}%",
        _e(" \u00b7 ".join(t for t in (r.artifact, r.note) if t) or "-"),
    ]
    return "<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"


def _pct(value: Any) -> str:
    return "-" if value is None else f"{100 * float(value):.0f}%"


def _num(value: Any) -> str:
    return "-" if value is None else f"{float(value):.2f}"


def write_search_report(path: Path, result: SearchResult, hardware: HardwareProfile) -> Path:
    """Render and write ``search.html``."""
    from hwfit._version import tool_versions

    return write_report(path, render_search_report(result, hardware.to_dict(), tool_versions()))
