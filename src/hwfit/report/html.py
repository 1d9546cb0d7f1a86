"""The ``hwfit optimize`` report: one self-contained HTML page that opens offline.

The page inlines plotly.js once (in ``<head>``) and embeds the four figures of
:mod:`hwfit.report.figures` after it; it loads nothing from the network (no CDN, no web fonts).
Every piece of text that comes from the user or from a runtime (model names, error messages,
notes, versions) is escaped with :func:`html.escape`.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import plotly.offline

from hwfit.hardware.profile import HardwareProfile
from hwfit.records import Outcome, RowState
from hwfit.report.figures import (
    _has_latency,
    _metric,
    _role,
    _size_bytes,
    _with_baseline,
    accuracy_figure,
    latency_figure,
    size_figure,
    speedup_figure,
)

__all__ = ["render_optimize_report", "write_report"]

# Figures resize with the page; the plotly logo would link to plotly.com, which is offline noise.
_PLOT_CONFIG: dict[str, Any] = {"displaylogo": False, "responsive": True}

_CSS = """
:root { color-scheme: light; --ink: #1f2937; --muted: #6b7280; --line: #e5e7eb;
  --ok: #16a34a; --bad: #dc2626; --warn: #d97706; --bg: #f8fafc; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--ink);
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
  sans-serif; }
main { max-width: 1240px; margin: 0 auto; padding: 24px 28px 40px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 32px 0 10px; }
.model { color: var(--muted); margin: 0; }
.model code, td code { font-size: 13px; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 16px 20px;
  margin-top: 18px; }
.verdict { border-left: 6px solid var(--ok); }
.verdict.none { border-left-color: var(--bad); }
.card > h2:first-child { margin: 0 0 10px; }
.facts { display: grid; grid-template-columns: repeat(auto-fill, minmax(130px, 1fr));
  gap: 10px 24px; margin: 0; }
.facts dt { color: var(--muted); font-size: 12px; text-transform: uppercase;
  letter-spacing: .04em; }
.facts dd { margin: 0; font-size: 18px; font-weight: 600; }
.budget { color: var(--muted); margin: 10px 0 0; }
.notes ul { margin: 0; padding-left: 20px; }
.notes li { margin: 4px 0; }
.plot { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 6px;
  margin: 0 0 16px; }
