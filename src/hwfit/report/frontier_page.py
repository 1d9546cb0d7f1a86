"""The page of ``hwfit frontier``: accuracy against latency (and GMACs) of the zoo models.

The accuracy is the report's one metric (ImageNet-1k top-1, or COCO box mAP for detectors);
every axis, hover and column names it.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import plotly.graph_objects as go

from hwfit.report._page import (
    FRONT_COLOUR,
    PALETTE,
    escape,
    html_table,
    ms,
    notes_section,
    page,
    plots,
)
from hwfit.report.figures import base_figure, empty_figure

if TYPE_CHECKING:
    from hwfit.records import FrontierPoint, FrontierReport

__all__ = ["frontier_figure", "render_frontier_page"]


def frontier_figure(report: FrontierReport, *, x: str = "latency") -> go.Figure:
    """Accuracy against latency (``x="latency"``) or GMACs (``x="gmacs"``), a colour per family.

    The accuracy is the report's metric (top-1 or COCO box mAP). Bubble area follows the
    parameter count; the Pareto front is a step line through its models (no model lies above
    and to the left of it).
    """
    by_latency = x == "latency"
    metric = report.published_metric
    title = (
        f"Published {metric.column} vs measured latency (bubble: parameters; line: Pareto front)"
        if by_latency
        else f"Published {metric.column} vs GMACs (line: front by GMACs; ringed: front by latency)"
    )
    fig = base_figure(title)
    points = list(report.points)
    if not by_latency:
        points = [p for p in points if p.entry.gmacs is not None]
    if not points:
        return empty_figure(fig, "No model was measured." if by_latency else "No model has GMACs.")

    def xval(p: FrontierPoint) -> float:
        return p.latency_ms if by_latency else float(p.entry.gmacs or 0.0)

    largest = max(p.entry.params_m for p in points) or 1.0
    families = sorted({p.entry.family for p in points})
    on_front = {id(report.points[i]) for i in report.frontier}
    for k, family in enumerate(families):
        group = [p for p in points if p.entry.family == family]
        fig.add_trace(
            go.Scatter(
                x=[xval(p) for p in group],
                y=[p.entry.accuracy for p in group],
                mode="markers",
                name=family,
                marker={
                    "size": [10 + 40 * math.sqrt(p.entry.params_m / largest) for p in group],
                    "color": PALETTE[k % len(PALETTE)],
                    "opacity": 0.75,
                    "line": {
                        "width": [2.5 if id(p) in on_front else 0.8 for p in group],
                        "color": FRONT_COLOUR,
                    },
                },
                customdata=[
                    [
                        escape(p.entry.name),
                        p.latency_ms,
                        p.entry.params_m,
                        p.entry.gmacs if p.entry.gmacs is not None else float("nan"),
                        escape(p.config_label),
                    ]
                    for p in group
                ],
                hovertemplate=(
                    f"<b>%{{customdata[0]}}</b><br>{escape(metric.column)} %{{y:.2f}}%"
                    "<br>p50 %{customdata[1]:.2f} ms"
                    "<br>%{customdata[2]:.1f} M params, %{customdata[3]:.2f} GMACs"
                    "<br>%{customdata[4]}<extra></extra>"
                ),
            )
        )
    front = report.frontier if by_latency else report.gmacs_frontier
    front_points = [report.points[i] for i in front]
    if front_points:
        fig.add_trace(
            go.Scatter(
                x=[xval(p) for p in front_points],
                y=[p.entry.accuracy for p in front_points],
                mode="lines",
                line={"shape": "hv", "color": FRONT_COLOUR, "width": 1.5, "dash": "dot"},
                name="Pareto front",
                text=[escape(p.entry.name) for p in front_points],
                hovertemplate="<b>%{text}</b> (front)<extra></extra>",
            )
        )
    fig.update_xaxes(
        title_text="p50 latency per call (ms, log scale)" if by_latency else "GMACs (log scale)",
        type="log",
    )
    fig.update_yaxes(title_text=f"{metric.title} (%), published")
    fig.update_layout(height=520)
    return fig


def render_frontier_page(report: FrontierReport) -> str:
    """The self-contained ``frontier.html`` of a :class:`FrontierReport`."""
    s = report.settings
    config = (
        "each model at its fastest float configuration"
        if s.get("optimized")
        else f"{s.get('runtime')} {s.get('precision')}"
    )
    subtitle = escape(
        f"{len(report.points)} models measured on this machine, {config}, batch {s.get('batch')}, "
        f"threads {s.get('threads') or 'default'}; {len(report.frontier)} on the front"
    )
    front = set(report.frontier)
    order = sorted(range(len(report.points)), key=lambda i: report.points[i].latency_ms)
    rows: list[tuple[str, list[str]]] = []
    for i in order:
        p = report.points[i]
        flag = "" if p.accuracy_verified else " (accuracy not verified)"
        rows.append(
            (
                "front" if i in front else "",
                [
                    f"<b>{escape(p.entry.name)}</b>" + (" &#9733;" if i in front else ""),
                    escape(p.entry.family),
                    f"{p.entry.accuracy:.2f}{escape(flag)}",
                    escape(ms(p.latency_ms, unit=False)),
                    f"{p.entry.params_m:.1f}",
                    "-" if p.entry.gmacs is None else f"{p.entry.gmacs:.2f}",
                    f"{p.entry.input_size}",
                    escape(p.config_label),
                    "database" if p.reused else "measured",
                ],
            )
        )
    for m in report.missing:
        rows.append(
            (
                "",
                [
                    f"<b>{escape(m.entry.name)}</b>",
                    escape(m.entry.family),
                    f"{m.entry.accuracy:.2f}",
                    f'<span class="tag {m.state.value}">{m.state.value}</span>',
                    f"{m.entry.params_m:.1f}",
                    "-" if m.entry.gmacs is None else f"{m.entry.gmacs:.2f}",
                    f"{m.entry.input_size}",
                    escape(m.reason),
                    "-",
                ],
            )
        )
    table = html_table(
        ["model", "family", f"#{report.published_metric.column} %", "#p50 ms", "#params M",
         "#GMACs", "#input", "config", "source"],
        rows,
    )  # fmt: skip
    body = (
        notes_section(report.notes)
        + '<section class="figures"><h2>Figures</h2>'
        + plots([frontier_figure(report), frontier_figure(report, x="gmacs")])
        + "</section><section><h2>Models (&#9733; = on the front)</h2>"
        + table
        + "</section>"
    )
    return page("hwfit frontier", subtitle, body, report.hardware)
