"""The HTML pages of hwfit: one self-contained page per command, rendered from its record.

``render_<command>_page(record)`` returns the page's HTML; :func:`write_report` writes it.
This package imports records, ``_version`` and plotly only.

This package imports plotly at module level; the CLI imports it only inside the command that
writes a report, so ``import hwfit`` stays free of plotly.
"""

from __future__ import annotations

from hwfit.report.compare_page import compare_figure, render_compare_page
from hwfit.report.figures import accuracy_figure, latency_figure, size_figure, speedup_figure
from hwfit.report.frontier_page import frontier_figure, render_frontier_page
from hwfit.report.gap_page import gap_figure, render_gap_page
from hwfit.report.html import render_optimize_page, write_report
from hwfit.report.search_page import render_search_page, write_search_report

__all__ = [
    "accuracy_figure",
    "compare_figure",
    "frontier_figure",
    "gap_figure",
    "latency_figure",
    "render_compare_page",
    "render_frontier_page",
    "render_gap_page",
    "render_optimize_page",
    "render_search_page",
    "size_figure",
    "speedup_figure",
    "write_report",
    "write_search_report",
]
