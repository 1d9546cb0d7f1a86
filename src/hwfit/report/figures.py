"""Plotly figures of an ``optimize`` run, as pure functions of its records.

Every function takes the candidates' :class:`~hwfit.records.Outcome` records and the PyTorch
eager FP32 baseline and returns a :class:`plotly.graph_objects.Figure`; nothing is measured or
read here. Candidates without the numbers a figure needs (failed, skipped, no size, no accuracy)
are left out of that figure; the report's table still lists them. The baseline is drawn as a
bar of its own (when it is not among ``outcomes`` it is added) so that every chart shows what
each candidate is compared with.

Colours carry one meaning across all four figures: grey is the baseline, green the winner, blue
the other measured candidates and hatched light grey the rejected ones (measured, but over the
accuracy or latency budget).
"""

from __future__ import annotations

import html
import textwrap
from collections.abc import Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from hwfit.records import LatencyStats, Outcome, RowState

__all__ = ["accuracy_figure", "latency_figure", "size_figure", "speedup_figure"]

_BASELINE_COLOUR = "#6b7280"
_WINNER_COLOUR = "#16a34a"
_CANDIDATE_COLOUR = "#3b82f6"
_REJECTED_COLOUR = "#cbd5e1"
_INK = "#1f2937"
_HEIGHT_PX = 430

# Trace order = legend order; (role, legend name, colour, bar hatch).
_ROLES: tuple[tuple[str, str, str, str], ...] = (
    ("baseline", "PyTorch eager FP32 (baseline)", _BASELINE_COLOUR, ""),
    ("winner", "winner", _WINNER_COLOUR, ""),
    ("candidate", "within budget, slower", _CANDIDATE_COLOUR, ""),
    ("rejected", "rejected (over budget)", _REJECTED_COLOUR, "/"),
)


def latency_figure(
    outcomes: Sequence[Outcome], baseline: Outcome, *, winner: Outcome | None = None
) -> go.Figure:
    """Median latency per measured candidate, with its confidence interval and tail.

    Bars are the p50 (median) latency, fastest first, with error bars spanning the 95%
    confidence interval of the median; p90 and p99 are drawn as markers above each bar, and a
    dashed line marks the baseline's median.

    Args:
        outcomes: The candidates of the run (the baseline may be among them).
        baseline: The PyTorch eager FP32 reference.
        winner: The chosen candidate, highlighted; None when nothing met the budget.

    Returns:
        A bar chart; a figure with a note in place of bars when nothing was measured.
    """
    rows = sorted(_measured(outcomes, baseline), key=_p50)
    fig = base_figure("Latency per call: median with 95% CI, p90 and p99")
    if not rows:
        return empty_figure(fig, "No candidate was measured.")
    for role, name, colour, hatch in _ROLES:
        group = [o for o in rows if role_of(o, baseline, winner) == role]
        if not group:
            continue
        fig.add_trace(
            go.Bar(
                x=[o.candidate.label for o in group],
                y=[_p50(o) for o in group],
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": [_lat(o).ci_high_ms - _lat(o).p50_ms for o in group],
                    "arrayminus": [_lat(o).p50_ms - _lat(o).ci_low_ms for o in group],
                    "color": _INK,
                    "thickness": 1.2,
                    "width": 5,
                },
                name=name,
                marker={"color": colour, "pattern": {"shape": hatch, "fgcolor": "#64748b"}},
                customdata=[_hover_note(o) for o in group],
                hovertemplate=("<b>%{x}</b><br>p50 %{y:.3f} ms<br>%{customdata}<extra></extra>"),
            )
        )
    for pct, symbol in (("p90", "triangle-up-open"), ("p99", "x-thin-open")):
        fig.add_trace(
            go.Scatter(
                x=[o.candidate.label for o in rows],
                y=[getattr(_lat(o), f"{pct}_ms") for o in rows],
                mode="markers",
                name=pct,
                marker={"symbol": symbol, "size": 9, "color": _INK, "line": {"width": 1.5}},
                hovertemplate=f"<b>%{{x}}</b><br>{pct} %{{y:.3f}} ms<extra></extra>",
            )
        )
    if baseline.bench is not None and baseline.bench.latency is not None:
        fig.add_hline(
            y=baseline.bench.latency.p50_ms,
            line={"dash": "dash", "color": _BASELINE_COLOUR, "width": 1.5},
            name=f"baseline p50 {baseline.bench.latency.p50_ms:.2f} ms",
            showlegend=True,
        )
    _category_axis(fig, [o.candidate.label for o in rows])
    fig.update_yaxes(title_text="latency per call (ms)", rangemode="tozero")
    return fig


