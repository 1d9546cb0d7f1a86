"""What every hwfit page shares: the stylesheet, escaping, number formatting and the footer."""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import plotly.graph_objects as go
import plotly.offline

from hwfit._version import tool_versions
from hwfit.records import HardwareProfile

__all__ = [
    "CSS",
    "EXTRA_CSS",
    "FRONT_COLOUR",
    "PALETTE",
    "PLOT_CONFIG",
    "escape",
    "footer",
    "html_table",
    "ms",
    "notes_section",
    "page",
    "plots",
]

# Figures resize with the page; the plotly logo would link to plotly.com, which is offline noise.
PLOT_CONFIG: dict[str, object] = {"displaylogo": False, "responsive": True}

CSS = """
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


def footer(hardware: Mapping[str, Any], versions: Mapping[str, str]) -> str:
    """The hardware-and-versions footer of every page (missing ``hardware`` keys left out)."""
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
    rows = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in items)
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


def escape(value: object) -> str:
    """``value`` as text safe inside HTML (quotes escaped too)."""
    return html.escape(str(value), quote=True)


def ms(value: float | None, *, unit: bool = True) -> str:
    """A latency with three significant digits or so, with ``ms`` unless ``unit`` is False."""
    if value is None:
        return "-"
    # Three significant digits or so: 0.412, 6.03, 20.1, 1234.
    digits = 3 if value < 1 else 2 if value < 100 else 0
    text = f"{value:.{digits}f}"
    return f"{text} ms" if unit else text


# -- the pages of frontier, compare and gap -------------------------------------------------

# A qualitative palette that stays readable on white and in grey print.
PALETTE = (
    "#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#4b5563",
    "#65a30d", "#9333ea",
)  # fmt: skip
FRONT_COLOUR = "#111827"
EXTRA_CSS = """
tr.front td { background: #f0fdf4; }
tr.flip td { background: #fef3c7; }
.mono { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12px; }
pre { background: #0f172a; color: #e2e8f0; padding: 12px 14px; border-radius: 6px;
  overflow-x: auto; font-size: 13px; }
"""


def page(
    title: str,
    subtitle: str,
    body: str,
    hardware: Mapping[str, Any],
    versions: Mapping[str, str] | None = None,
    css: str = "",
) -> str:
    """A whole self-contained page: stylesheet, plotly.js inlined once, ``body``, footer.

    ``subtitle`` is HTML (escaped by the caller); ``versions`` default to this process's
    :func:`~hwfit._version.tool_versions`; ``css`` is appended to the shared stylesheet.
    """
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title>
<style>{CSS}{EXTRA_CSS}{css}</style>
<script>{plotly.offline.get_plotlyjs()}</script>
</head>
<body>
<main>
<header>
<h1>{escape(title)}</h1>
{f'<p class="model">{subtitle}</p>' if subtitle else ""}
</header>
{body}
{footer(hardware, tool_versions() if versions is None else versions)}
</main>
</body>
</html>
"""


def plots(figures: Sequence[go.Figure]) -> str:
    """The figures as HTML fragments (plotly.js is in the page head)."""
    return "\n".join(
        '<div class="plot">'
        + fig.to_html(full_html=False, include_plotlyjs=False, config=PLOT_CONFIG)
        + "</div>"
        for fig in figures
    )


def notes_section(notes: Sequence[str], title: str = "Notes") -> str:
    """A card listing ``notes`` (escaped); empty without notes."""
    if not notes:
        return ""
    items = "".join(f"<li>{escape(n)}</li>" for n in notes)
    return f'<section class="notes card"><h2>{escape(title)}</h2><ul>{items}</ul></section>'


def html_table(head: Sequence[str], rows: Sequence[tuple[str, Sequence[str]]]) -> str:
    """A table of ``rows``: (css class of the row, already-escaped cells).

    A head starting with "#" is a numeric column (right-aligned; the "#" is not shown).
    """
    th = "".join(
        f'<th class="num">{escape(h[1:])}</th>' if h.startswith("#") else f"<th>{escape(h)}</th>"
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
