"""The ``hwfit optimize`` report: one self-contained HTML page that opens offline.

The page inlines plotly.js once (in ``<head>``) and embeds the four figures of
:mod:`hwfit.report.figures` after it; it loads nothing from the network (no CDN, no web fonts).
Every piece of text that comes from the user or from a runtime (model names, error messages,
notes, versions) is escaped with :func:`html.escape`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hwfit.records import KnobTuning, LayerProfile, Outcome, RowState
from hwfit.report._page import escape, ms, notes_section, page, plots
from hwfit.report.figures import (
    accuracy_figure,
    has_latency,
    latency_figure,
    metric_value,
    role_of,
    size_bytes,
    size_figure,
    speedup_figure,
    with_baseline,
)

__all__ = ["render_optimize_page", "write_report"]


def render_optimize_page(
    *,
    title: str,
    model: Mapping[str, Any],
    outcomes: Sequence[Outcome],
    baseline: Outcome,
    winner: Outcome | None,
    budget_text: str,
    metric: str,
    budget_points: float,
    hardware: Mapping[str, Any],
    versions: Mapping[str, str],
    notes: Sequence[str],
    profiles: Sequence[LayerProfile] = (),
    knobs: KnobTuning | None = None,
    percent: bool = True,
    higher_is_better: bool = True,
) -> str:
    """Return the whole report page of one ``optimize`` run as a self-contained HTML string.

    Args:
        title: The page heading (escaped).
        model: The model's :class:`~hwfit.records.ModelInfo` as a dict (``to_dict``); the keys
            present are shown (source, kind, input, params, macs, content hash).
        outcomes: Every candidate, in any order; the table lists them all, the figures the
            measured ones.
        baseline: The PyTorch eager FP32 reference the speed-ups and accuracy drops refer to.
        winner: The chosen candidate, or None when no candidate met the budget.
        budget_text: The budget as the user gave it, e.g. "top-1 drop <= 1.0 point".
        metric: The key of :attr:`Outcome.accuracy` the budget applies to.
        budget_points: The points of ``metric`` a candidate may lose (the figure's threshold).
        hardware: :meth:`HardwareProfile.to_dict` output; missing keys are left out.
        versions: Tool name to version (hwfit, torch, onnxruntime, openvino, ...).
        notes: Findings to list under the verdict, e.g. why INT8 did not pay off.
        profiles: Per-layer-type times of the profiled candidates, the winner first.
        knobs: The knob tuner's trials on the winner's runtime settings (None: not tuned).
        percent: ``metric`` is a percentage, its drops points (False: a user's metric, shown
            in its own units).
        higher_is_better: The direction of ``metric`` (False: an error, whose rise is a drop).

    Returns:
        The HTML document, plotly.js inlined exactly once.
    """
    figures = [
        latency_figure(outcomes, baseline, winner=winner),
        speedup_figure(outcomes, baseline, winner=winner),
        size_figure(outcomes, baseline, winner=winner),
        accuracy_figure(
            outcomes,
            baseline,
            budget_points,
            metric,
            winner=winner,
            higher_is_better=higher_is_better,
        ),
    ]
    fmt = _Format(percent)
    body = f"""{_verdict(winner, baseline, metric, budget_text, fmt)}
{notes_section(notes)}
<section class="figures">
<h2>Figures</h2>
{plots(figures)}
</section>
<section>
<h2>Candidates</h2>
{_table(outcomes, baseline, winner, metric, fmt)}
</section>
{_knobs(knobs)}
{_profiles(profiles)}"""
    return page(title, _model_line(model), body, hardware, versions)


def _knobs(tuning: KnobTuning | None) -> str:
    """Every runtime setting tried on the winner, its paired figure and why it won or lost."""
    if tuning is None:
        return ""
    space = "; ".join(f"{k}: {', '.join(v)}" for k, v in tuning.space)
    how = (
        "every combination"
        if tuning.sampler == "grid"
        else "combinations chosen by Optuna's TPE sampler, told each round's figures"
    )
    kept = (
        f"Kept: <b>{escape(', '.join(f'{k}={v}' for k, v in tuning.chosen))}</b>, "
        f"{escape(tuning.confirmed.text())} the speed of the defaults when measured again."
        if tuning.chosen and tuning.confirmed is not None
        else "Kept: the runtime's defaults."
    )
    rows = "".join(
        f"<tr><td>{escape(t.label)}</td>"
        f'<td class="num">{escape(t.ratio.text()) if t.ratio else "-"}</td>'
        f"<td>{escape(t.verdict)}</td></tr>"
        for t in tuning.trials
    )
    note = f"<p>{escape(tuning.note)}</p>" if tuning.note else ""
    return (
        "<section>\n<h2>Runtime settings tried on the winner (measured)</h2>\n"
        f"<p>{escape(tuning.runtime)}: {escape(space)}. Tried: {how}, each measured paired "
        "against the same model with the runtime's defaults (speed-up &gt; 1: faster). "
        f"{kept}</p>{note}\n"
        "<table><thead><tr><th>settings</th><th>vs defaults</th><th>verdict</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>\n</section>"
    )


def _profiles(profiles: Sequence[LayerProfile]) -> str:
    """Where each profiled candidate's time goes, per layer type and precision (measured)."""
    if not profiles:
        return ""
    parts = [
        "<section>",
        "<h2>Where the time goes, per layer type (measured)</h2>",
        "<p>Each layer's median over the runs, from the runtime's own per-layer counters, "
        "with the counters on (so a little slower than the timed figures above).</p>",
    ]
    for profile in profiles:
        total = profile.total_us or 1.0
        rows = "".join(
            f"<tr><td>{escape(t.kind)}</td><td>{escape(t.precision)}</td>"
            f'<td class="num">{t.layers}</td><td class="num">{t.us:.0f}</td>'
            f'<td class="num">{t.us / total:.1%}</td></tr>'
            for t in profile.layers
        )
        parts.append(
            f"<h3>{escape(profile.label)}: executed {escape(profile.executed)} "
            f"({escape(profile.source)}, {profile.runs} runs, {profile.total_us:.0f} us)</h3>"
            "<table><thead><tr><th>layer type</th><th>precision</th><th>layers</th>"
            "<th>us per inference</th><th>share</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>"
        )
    parts.append("</section>")
    return "\n".join(parts)


def write_report(path: str | Path, html_text: str) -> Path:
    """Write a rendered report to ``path`` (UTF-8), creating its folder.

    Args:
        path: Where the ``.html`` file goes.
        html_text: What :func:`render_optimize_page` returned.

    Returns:
        The path written.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(html_text, encoding="utf-8")
    return target


# -- sections -----------------------------------------------------------------------------------


def _model_line(model: Mapping[str, Any]) -> str:
    parts: list[str] = []
    name = model.get("name") or model.get("source")
    if name:
        parts.append(f"<code>{escape(name)}</code>")
    if model.get("kind"):
        parts.append(escape(model["kind"]))
    spec = model.get("input")
    if isinstance(spec, Mapping) and spec.get("shape"):
        shape = "x".join(str(d) for d in spec["shape"])
        parts.append(
            f"input {escape(spec.get('name', ''))} {escape(shape)} {escape(spec.get('dtype', ''))}"
        )
    if isinstance(model.get("params"), int | float):
        parts.append(f"{model['params'] / 1e6:.2f} M params")
    if isinstance(model.get("macs"), int | float):
        parts.append(f"{model['macs'] / 1e9:.2f} GMACs")
    if model.get("content_hash"):
        parts.append(f"hash <code>{escape(str(model['content_hash'])[:12])}</code>")
    return " &middot; ".join(parts)


def _verdict(
    winner: Outcome | None, baseline: Outcome, metric: str, budget_text: str, fmt: _Format
) -> str:
    budget = f'<p class="budget">Accuracy budget: {escape(budget_text)}</p>'
    if winner is None:
        return (
            '<section class="verdict none card"><h2>No candidate met the budget</h2>'
            "<p>Every candidate was rejected, failed or skipped; the table below says "
            f"why. Keep the baseline (PyTorch eager FP32).</p>{budget}</section>"
        )
    executed = winner.bench.executed if winner.bench is not None else None
    accuracy = metric_value(winner, metric)
    facts = [
        ("runtime", winner.candidate.runtime),
        ("precision executed", executed.precision if executed else winner.candidate.precision),
        ("threads", _threads(winner)),
        ("p50 latency", ms(winner.p50_ms)),
        ("speed-up vs baseline", _speedup(winner, baseline)),
        (metric, fmt.value(accuracy)),
        ("drop", fmt.drop(winner.drop)),
    ]
    items = "".join(f"<div><dt>{escape(k)}</dt><dd>{escape(v)}</dd></div>" for k, v in facts)
    return (
        f'<section class="verdict card"><h2>Winner: {escape(winner.candidate.label)}</h2>'
        f'<dl class="facts">{items}</dl>{budget}</section>'
    )


def _table(
    outcomes: Sequence[Outcome],
    baseline: Outcome,
    winner: Outcome | None,
    metric: str,
    fmt: _Format,
) -> str:
    rows = with_baseline(outcomes, baseline)
    measured = sorted((o for o in rows if has_latency(o)), key=lambda o: o.p50_ms or 0.0)
    ordered = measured + [o for o in rows if not has_latency(o)]
    head = (
        "<tr><th>candidate</th><th>state</th><th>precision<br>executed</th><th>threads</th>"
        '<th class="num">p50 ms<br>(95% CI)</th><th class="num">p99 ms</th>'
        '<th class="num">throughput<br>samples/s</th><th class="num">size</th>'
        f'<th class="num">{escape(metric)}</th><th class="num">drop{fmt.unit_head}</th>'
        "<th>why it won, lost or was rejected</th></tr>"
    )
    body = "\n".join(_row(o, baseline, winner, metric, fmt) for o in ordered)
    return (
        f'<div class="table-wrap"><table><thead>{head}</thead><tbody>{body}</tbody></table></div>'
    )


def _row(
    outcome: Outcome, baseline: Outcome, winner: Outcome | None, metric: str, fmt: _Format
) -> str:
    role = role_of(outcome, baseline, winner)
    bench = outcome.bench
    latency = bench.latency if bench is not None else None
    executed = bench.executed if bench is not None else None
    p50 = "-"
    if latency is not None:
        low, high = ms(latency.ci_low_ms, unit=False), ms(latency.ci_high_ms, unit=False)
        p50 = f'{ms(latency.p50_ms, unit=False)}<span class="ci">{low} &ndash; {high}</span>'
    throughput = "-"
    if bench is not None and bench.throughput is not None:
        throughput = f"{bench.throughput:,.1f}"
        if bench.async_throughput is not None:
            throughput += f'<span class="ci">async {bench.async_throughput:,.1f}</span>'
    accuracy = metric_value(outcome, metric)
    tags = f'<span class="tag {outcome.state.value}">{outcome.state.value}</span>'
    if role in ("winner", "baseline"):
        tags += f'<span class="tag role">{role}</span>'
    cells = [
        f'<td class="label">{escape(outcome.candidate.label)}</td>',
        f"<td>{tags}</td>",
        f"<td>{escape(executed.precision) if executed else '-'}</td>",
        f"<td>{escape(_threads(outcome)) if executed else '-'}</td>",
        f'<td class="num">{p50}</td>',
        f'<td class="num">{escape(ms(latency.p99_ms if latency else None, unit=False))}</td>',
        f'<td class="num">{throughput}</td>',
        f'<td class="num">{escape(_mb(size_bytes(outcome)))}</td>',
        f'<td class="num">{escape(fmt.value(accuracy))}</td>',
        f'<td class="num">{escape(fmt.drop(outcome.drop, unit=False))}</td>',
        f'<td class="why">{_why(outcome, role, winner)}</td>',
    ]
    return f'<tr class="{role}">{"".join(cells)}</tr>'


def _why(outcome: Outcome, role: str, winner: Outcome | None) -> str:
    lines: list[str] = []
    if outcome.reason:
        lines.append(escape(outcome.reason))
    elif role == "winner":
        lines.append("Chosen: the fastest candidate within the budget.")
    elif role == "baseline":
        lines.append("The reference every speed-up and accuracy drop is measured against.")
    elif outcome.state is RowState.COMPLETE and winner is not None:
        mine, best = outcome.p50_ms, winner.p50_ms
        if mine is not None and best:
            lines.append(f"Within budget, but {mine / best:.2f}x the winner's latency.")
    if outcome.forced:
        lines.append("Measured on request although the capability check expected no gain.")
    text = "<br>".join(lines)
    if outcome.explanation:
        text += f'<span class="explain">{escape(outcome.explanation)}</span>'
    return text or "-"


# -- formatting ---------------------------------------------------------------------------------


def _threads(outcome: Outcome) -> str:
    executed = outcome.bench.executed if outcome.bench is not None else None
    threads = executed.threads if executed is not None else outcome.candidate.threads
    return "default" if threads is None else str(threads)


def _mb(size_bytes: int | None) -> str:
    return "-" if size_bytes is None else f"{size_bytes / 1e6:.1f} MB"


class _Format:
    """Accuracy figures as text: percentages to two places, a user's metric to four digits."""

    def __init__(self, percent: bool) -> None:
        self.percent = percent
        self.unit_head = "<br>points" if percent else ""

    def value(self, value: float | None) -> str:
        if value is None:
            return "-"
        return f"{value:.2f}" if self.percent else f"{value:.4g}"

    def drop(self, drop: float | None, *, unit: bool = True) -> str:
        if drop is None:
            return "-"
        text = (f"{drop:+.2f}" if self.percent else f"{drop:+.4g}").replace("-", "\u2212")
        return f"{text} points" if unit and self.percent else text


def _speedup(outcome: Outcome, baseline: Outcome) -> str:
    """The paired speed-up with its interval (``~`` when noisy); "-" when there is none."""
    figure = outcome.bench.speedup if outcome.bench is not None else None
    if outcome is baseline:
        return "1.00x"
    return figure.text() + " (paired)" if figure is not None else "-"
