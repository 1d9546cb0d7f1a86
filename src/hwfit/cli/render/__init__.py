"""Every rich table, progress bar and format helper of the command line (rich only here).

Commands are parse -> API -> render: a ``cli/*_cmd.py`` module calls the API and hands the
record it got to a function here. The shared helpers (consoles, the progress bar, table and
number formatting, the Ctrl-C path) are re-exported from this package; each command's tables
live in a module named after it.
"""

from __future__ import annotations

from hwfit.cli.render.analysis import (
    compare_tables,
    frontier_progress,
    frontier_table,
    gap_progress,
    gap_table,
)
from hwfit.cli.render.bench import (
    bench_json,
    bench_progress,
    bench_table,
    show_bench,
    show_storage,
)
from hwfit.cli.render.console import (
    FULL_WIDTH,
    console,
    console_err,
    log_handler,
    print_error,
    print_interrupted,
    print_json,
    progress_bar,
)
from hwfit.cli.render.format import busy_line, fmt_bytes, fmt_count, ms, speedup_text
from hwfit.cli.render.interrupt import (
    EXIT_INTERRUPTED,
    Terminated,
    interrupt_reported,
    interrupted_exit_code,
    sigterm_as_interrupt,
    stop_interrupted,
)
from hwfit.cli.render.optimize import optimize_table
from hwfit.cli.render.search import search_progress, search_table, space_table
from hwfit.cli.render.tables import column, compact_table, hardware_table, history_table

__all__ = [
    "EXIT_INTERRUPTED",
    "FULL_WIDTH",
    "Terminated",
    "bench_json",
    "bench_progress",
    "bench_table",
    "busy_line",
    "column",
    "compact_table",
    "compare_tables",
    "console",
    "console_err",
    "fmt_bytes",
    "fmt_count",
    "frontier_progress",
    "frontier_table",
    "gap_progress",
    "gap_table",
    "hardware_table",
    "history_table",
    "interrupt_reported",
    "interrupted_exit_code",
    "log_handler",
    "ms",
    "optimize_table",
    "print_error",
    "print_interrupted",
    "print_json",
    "progress_bar",
    "search_progress",
    "search_table",
    "show_bench",
    "show_storage",
    "sigterm_as_interrupt",
    "space_table",
    "speedup_text",
    "stop_interrupted",
]