def size_figure(
    outcomes: Sequence[Outcome], baseline: Outcome, *, winner: Outcome | None = None
) -> go.Figure:
    """Artifact size per candidate (bars) against its median latency (line, right axis).

    Candidates are ordered from the largest artifact to the smallest, so the bars fall to the
    right while the latency line shows whether a smaller file actually ran faster.

    Args:
        outcomes: The candidates of the run (the baseline may be among them).
        baseline: The PyTorch eager FP32 reference.
        winner: The chosen candidate, highlighted; None when nothing met the budget.

    Returns:
        A bar chart with a secondary y axis; a figure with a note when no size is known.
    """
    rows = [o for o in _measured(outcomes, baseline) if size_bytes(o) is not None]
    rows.sort(key=lambda o: (-(size_bytes(o) or 0), _p50(o)))
    fig = base_figure(
        "Artifact size vs latency: a smaller file is not always a faster one",
        figure=make_subplots(specs=[[{"secondary_y": True}]]),
    )
    if not rows:
        return empty_figure(fig, "No measured candidate has a known artifact size.")
    for role, name, colour, hatch in _ROLES:
        group = [o for o in rows if role_of(o, baseline, winner) == role]
        if not group:
            continue
        fig.add_trace(
            go.Bar(
                x=[o.candidate.label for o in group],
                y=[(size_bytes(o) or 0) / 1e6 for o in group],
                name=name,
                marker={"color": colour, "pattern": {"shape": hatch, "fgcolor": "#64748b"}},
                customdata=[_hover_note(o) for o in group],
                hovertemplate="<b>%{x}</b><br>%{y:.2f} MB<br>%{customdata}<extra></extra>",
            ),
            secondary_y=False,
        )
    fig.add_trace(
        go.Scatter(
            x=[o.candidate.label for o in rows],
            y=[_p50(o) for o in rows],
            mode="lines+markers",
            name="p50 latency (right axis)",
            line={"color": "#ea580c", "width": 2},
            marker={"size": 8, "symbol": "diamond"},
            hovertemplate="<b>%{x}</b><br>p50 %{y:.3f} ms<extra></extra>",
        ),
        secondary_y=True,
    )
    _category_axis(fig, [o.candidate.label for o in rows])
    largest_mb = max((size_bytes(o) or 0) / 1e6 for o in rows)
    fig.update_yaxes(
        title_text="artifact size (MB)", range=[0, largest_mb * 1.08], secondary_y=False
    )
    fig.update_yaxes(
        title_text="p50 latency (ms)",
        rangemode="tozero",
        showgrid=False,
        tickmode="auto",
        secondary_y=True,
    )
    return fig


