"""Table helpers and the tables of ``hwfit hardware`` and ``hwfit history``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich import box
from rich.table import Column, Table

from hwfit.cli.render.format import fmt_bytes, ms

if TYPE_CHECKING:
    from hwfit.records import BenchResult, HardwareProfile

__all__ = ["column", "compact_table", "hardware_table", "history_table"]


def column(table: Table, header: str, *, right: bool = False, style: str | None = None) -> Column:
    """Add a column that never cuts a cell: a narrow terminal folds it onto more lines.

    (rich's default, ``overflow="ellipsis"``, prints ``56.…``; ``no_wrap`` with ``"fold"``
    crops without a mark.)
    """
    table.add_column(header, justify="right" if right else "left", overflow="fold", style=style)
    return table.columns[-1]


def compact_table(title: str) -> Table:
    """A table with a left-aligned title, a rule under the header and no outer padding."""
    return Table(
        title=title,
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
    )


def hardware_table(profile: HardwareProfile) -> list[Table]:
    """The machine and its runtimes as two tables."""
    cpu = profile.cpu
    machine = Table(
        title=f"Hardware  (fingerprint {profile.fingerprint})",
        show_header=False,
        title_justify="left",
    )
    column(machine, "", style="bold")
    column(machine, "")
    machine.add_row("CPU", f"{cpu.brand} ({cpu.vendor}, {cpu.arch})")
    machine.add_row(
        "Cores",
        f"{cpu.physical_cores} physical, {cpu.logical_threads} threads "
        f"({cpu.usable_threads} usable)",
    )
    caches = ", ".join(
        f"{name} {fmt_bytes(size)}"
        for name, size in (
            ("L1d", cpu.l1d_cache_bytes),
            ("L2", cpu.l2_cache_bytes),
            ("L3", cpu.l3_cache_bytes),
        )
        if size
    )
    machine.add_row("Cache", caches or "unknown")
    if cpu.frequency_mhz:
        machine.add_row("Clock", f"{cpu.frequency_mhz:.0f} MHz")
    machine.add_row("ISA", profile.isa_summary)
    machine.add_row("Memory", fmt_bytes(profile.memory_bytes))
    machine.add_row("OS", profile.os)
    machine.add_row("Python", profile.python)
    gpus = "; ".join(
        f"{g.name} ({fmt_bytes(g.memory_bytes)}, driver {g.driver_version or '?'})"
        for g in profile.gpus
    )
    machine.add_row("GPUs", gpus or "none found")
    runtimes = compact_table("Runtimes")
    for col in ("runtime", "available", "version", "devices / reason"):
        column(runtimes, col)
    for rt in profile.runtimes:
        runtimes.add_row(
            rt.name,
            "[green]yes[/]" if rt.ok else "[red]no[/]",
            (rt.version or "-").split("-")[0],
            ", ".join(rt.devices) if rt.ok else (rt.reason or "-"),
        )
    return [machine, runtimes]


def history_table(results: list[BenchResult]) -> Table:
    """Past results, newest first (reasons of failed and skipped rows are in ``--json``)."""
    table = compact_table(f"{len(results)} results")
    for h, right in (
        ("UTC", False),
        ("machine", False),
        ("model", False),
        ("runtime", False),
        ("bs", True),
        ("thr", True),
        ("precision", False),
        ("p50 ms", True),
        ("+-CI95", True),
        ("state", False),
    ):
        column(table, h, right=right)
    for r in results:
        lat, ex = r.latency, r.executed
        table.add_row(
            (r.created_at or "-")[5:16].replace("T", " "),
            (r.fingerprint or "-")[:8],
            r.model.source,
            r.config.runtime,
            str(r.config.batch),
            str(ex.threads) if ex else str(r.config.threads or "-"),
            ex.precision if ex else r.config.precision,
            ms(lat.p50_ms) if lat else "-",
            f"{lat.ci_rel:.1%}" if lat else "-",
            r.state.value + (" noisy" if lat and lat.noisy else ""),
        )
    return table
