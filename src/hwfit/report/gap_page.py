"""The page of ``hwfit gap``: one model's CPU-vs-GPU table, step by step."""

from __future__ import annotations

from typing import TYPE_CHECKING

import plotly.graph_objects as go

from hwfit.report._page import (
    escape,
    html_table,
    ms,
    notes_section,
    page,
    plots,
)
from hwfit.report.figures import base_figure, empty_figure

if TYPE_CHECKING:
    from hwfit.records import GapReport, GapSide

__all__ = ["gap_figure", "render_gap_page"]


def gap_figure(report: GapReport) -> go.Figure:
    """Per-sample time (ms per image) on CPU and GPU at each step, with the gap written on top."""
    fig = base_figure("Time per image: CPU vs GPU, defaults and best (log scale)")
    drawn = False
    for device, colour in (("CPU", "#2563eb"), ("GPU", "#16a34a")):
        xs, ys, texts = [], [], []
        for step in report.steps:
            side = step.cpu if device == "CPU" else step.gpu
            if side is None:
                continue
            per = _per_sample(side)
            if per is None:
                continue
            xs.append(step.name)
            ys.append(per)
            texts.append(escape(side.label))
        if xs:
            drawn = True
            fig.add_trace(
                go.Bar(
                    x=xs,
                    y=ys,
                    name=device,
                    marker={"color": colour},
                    text=texts,
                    textposition="outside",
                    cliponaxis=False,
                    hovertemplate=(
                        f"{device} %{{x}}: %{{y:.3f}} ms/image<br>%{{text}}<extra></extra>"
                    ),
                )
            )
    if not drawn:
        return empty_figure(fig, "Nothing was measured.")
    fig.update_layout(barmode="group")
    fig.update_yaxes(title_text="ms per image (1000 / samples per s)", type="log")
    fig.update_xaxes(type="category")
    return fig


def _per_sample(side: GapSide) -> float | None:
    if side.throughput:
        return 1000.0 / side.throughput
    return side.p50_ms / side.batch if side.p50_ms is not None else None


def render_gap_page(report: GapReport) -> str:
    """The self-contained ``gap.html`` of a :class:`GapReport`."""
    subtitle = escape(
        f"{report.model}, input {report.input}; GPU "
        + ("measured on this machine" if report.gpu_here else "numbers from the database")
    )
    rows = []
    for step in report.steps:
        for side, device in ((step.cpu, "CPU"), (step.gpu, "GPU")):
            if side is None:
                rows.append(
                    (
                        "",
                        [
                            escape(step.name),
                            device,
                            "-",
                            "-",
                            "-",
                            "-",
                            escape(step.note or "not measured"),
                        ],
                    )
                )
                continue
            rows.append(
                (
                    "",
                    [
                        escape(step.name),
                        device,
                        escape(side.label),
                        escape(ms(side.p50_ms, unit=False)),
                        "-" if side.throughput is None else f"{side.throughput:,.1f}",
                        escape(side.input),
                        escape(f"{side.origin}; {side.machine}"),
                    ],
                )
            )
        lat, thr = step.latency_ratio, step.throughput_ratio
        rows.append(
            (
                "front",
                [
                    escape(step.name),
                    "<b>gap</b>",
                    "",
                    "-"
                    if lat is None
                    else (
                        f"<b>{escape(step.paired.text())}</b> paired"
                        if step.paired is not None
                        else f"<b>{lat:.1f}x</b> ({escape(step.paired_note or 'unpaired')})"
                    ),
                    "-" if thr is None else f"<b>{thr:.1f}x</b>",
                    "",
                    "CPU latency / GPU latency; GPU samples/s / CPU samples/s",
                ],
            )
        )
    table = html_table(
        ["step", "device", "configuration", "#p50 ms", "#samples/s", "input", "from"], rows
    )
    body = notes_section(report.notes)
    if report.instructions:
        body += (
            '<section class="card"><h2>No GPU numbers yet: what to run where</h2><pre>'
            + escape("\n".join(report.instructions))
            + "</pre></section>"
        )
    body += (
        f'<section class="figures"><h2>Figures</h2>{plots([gap_figure(report)])}</section>'
        f"<section><h2>CPU vs GPU</h2>{table}</section>"
    )
    return page(f"hwfit gap: {report.model}", subtitle, body, report.hardware)