def accuracy_figure(
    outcomes: Sequence[Outcome],
    baseline: Outcome,
    budget_points: float,
    metric: str,
    *,
    winner: Outcome | None = None,
    higher_is_better: bool = True,
) -> go.Figure:
    """The budgeted accuracy metric per candidate, against the baseline and the budget line.

    Each candidate is a dot (a bar would hide differences of a tenth of a point); a solid line
    marks the baseline's value and a dashed one the lowest value the budget allows
    (baseline - ``budget_points``), with the region below it shaded.

    Args:
        outcomes: The candidates of the run (the baseline may be among them).
        baseline: The PyTorch eager FP32 reference.
        budget_points: How many points of ``metric`` a candidate may lose.
        metric: The key of :attr:`Outcome.accuracy` the budget applies to ("top1", "agreement").
        winner: The chosen candidate, highlighted; None when nothing met the budget.
        higher_is_better: False for an error metric: the budget line is then a ceiling
            (baseline + ``budget_points``), the region above it shaded.

    Returns:
        A dot chart; a figure with a note when no candidate has the metric.
    """
    rows = [o for o in _measured(outcomes, baseline) if metric_value(o, metric) is not None]
    rows.sort(key=_p50)
    fig = base_figure(f"Accuracy: {metric} per candidate and the budget")
    if not rows:
        return empty_figure(fig, f"No candidate has a {metric!r} measurement.")
    symbols = {"baseline": "circle", "winner": "star", "candidate": "circle", "rejected": "x"}
    for role, name, colour, _hatch in _ROLES:
        group = [o for o in rows if role_of(o, baseline, winner) == role]
        if not group:
            continue
        fig.add_trace(
            go.Scatter(
                x=[o.candidate.label for o in group],
                y=[metric_value(o, metric) for o in group],
                mode="markers",
                name=name,
                marker={
                    "symbol": symbols[role],
                    "size": 15 if role == "winner" else 12,
                    "color": "#94a3b8" if role == "rejected" else colour,
                    "line": {"width": 1, "color": _INK},
                },
                customdata=[_hover_note(o) for o in group],
                hovertemplate=(
                    f"<b>%{{x}}</b><br>{html.escape(metric)} %{{y:.4g}}"
                    "<br>%{customdata}<extra></extra>"
                ),
            )
        )
    reference = metric_value(baseline, metric)
    if reference is not None:
        sign = 1.0 if higher_is_better else -1.0
        threshold = reference - sign * budget_points
        fig.add_hline(
            y=reference,
            line={"color": _BASELINE_COLOUR, "width": 1.5},
            name=f"baseline {reference:.2f}",
            showlegend=True,
        )
        fig.add_hline(
            y=threshold,
            line={"color": "#dc2626", "dash": "dash", "width": 1.5},
            name=f"budget {'floor' if higher_is_better else 'ceiling'} {threshold:.4g} "
            f"(baseline {'-' if higher_is_better else '+'} {budget_points:g})",
            showlegend=True,
        )
        values = [v for o in rows if (v := metric_value(o, metric)) is not None]
        low = min([*values, threshold, reference])
        high = max([*values, reference, threshold])
        pad = max((high - low) * 0.15, 1e-3 if not higher_is_better else 0.05)
        beyond = low - pad if higher_is_better else high + pad
        fig.add_hrect(y0=beyond, y1=threshold, fillcolor="#fee2e2", opacity=0.5, line_width=0)
        fig.update_yaxes(range=[low - pad, high + pad])
    _category_axis(fig, [o.candidate.label for o in rows])
    fig.update_yaxes(title_text=metric)
    return fig


def speedup_figure(
    outcomes: Sequence[Outcome], baseline: Outcome, *, winner: Outcome | None = None
) -> go.Figure:
    """Speed-up of each measured candidate over the baseline, measured paired, with its CI.

    Args:
        outcomes: The candidates of the run (the baseline may be among them).
        baseline: The PyTorch eager FP32 reference.
        winner: The chosen candidate, highlighted; None when nothing met the budget.

    Returns:
        A bar chart with a line at 1.0x; a figure with a note when the baseline or every
        candidate lacks a measurement.
    """
    fig = base_figure(
        "Speed-up over the FP32 baseline (measured paired: alternating windows, 95% CI)"
    )
    rows = [
        o
        for o in sorted(_measured(outcomes, baseline), key=_p50)
        if o is not baseline and o.bench is not None and o.bench.speedup is not None
    ]
    if not rows:
        return empty_figure(fig, "No candidate has a paired speed-up measurement.")
    for role, name, colour, hatch in _ROLES:
        group = [o for o in rows if role_of(o, baseline, winner) == role]
        if not group:
            continue
        figures = [o.bench.speedup for o in group if o.bench and o.bench.speedup]
        ratios = [f.speedup for f in figures]
        fig.add_trace(
            go.Bar(
                x=[o.candidate.label for o in group],
                y=ratios,
                name=name,
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": [f.ci_high - f.speedup for f in figures],
                    "arrayminus": [f.speedup - f.ci_low for f in figures],
                },
                text=[("~" if f.noisy else "") + f"{f.speedup:.2f}x" for f in figures],
                textposition="outside",
                cliponaxis=False,
                marker={"color": colour, "pattern": {"shape": hatch, "fgcolor": "#64748b"}},
                customdata=[_hover_note(o) for o in group],
                hovertemplate="<b>%{x}</b><br>%{y:.2f}x<br>%{customdata}<extra></extra>",
            )
        )
    fig.add_hline(
        y=1.0,
        line={"dash": "dash", "color": _BASELINE_COLOUR, "width": 1.5},
        name="1.0x = as fast as the baseline",
        showlegend=True,
    )
    _category_axis(fig, [o.candidate.label for o in rows])
    fig.update_yaxes(title_text="speed-up (x)", rangemode="tozero")
    return fig


