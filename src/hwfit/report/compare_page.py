"""The page of ``hwfit compare``: the same models on several machines, and the rank flips."""

from __future__ import annotations

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
    from hwfit.records import CompareReport

__all__ = ["compare_figure", "render_compare_page"]


def compare_figure(report: CompareReport) -> go.Figure:
    """Latency on each other machine against the first (log-log), one point per model.

    Points on the dashed diagonal ran equally fast; models in a rank flip are drawn in amber.
    """
    first = report.machines[0].label
    fig = base_figure(f"Latency per model: each machine against {first}")
    flipped = report.flipped_models()
    drawn = False
    for m in range(1, len(report.machines)):
        rows = [r for r in report.rows if r.p50_ms[0] is not None and r.p50_ms[m] is not None]
        if not rows:
            continue
        drawn = True
        fig.add_trace(
            go.Scatter(
                x=[r.p50_ms[0] for r in rows],
                y=[r.p50_ms[m] for r in rows],
                mode="markers",
                name=report.machines[m].label,
                marker={
                    "size": 8,
                    "color": ["#d97706" if r.name in flipped else PALETTE[m % 10] for r in rows],
                    "line": {"width": 0.5, "color": FRONT_COLOUR},
                },
                text=[escape(f"{r.name} b{r.batch} {r.precision}") for r in rows],
                hovertemplate=(
                    f"<b>%{{text}}</b><br>{escape(first)} %{{x:.2f}} ms<br>"
                    f"{escape(report.machines[m].label)} %{{y:.2f}} ms<extra></extra>"
                ),
            )
        )
    if not drawn:
        return empty_figure(fig, "No model was measured on the first machine and another one.")
    values = [v for r in report.rows for v in r.p50_ms if v]
    low, high = min(values) * 0.8, max(values) * 1.25
    fig.add_trace(
        go.Scatter(
            x=[low, high],
            y=[low, high],
            mode="lines",
            line={"dash": "dash", "color": "#6b7280", "width": 1},
            name="equally fast",
            hoverinfo="skip",
        )
    )
    fig.update_xaxes(title_text=f"p50 ms on {first} (log)", type="log")
    fig.update_yaxes(title_text="p50 ms on the other machine (log)", type="log")
    fig.update_layout(height=540)
    return fig


def render_compare_page(report: CompareReport, *, max_rows: int = 400) -> str:
    """The self-contained ``compare.html`` of a :class:`CompareReport`."""
    labels = [m.label for m in report.machines]
    subtitle = escape(
        f"{len(report.rows)} model configurations on {len(labels)} machines; "
        f"{len(report.flips)} rank flips (margin {report.margin:.0%})"
    )
    machines = html_table(
        ["machine", "fingerprint", "from", "#rows"],
        [
            ("", [escape(m.label), f'<span class="mono">{escape(m.fingerprint[:16])}</span>',
                  escape(m.origin), str(len(m.results))])
            for m in report.machines
        ],
    )  # fmt: skip
    flip_rows = [
        (
            "flip",
            [
                escape(f.a.name),
                escape(f.b.name),
                escape(f"{labels[f.x]}: {f.a.name} {f.gain_x:.0%} faster"),
                escape(f"{labels[f.y]}: {f.b.name} {f.gain_y:.0%} faster"),
                escape(f"b{f.a.batch} {f.a.precision} {f.a.runtime or 'fastest runtime'}"),
            ],
        )
        for f in report.flips[:max_rows]
    ]
    flips = (
        html_table(["model A", "model B", "A wins on", "B wins on", "config"], flip_rows)
        if flip_rows
        else "<p>No pair of models changes order beyond the margin.</p>"
    )
    if len(report.flips) > max_rows:
        flips += f"<p>{len(report.flips) - max_rows} weaker flips not shown (see --json).</p>"
    flipped = report.flipped_models()
    rows = sorted(report.rows, key=lambda r: (r.name not in flipped, r.name))[:max_rows]
    side = html_table(
        ["model", "batch", "precision", "runtime"]
        + [f"#{label} ms" for label in labels]
        + [f"#{label} / {labels[0]}" for label in labels[1:]],
        [
            (
                "flip" if r.name in flipped else "",
                [escape(r.name), str(r.batch), escape(r.precision),
                 escape(r.runtime or " / ".join(x or "-" for x in r.runtimes))]
                + [escape(ms(v, unit=False)) for v in r.p50_ms]
                + [("-" if (q := r.ratio(m)) is None else f"{q:.2f}x")
                   for m in range(1, len(labels))],
            )
            for r in rows
        ],
    )  # fmt: skip
    body = (
        notes_section(report.notes)
        + f"<section><h2>Machines</h2>{machines}</section>"
        + f'<section class="figures"><h2>Figures</h2>{plots([compare_figure(report)])}</section>'
        + f"<section><h2>Rank flips (strongest first)</h2>{flips}</section>"
        + f"<section><h2>Side by side (flipped models first)</h2>{side}</section>"
    )
    hardware = report.machines[0].profile
    return page("hwfit compare", subtitle, body, hardware)