.table-wrap { overflow-x: auto; background: #fff; border: 1px solid var(--line);
  border-radius: 8px; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { padding: 6px 8px; border-bottom: 1px solid var(--line); text-align: left;
  vertical-align: top; }
th { background: #f1f5f9; font-weight: 600; white-space: nowrap; }
td.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
td.label { min-width: 150px; font-weight: 600; }
td.why { min-width: 220px; }
tr.winner td { background: #f0fdf4; }
tr.baseline td { background: #f9fafb; }
.ci { color: var(--muted); font-size: 11px; display: block; }
.tag { display: inline-block; padding: 1px 7px; border-radius: 9px; font-size: 11px;
  font-weight: 600; white-space: nowrap; }
.tag.complete { background: #dcfce7; color: #166534; }
.tag.rejected { background: #fef3c7; color: #92400e; }
.tag.failed { background: #fee2e2; color: #991b1b; }
.tag.skipped { background: #e5e7eb; color: #374151; }
.tag.role { background: #dbeafe; color: #1e40af; margin-left: 4px; }
.explain { color: var(--muted); display: block; margin-top: 2px; }
footer { margin-top: 32px; color: var(--muted); font-size: 13px; }
footer dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 0; }
footer dt { font-weight: 600; }
footer dd { margin: 0; }
"""


def render_optimize_report(
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

    Returns:
        The HTML document, plotly.js inlined exactly once.
    """
    figures = [
        latency_figure(outcomes, baseline, winner=winner),
        speedup_figure(outcomes, baseline, winner=winner),
        size_figure(outcomes, baseline, winner=winner),
        accuracy_figure(outcomes, baseline, budget_points, metric, winner=winner),
    ]
    plots = "\n".join(
        '<div class="plot">'
        + fig.to_html(full_html=False, include_plotlyjs=False, config=_PLOT_CONFIG)
        + "</div>"
        for fig in figures
    )
    notes_html = (
        '<section class="notes card"><h2>Notes</h2><ul>'
        + "".join(f"<li>{_e(n)}</li>" for n in notes)
        + "</ul></section>"
        if notes
        else ""
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(title)}</title>
<style>{_CSS}</style>
<script>{plotly.offline.get_plotlyjs()}</script>
</head>
<body>
<main>
<header>
<h1>{_e(title)}</h1>
{_model_line(model)}
</header>
{_verdict(winner, baseline, metric, budget_text)}
{notes_html}
<section class="figures">
<h2>Figures</h2>
{plots}
</section>
<section>
<h2>Candidates</h2>
{_table(outcomes, baseline, winner, metric)}
</section>
{_footer(hardware, versions)}
</main>
</body>
</html>
"""


def write_report(path: str | Path, html_text: str) -> Path:
    """Write a rendered report to ``path`` (UTF-8), creating its folder.

    Args:
        path: Where the ``.html`` file goes.
        html_text: What :func:`render_optimize_report` returned.

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
        parts.append(f"<code>{_e(name)}</code>")
    if model.get("kind"):
        parts.append(_e(model["kind"]))
    spec = model.get("input")
    if isinstance(spec, Mapping) and spec.get("shape"):
        shape = "x".join(str(d) for d in spec["shape"])
        parts.append(f"input {_e(spec.get('name', ''))} {_e(shape)} {_e(spec.get('dtype', ''))}")
    if isinstance(model.get("params"), int | float):
        parts.append(f"{model['params'] / 1e6:.2f} M params")
    if isinstance(model.get("macs"), int | float):
        parts.append(f"{model['macs'] / 1e9:.2f} GMACs")
    if model.get("content_hash"):
        parts.append(f"hash <code>{_e(str(model['content_hash'])[:12])}</code>")
    return f'<p class="model">{" &middot; ".join(parts)}</p>' if parts else ""


def _verdict(winner: Outcome | None, baseline: Outcome, metric: str, budget_text: str) -> str:
    budget = f'<p class="budget">Accuracy budget: {_e(budget_text)}</p>'
    if winner is None:
        return (
            '<section class="verdict none card"><h2>No candidate met the budget</h2>'
            "<p>Every candidate was rejected, failed or skipped; the table below says "
            f"why. Keep the baseline (PyTorch eager FP32).</p>{budget}</section>"
        )
    executed = winner.bench.executed if winner.bench is not None else None
    accuracy = _metric(winner, metric)
    facts = [
        ("runtime", winner.candidate.runtime),
        ("precision executed", executed.precision if executed else winner.candidate.precision),
        ("threads", _threads(winner)),
        ("p50 latency", _ms(winner.p50_ms)),
        ("speed-up vs baseline", _speedup(winner, baseline)),
        (metric, "-" if accuracy is None else f"{accuracy:.2f}"),
        ("drop", _drop(winner.drop)),
    ]
    items = "".join(f"<div><dt>{_e(k)}</dt><dd>{_e(v)}</dd></div>" for k, v in facts)
    return (
        f'<section class="verdict card"><h2>Winner: {_e(winner.candidate.label)}</h2>'
        f'<dl class="facts">{items}</dl>{budget}</section>'
    )


def _table(
    outcomes: Sequence[Outcome], baseline: Outcome, winner: Outcome | None, metric: str
) -> str:
    rows = _with_baseline(outcomes, baseline)
    measured = sorted((o for o in rows if _has_latency(o)), key=lambda o: o.p50_ms or 0.0)
    ordered = measured + [o for o in rows if not _has_latency(o)]
    head = (
        "<tr><th>candidate</th><th>state</th><th>precision<br>executed</th><th>threads</th>"
        '<th class="num">p50 ms<br>(95% CI)</th><th class="num">p99 ms</th>'
        '<th class="num">throughput<br>samples/s</th><th class="num">size</th>'
        f'<th class="num">{_e(metric)}</th><th class="num">drop<br>points</th>'
        "<th>why it won, lost or was rejected</th></tr>"
    )
    body = "\n".join(_row(o, baseline, winner, metric) for o in ordered)
    return (
        f'<div class="table-wrap"><table><thead>{head}</thead><tbody>{body}</tbody></table></div>'
    )


def _row(outcome: Outcome, baseline: Outcome, winner: Outcome | None, metric: str) -> str:
    role = _role(outcome, baseline, winner)
    bench = outcome.bench
    latency = bench.latency if bench is not None else None
    executed = bench.executed if bench is not None else None
    p50 = "-"
    if latency is not None:
        low, high = _ms(latency.ci_low_ms, unit=False), _ms(latency.ci_high_ms, unit=False)
        p50 = f'{_ms(latency.p50_ms, unit=False)}<span class="ci">{low} &ndash; {high}</span>'
    throughput = "-"
    if bench is not None and bench.throughput is not None:
        throughput = f"{bench.throughput:,.1f}"
        if bench.async_throughput is not None:
            throughput += f'<span class="ci">async {bench.async_throughput:,.1f}</span>'
    accuracy = _metric(outcome, metric)
    tags = f'<span class="tag {outcome.state.value}">{outcome.state.value}</span>'
    if role in ("winner", "baseline"):
        tags += f'<span class="tag role">{role}</span>'
    cells = [
        f'<td class="label">{_e(outcome.candidate.label)}</td>',
        f"<td>{tags}</td>",
        f"<td>{_e(executed.precision) if executed else '-'}</td>",
        f"<td>{_e(_threads(outcome)) if executed else '-'}</td>",
        f'<td class="num">{p50}</td>',
        f'<td class="num">{_e(_ms(latency.p99_ms if latency else None, unit=False))}</td>',
        f'<td class="num">{throughput}</td>',
        f'<td class="num">{_e(_mb(_size_bytes(outcome)))}</td>',
        f'<td class="num">{"-" if accuracy is None else f"{accuracy:.2f}"}</td>',
        f'<td class="num">{_e(_drop(outcome.drop, unit=False))}</td>',
        f'<td class="why">{_why(outcome, role, winner)}</td>',
    ]
    return f'<tr class="{role}">{"".join(cells)}</tr>'


def _why(outcome: Outcome, role: str, winner: Outcome | None) -> str:
    lines: list[str] = []
    if outcome.reason:
        lines.append(_e(outcome.reason))
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
        text += f'<span class="explain">{_e(outcome.explanation)}</span>'
    return text or "-"


def _footer(hardware: Mapping[str, Any], versions: Mapping[str, str]) -> str:
    items: list[tuple[str, str]] = []
    if hardware.get("fingerprint"):
        items.append(("machine", str(hardware["fingerprint"])))
    cpu = hardware.get("cpu")
    if isinstance(cpu, Mapping):
        if cpu.get("brand"):
            arch = f" ({cpu['arch']})" if cpu.get("arch") else ""
            items.append(("CPU", f"{cpu['brand']}{arch}"))
        cores = [
            f"{cpu[key]} {word}"
            for key, word in (
                ("physical_cores", "physical cores"),
                ("logical_threads", "threads"),
                ("usable_threads", "usable"),
            )
            if cpu.get(key) is not None
        ]
        if cores:
            items.append(("cores", ", ".join(cores)))
        isa = _isa_summary(hardware, cpu)
        if isa:
            items.append(("ISA", isa))
    if isinstance(hardware.get("memory_bytes"), int | float):
        items.append(("memory", f"{hardware['memory_bytes'] / 2**30:.1f} GiB"))
    gpus = hardware.get("gpus")
    if isinstance(gpus, Iterable) and not isinstance(gpus, str | bytes):
        names = [str(g.get("name")) for g in gpus if isinstance(g, Mapping) and g.get("name")]
        if names:
            items.append(("GPU", ", ".join(names)))
    for key, word in (("os", "OS"), ("python", "Python")):
        if hardware.get(key):
            items.append((word, str(hardware[key])))
    if versions:
        items.append(("versions", " \u00b7 ".join(f"{k} {v}" for k, v in versions.items())))
    rows = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in items)
    return f"<footer><h2>Hardware and versions</h2><dl>{rows}</dl></footer>"


def _isa_summary(hardware: Mapping[str, Any], cpu: Mapping[str, Any]) -> str:
    try:
        return HardwareProfile.from_dict(dict(hardware)).isa_summary
    except (TypeError, KeyError, ValueError, AttributeError):
        # A partial profile (older file, hand-written dict): fall back to the raw feature names.
        features = cpu.get("features")
        if isinstance(features, Iterable) and not isinstance(features, str | bytes):
            return " ".join(str(f) for f in features)
        return ""


# -- formatting ---------------------------------------------------------------------------------


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _threads(outcome: Outcome) -> str:
    executed = outcome.bench.executed if outcome.bench is not None else None
    threads = executed.threads if executed is not None else outcome.candidate.threads
    return "default" if threads is None else str(threads)


def _ms(value: float | None, *, unit: bool = True) -> str:
    if value is None:
        return "-"
    # Three significant digits or so: 0.412, 6.03, 20.1, 1234.
    digits = 3 if value < 1 else 2 if value < 100 else 0
    text = f"{value:.{digits}f}"
    return f"{text} ms" if unit else text


def _mb(size_bytes: int | None) -> str:
    return "-" if size_bytes is None else f"{size_bytes / 1e6:.1f} MB"


def _drop(drop: float | None, *, unit: bool = True) -> str:
    if drop is None:
        return "-"
    text = f"{drop:+.2f}".replace("-", "\u2212")
    return f"{text} points" if unit else text


def _speedup(outcome: Outcome, baseline: Outcome) -> str:
    """The paired speed-up with its interval (``~`` when noisy); "-" when there is none."""
    figure = outcome.bench.speedup if outcome.bench is not None else None
    if outcome is baseline:
        return "1.00x"
    return figure.text() + " (paired)" if figure is not None else "-"
