"""Number formatting for table cells and summary lines (bytes, counts, milliseconds, speed-ups)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from hwfit.bench.paired import MAX_CONTENTION

if TYPE_CHECKING:
    from hwfit.records import PairedRatio

__all__ = ["busy_line", "fmt_bytes", "fmt_count", "ms", "speedup_text"]


def fmt_bytes(n: int | float | None) -> str:
    """``1234567`` -> ``"1.2 MB"``."""
    if n is None:
        return "-"
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return str(n)


def fmt_count(n: int | None) -> str:
    """``25557032`` -> ``"25.56 M"`` (``-`` for None)."""
    if n is None:
        return "-"
    if n >= 1e9:
        return f"{n / 1e9:.2f} G"
    if n >= 1e6:
        return f"{n / 1e6:.2f} M"
    return f"{n / 1e3:.1f} K"


def ms(value: float | None) -> str:
    """A latency in milliseconds with 4 significant digits or so (``-`` for None)."""
    if value is None:
        return "-"
    return f"{value:.3f}" if value < 10 else f"{value:.2f}" if value < 100 else f"{value:.1f}"


def speedup_text(figure: PairedRatio | None) -> str:
    """A paired speed-up for a table cell: ``1.55x [1.52-1.58]``, yellow ``~`` when noisy."""
    if figure is None:
        return "-"
    return f"[yellow]{figure.text()}[/]" if figure.noisy else figure.text()


def busy_line(busiest: float | None, retried: int, priorities: Sequence[str] = ()) -> str | None:
    """The summary line of a run on a busy machine, or None when it was quiet (or unknown).

    ``priorities`` are the measuring workers' (:func:`hwfit.bench.priority.can_raise`):
    a worker that could not run ahead of other work is said so, with the reason.
    """
    if busiest is None or busiest <= MAX_CONTENTION:
        return None
    again = f"; {retried} loops were run again" if retried else ""
    refused = next((p for p in priorities if p.startswith("normal (")), None)
    how = (
        f" The workers could not raise their CPU priority: {refused[len('normal (') : -1]}."
        if refused
        else ""
    )
    return (
        f"[yellow]The machine was busy: other processes took up to {busiest:.0%} of the CPU "
        f"during the measurements{again}.{how} Figures marked ~ or noted above are not "
        "confident: read them with their interval.[/]"
    )
