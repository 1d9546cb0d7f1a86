"""The HTML report of ``hwfit optimize``: plotly figures and one self-contained page.

This package imports plotly at module level; the CLI imports it only inside the command that
writes a report, so ``import hwfit`` stays free of plotly.
"""

from __future__ import annotations

from hwfit.report.figures import accuracy_figure, latency_figure, size_figure, speedup_figure
from hwfit.report.html import render_optimize_report, write_report

__all__ = [
    "accuracy_figure",
    "latency_figure",
    "render_optimize_report",
    "size_figure",
    "speedup_figure",
    "write_report",
]
