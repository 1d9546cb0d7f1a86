"""The pages of ``hwfit frontier``, ``hwfit compare`` and ``hwfit gap``.

Each is one self-contained HTML file in the style of the optimize report (same stylesheet and
hardware footer from :mod:`hwfit.report.html`): plotly.js inlined once, no network, and every
piece of text that comes from a user, a file or a runtime escaped.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import plotly.graph_objects as go
import plotly.offline

from hwfit._version import tool_versions
from hwfit.report.figures import _base_figure, _empty
from hwfit.report.html import _CSS, _PLOT_CONFIG, _e, _footer, _ms

if TYPE_CHECKING:
    from hwfit.analysis.compare import CompareReport
    from hwfit.analysis.frontier import FrontierPoint, FrontierReport
    from hwfit.analysis.gap import GapReport, GapSide

__all__ = [
    "compare_figure",
    "frontier_figure",
    "gap_figure",
    "render_compare_page",
    "render_frontier_page",
    "render_gap_page",
]

# A qualitative palette that stays readable on white and in grey print.
_PALETTE = (
    "#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#4b5563",
    "#65a30d", "#9333ea",
)  # fmt: skip
_FRONT_COLOUR = "#111827"
_EXTRA_CSS = """
tr.front td { background: #f0fdf4; }
tr.flip td { background: #fef3c7; }
.mono { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12px; }
pre { background: #0f172a; color: #e2e8f0; padding: 12px 14px; border-radius: 6px;
  overflow-x: auto; font-size: 13px; }
"""


def _page(title: str, subtitle: str, body: str, hardware: Mapping[str, Any]) -> str:
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(title)}</title>
<style>{_CSS}{_EXTRA_CSS}</style>
<script>{plotly.offline.get_plotlyjs()}</script>
</head>
<body>
<main>
<header>
<h1>{_e(title)}</h1>
<p class="model">{subtitle}</p>
</header>
{body}
{_footer(hardware, tool_versions())}
</main>
</body>
</html>
"""


def _plots(figures: Sequence[go.Figure]) -> str:
    return "\n".join(
        '<div class="plot">'
        + fig.to_html(full_html=False, include_plotlyjs=False, config=_PLOT_CONFIG)
        + "</div>"
        for fig in figures
    )


def _notes(notes: Sequence[str], title: str = "Notes") -> str:
    if not notes:
        return ""
    items = "".join(f"<li>{_e(n)}</li>" for n in notes)
    return f'<section class="notes card"><h2>{_e(title)}</h2><ul>{items}</ul></section>'


def _table(head: Sequence[str], rows: Sequence[tuple[str, Sequence[str]]]) -> str:
    """``rows``: (css class of the row, already-escaped cells); a head starting "#" is numeric."""
    th = "".join(
        f'<th class="num">{_e(h[1:])}</th>' if h.startswith("#") else f"<th>{_e(h)}</th>"
        for h in head
    )
    numeric = [h.startswith("#") for h in head]
    body = "".join(
        f'<tr class="{cls}">'
        + "".join(
            f'<td class="num">{c}</td>' if numeric[i] else f"<td>{c}</td>"
            for i, c in enumerate(cells)
        )
        + "</tr>"
        for cls, cells in rows
    )
    table = f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"
    return f'<div class="table-wrap">{table}</div>'


# -- frontier -----------------------------------------------------------------------------------


def frontier_figure(report: FrontierReport, *, x: str = "latency") -> go.Figure:
    """Top-1 against latency (``x="latency"``) or GMACs (``x="gmacs"``), one colour per family.

    Bubble area follows the parameter count; the Pareto front is a step line through its
    models (no model lies above and to the left of it).
    """
    by_latency = x == "latency"
    title = (
        "Published top-1 vs measured latency (bubble: parameters; line: Pareto front)"
        if by_latency
        else "Published top-1 vs GMACs (line: front by GMACs; ringed: front by latency)"
    )
    fig = _base_figure(title)
    points = list(report.points)
    if not by_latency:
        points = [p for p in points if p.entry.gmacs is not None]
    if not points:
        return _empty(fig, "No model was measured." if by_latency else "No model has GMACs.")

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
                y=[p.entry.top1 for p in group],
                mode="markers",
                name=family,
                marker={
                    "size": [10 + 40 * math.sqrt(p.entry.params_m / largest) for p in group],
                    "color": _PALETTE[k % len(_PALETTE)],
                    "opacity": 0.75,
                    "line": {
                        "width": [2.5 if id(p) in on_front else 0.8 for p in group],
                        "color": _FRONT_COLOUR,
                    },
                },
                customdata=[
                    [
                        _e(p.entry.name),
                        p.latency_ms,
                        p.entry.params_m,
                        p.entry.gmacs if p.entry.gmacs is not None else float("nan"),
                        _e(p.config_label),
                    ]
                    for p in group
                ],
                hovertemplate=(
                    "<b>%{customdata[0]}</b><br>top-1 %{y:.2f}%<br>p50 %{customdata[1]:.2f} ms"
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
                y=[p.entry.top1 for p in front_points],
                mode="lines",
                line={"shape": "hv", "color": _FRONT_COLOUR, "width": 1.5, "dash": "dot"},
                name="Pareto front",
                text=[_e(p.entry.name) for p in front_points],
                hovertemplate="<b>%{text}</b> (front)<extra></extra>",
            )
        )
    fig.update_xaxes(
        title_text="p50 latency per call (ms, log scale)" if by_latency else "GMACs (log scale)",
        type="log",
    )
    fig.update_yaxes(title_text="ImageNet-1k top-1 (%), published")
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
    subtitle = _e(
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
                    f"<b>{_e(p.entry.name)}</b>" + (" &#9733;" if i in front else ""),
                    _e(p.entry.family),
                    f"{p.entry.top1:.2f}{_e(flag)}",
                    _e(_ms(p.latency_ms, unit=False)),
                    f"{p.entry.params_m:.1f}",
                    "-" if p.entry.gmacs is None else f"{p.entry.gmacs:.2f}",
                    f"{p.entry.input_size}",
                    _e(p.config_label),
                    "database" if p.reused else "measured",
                ],
            )
        )
    for m in report.missing:
        rows.append(
            (
                "",
                [
                    f"<b>{_e(m.entry.name)}</b>",
                    _e(m.entry.family),
                    f"{m.entry.top1:.2f}",
                    f'<span class="tag {m.state.value}">{m.state.value}</span>',
                    f"{m.entry.params_m:.1f}",
                    "-" if m.entry.gmacs is None else f"{m.entry.gmacs:.2f}",
                    f"{m.entry.input_size}",
                    _e(m.reason),
                    "-",
                ],
            )
        )
    table = _table(
        ["model", "family", "#top-1 %", "#p50 ms", "#params M", "#GMACs", "#input", "config",
         "source"],
        rows,
    )  # fmt: skip
    body = (
        _notes(report.notes)
        + '<section class="figures"><h2>Figures</h2>'
        + _plots([frontier_figure(report), frontier_figure(report, x="gmacs")])
        + "</section><section><h2>Models (&#9733; = on the front)</h2>"
        + table
        + "</section>"
    )
    return _page("hwfit frontier", subtitle, body, report.hardware)