# -- shared with html.py ------------------------------------------------------------------------


def has_latency(outcome: Outcome) -> bool:
    """True when the candidate was measured."""
    return outcome.bench is not None and outcome.bench.latency is not None


def size_bytes(outcome: Outcome) -> int | None:
    """The artifact the candidate produced, or failing that the one its benchmark ran."""
    if outcome.artifact_size_bytes is not None:
        return outcome.artifact_size_bytes
    return outcome.bench.artifact_size_bytes if outcome.bench is not None else None


def metric_value(outcome: Outcome, metric: str) -> float | None:
    """The candidate's accuracy on ``metric``, when it was checked."""
    return (outcome.accuracy or {}).get(metric)


def with_baseline(outcomes: Sequence[Outcome], baseline: Outcome) -> list[Outcome]:
    """``outcomes``, with the baseline first when it is not among them."""
    if any(o.candidate == baseline.candidate for o in outcomes):
        return list(outcomes)
    return [baseline, *outcomes]


def role_of(outcome: Outcome, baseline: Outcome, winner: Outcome | None) -> str:
    """The tag a candidate gets in the table and plots ("winner", "baseline", its state)."""
    if winner is not None and outcome.candidate == winner.candidate:
        return "winner"
    if outcome.candidate == baseline.candidate:
        return "baseline"
    if outcome.state is RowState.REJECTED:
        return "rejected"
    return "candidate"


# -- private ------------------------------------------------------------------------------------


def _measured(outcomes: Sequence[Outcome], baseline: Outcome) -> list[Outcome]:
    return [o for o in with_baseline(outcomes, baseline) if has_latency(o)]


def _lat(outcome: Outcome) -> LatencyStats:
    # Only called on rows _measured() kept, which all carry a latency.
    if outcome.bench is None or outcome.bench.latency is None:  # pragma: no cover - guarded
        raise ValueError(f"{outcome.candidate.label!r} has no latency measurement.")
    return outcome.bench.latency


def _p50(outcome: Outcome) -> float:
    return _lat(outcome).p50_ms


def _hover_note(outcome: Outcome) -> str:
    """The state and reason for the tooltip, escaped (plotly renders a subset of HTML)."""
    note = outcome.state.value
    if outcome.reason:
        note += ": " + outcome.reason
    return "<br>".join(html.escape(line) for line in textwrap.wrap(note, 70))


def base_figure(title: str, *, figure: go.Figure | None = None) -> go.Figure:
    """A figure (new, or ``figure``) in the pages' common layout, titled ``title``."""
    fig = figure if figure is not None else go.Figure()
    fig.update_layout(
        # The title sits at the very top so that a legend wrapping to two rows fits under it.
        title={
            "text": html.escape(title),
            "x": 0.0,
            "xanchor": "left",
            "yref": "container",
            "y": 1.0,
            "yanchor": "top",
            "pad": {"t": 12, "l": 8},
            "font": {"size": 16},
        },
        template="plotly_white",
        height=_HEIGHT_PX,
        margin={"l": 64, "r": 24, "t": 96, "b": 24},
        barmode="overlay",
        font={"family": "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif", "size": 12},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "x": 0.0, "xanchor": "left"},
        hoverlabel={"align": "left"},
    )
    return fig


def _category_axis(fig: go.Figure, labels: list[str]) -> None:
    # One trace per role: without an explicit order plotly would group the bars by role.
    fig.update_xaxes(
        type="category",
        categoryorder="array",
        categoryarray=labels,
        tickangle=-25 if len(labels) > 4 else 0,
        automargin=True,
    )


def empty_figure(fig: go.Figure, message: str) -> go.Figure:
    """``fig`` with ``message`` in its middle, for a plot with nothing to show."""
    fig.add_annotation(
        text=html.escape(message),
        xref="paper",
        yref="paper",
        x=0.5,
        y=0.5,
        showarrow=False,
        font={"size": 14, "color": _BASELINE_COLOUR},
    )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.update_layout(height=180)  # a note, not a chart: don't leave a screenful of white
    return fig