# -- compare ------------------------------------------------------------------------------------


def compare_figure(report: CompareReport) -> go.Figure:
    """Latency on each other machine against the first (log-log), one point per model.

    Points on the dashed diagonal ran equally fast; models in a rank flip are drawn in amber.
    """
    first = report.machines[0].label
    fig = _base_figure(f"Latency per model: each machine against {first}")
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
                    "color": ["#d97706" if r.name in flipped else _PALETTE[m % 10] for r in rows],
                    "line": {"width": 0.5, "color": _FRONT_COLOUR},
                },
                text=[_e(f"{r.name} b{r.batch} {r.precision}") for r in rows],
                hovertemplate=(
                    f"<b>%{{text}}</b><br>{_e(first)} %{{x:.2f}} ms<br>"
                    f"{_e(report.machines[m].label)} %{{y:.2f}} ms<extra></extra>"
                ),
            )
        )
    if not drawn:
        return _empty(fig, "No model was measured on the first machine and another one.")
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
    subtitle = _e(
        f"{len(report.rows)} model configurations on {len(labels)} machines; "
        f"{len(report.flips)} rank flips (margin {report.margin:.0%})"
    )
    machines = _table(
        ["machine", "fingerprint", "from", "#rows"],
        [
            ("", [_e(m.label), f'<span class="mono">{_e(m.fingerprint[:16])}</span>',
                  _e(m.origin), str(len(m.results))])
            for m in report.machines
        ],
    )  # fmt: skip
    flip_rows = [
        (
            "flip",
            [
                _e(f.a.name),
                _e(f.b.name),
                _e(f"{labels[f.x]}: {f.a.name} {f.gain_x:.0%} faster"),
                _e(f"{labels[f.y]}: {f.b.name} {f.gain_y:.0%} faster"),
                _e(f"b{f.a.batch} {f.a.precision} {f.a.runtime or 'fastest runtime'}"),
            ],
        )
        for f in report.flips[:max_rows]
    ]
    flips = (
        _table(["model A", "model B", "A wins on", "B wins on", "config"], flip_rows)
        if flip_rows
        else "<p>No pair of models changes order beyond the margin.</p>"
    )
    if len(report.flips) > max_rows:
        flips += f"<p>{len(report.flips) - max_rows} weaker flips not shown (see --json).</p>"
    flipped = report.flipped_models()
    rows = sorted(report.rows, key=lambda r: (r.name not in flipped, r.name))[:max_rows]
    side = _table(
        ["model", "batch", "precision", "runtime"]
        + [f"#{label} ms" for label in labels]
        + [f"#{label} / {labels[0]}" for label in labels[1:]],
        [
            (
                "flip" if r.name in flipped else "",
                [_e(r.name), str(r.batch), _e(r.precision),
                 _e(r.runtime or " / ".join(x or "-" for x in r.runtimes))]
                + [_e(_ms(v, unit=False)) for v in r.p50_ms]
                + [("-" if (q := r.ratio(m)) is None else f"{q:.2f}x")
                   for m in range(1, len(labels))],
            )
            for r in rows
        ],
    )  # fmt: skip
    body = (
        _notes(report.notes)
        + f"<section><h2>Machines</h2>{machines}</section>"
        + f'<section class="figures"><h2>Figures</h2>{_plots([compare_figure(report)])}</section>'
        + f"<section><h2>Rank flips (strongest first)</h2>{flips}</section>"
        + f"<section><h2>Side by side (flipped models first)</h2>{side}</section>"
    )
    hardware = report.machines[0].profile
    return _page("hwfit compare", subtitle, body, hardware)


# -- gap ----------------------------------------------------------------------------------------


def gap_figure(report: GapReport) -> go.Figure:
    """Per-sample time (ms per image) on CPU and GPU at each step, with the gap written on top."""
    fig = _base_figure("Time per image: CPU vs GPU, defaults and best (log scale)")
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
            texts.append(_e(side.label))
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
        return _empty(fig, "Nothing was measured.")
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
    subtitle = _e(
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
                            _e(step.name),
                            device,
                            "-",
                            "-",
                            "-",
                            "-",
                            _e(step.note or "not measured"),
                        ],
                    )
                )
                continue
            rows.append(
                (
                    "",
                    [
                        _e(step.name),
                        device,
                        _e(side.label),
                        _e(_ms(side.p50_ms, unit=False)),
                        "-" if side.throughput is None else f"{side.throughput:,.1f}",
                        _e(side.input),
                        _e(f"{side.origin}; {side.machine}"),
                    ],
                )
            )
        lat, thr = step.latency_ratio, step.throughput_ratio
        rows.append(
            (
                "front",
                [
                    _e(step.name),
                    "<b>gap</b>",
                    "",
                    "-"
                    if lat is None
                    else (
                        f"<b>{_e(step.paired.text())}</b> paired"
                        if step.paired is not None
                        else f"<b>{lat:.1f}x</b> ({_e(step.paired_note or 'unpaired')})"
                    ),
                    "-" if thr is None else f"<b>{thr:.1f}x</b>",
                    "",
                    "CPU latency / GPU latency; GPU samples/s / CPU samples/s",
                ],
            )
        )
    table = _table(
        ["step", "device", "configuration", "#p50 ms", "#samples/s", "input", "from"], rows
    )
    body = _notes(report.notes)
    if report.instructions:
        body += (
            '<section class="card"><h2>No GPU numbers yet: what to run where</h2><pre>'
            + _e("\n".join(report.instructions))
            + "</pre></section>"
        )
    body += (
        f'<section class="figures"><h2>Figures</h2>{_plots([gap_figure(report)])}</section>'
        f"<section><h2>CPU vs GPU</h2>{table}</section>"
    )
    return _page(f"hwfit gap: {report.model}", subtitle, body, report.hardware)
