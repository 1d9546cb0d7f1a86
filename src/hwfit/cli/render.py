"""Rich rendering of records: tables, progress, sizes (rich is imported only under cli/)."""

from __future__ import annotations

import contextlib
import json
import signal
import threading
from collections.abc import Iterator, Sequence
from types import FrameType
from typing import TYPE_CHECKING, Any, NoReturn

import typer
from rich import box
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Column, Table

from hwfit.bench.lifecycle import EXIT_TERMINATED
from hwfit.bench.paired import MAX_CONTENTION
from hwfit.records import RowState

if TYPE_CHECKING:
    from hwfit.bench import BenchReport
    from hwfit.hardware import HardwareProfile
    from hwfit.records import BenchResult, PairedRatio
    from hwfit.tune import OptimizeResult

__all__ = [
    "FULL_WIDTH",
    "Terminated",
    "bench_table",
    "column",
    "console",
    "console_err",
    "fmt_bytes",
    "hardware_table",
    "history_table",
    "interrupt_reported",
    "interrupted_exit_code",
    "optimize_table",
    "print_json",
    "progress_bar",
    "sigterm_as_interrupt",
    "stop_interrupted",
]

EXIT_INTERRUPTED = 130  # 128 + SIGINT: Ctrl-C
# EXIT_TERMINATED (143, 128 + SIGTERM): kill, a service manager, a CI job's time-out
_reported: list[str] = []  # what a command said when Ctrl-C (or SIGTERM) stopped it
_terminated: list[int] = []  # SIGTERM arrived: the exit code is 143, not 130


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C raises KeyboardInterrupt (:func:`sigterm_as_interrupt`)."""


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Inside the block SIGTERM stops a command as Ctrl-C does, and the exit code is 143.

    So every command's Ctrl-C path (keep what finished, say so, end the workers) serves
    ``kill`` as well. The previous handler is put back afterwards. Outside the main thread
    (where no handler can be installed), and where SIGTERM was ignored when the process
    started, it is left as it is.
    """
    _reported.clear()
    _terminated.clear()

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        _terminated.append(signum)
        raise Terminated

    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGTERM) is signal.SIG_IGN  # as Python leaves SIGINT
    ):
        yield
        return
    previous: Any = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


def interrupted_exit_code() -> int:
    """The exit code of an interrupted command: 143 after SIGTERM, else 130 (Ctrl-C)."""
    return EXIT_TERMINATED if _terminated else EXIT_INTERRUPTED


def stop_interrupted(message: str) -> NoReturn:
    """Say what Ctrl-C (or SIGTERM) left behind (stderr, yellow) and exit 130 (or 143)."""
    _reported.append(message)
    console_err().print(f"[yellow]{message}[/]", highlight=False, soft_wrap=True)
    raise typer.Exit(interrupted_exit_code())


def interrupt_reported() -> bool:
    """True when a command already said why it stopped (:func:`stop_interrupted`)."""
    return bool(_reported)


FULL_WIDTH = 100_000
"""The width of stdout when it is not a terminal (a log, CI, ``| tee``): no table is cut."""


def console() -> Console:
    """The stdout console: the terminal's width, or :data:`FULL_WIDTH` when not a terminal.

    rich falls back to 80 columns (or ``$COLUMNS``) when stdout is a pipe or a file, and
    shrinks tables to fit, so numbers in a log read ``56.…``; a file has no width to fit.
    """
    out = Console(soft_wrap=False)
    if not out.is_terminal:
        out.width = FULL_WIDTH
    return out


def console_err() -> Console:
    """The stderr console (errors, progress); as wide as :func:`console` when not a terminal."""
    err = Console(stderr=True)
    if not err.is_terminal:
        err.width = FULL_WIDTH
    return err


def progress_bar(disable: bool) -> Progress:
    """The progress bar of long commands, on stderr; off for --json and when not a terminal."""
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console_err(),
        transient=True,
        disable=disable or not console_err().is_terminal,
    )


def print_json(data: Any) -> None:
    """Print machine-readable JSON on stdout (no colours, no wrapping)."""
    print(json.dumps(data, indent=2))


def fmt_bytes(n: int | float | None) -> str:
    """``1234567`` -> ``"1.2 MB"``."""
    if n is None:
        return "-"
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return str(n)


def _fmt_count(n: int | None) -> str:
    if n is None:
        return "-"
    if n >= 1e9:
        return f"{n / 1e9:.2f} G"
    if n >= 1e6:
        return f"{n / 1e6:.2f} M"
    return f"{n / 1e3:.1f} K"


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" if value < 10 else f"{value:.2f}" if value < 100 else f"{value:.1f}"


def column(table: Table, header: str, *, right: bool = False, style: str | None = None) -> Column:
    """Add a column that never cuts a cell: a narrow terminal folds it onto more lines.

    (rich's default, ``overflow="ellipsis"``, prints ``56.…``; ``no_wrap`` with ``"fold"``
    crops without a mark.)
    """
    table.add_column(header, justify="right" if right else "left", overflow="fold", style=style)
    return table.columns[-1]


def _compact_table(title: str) -> Table:
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
    runtimes = _compact_table("Runtimes")
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


def bench_table(report: BenchReport) -> tuple[Table, Table, list[str]]:
    """Return the latency table, the load/memory/size table and the notes to print under them.

    Rows go fastest per sample first, with speed-up over PyTorch eager FP32; notes are the noise
    flags and the skipped and failed rows.
    """
    info = report.model
    title = (
        f"{info.source}  input {info.input.shape_str} {info.input.dtype}, "
        f"params {_fmt_count(info.params)}, MACs {_fmt_count(info.macs)}"
        + (f" ({info.macs_note})" if info.macs is None and info.macs_note else "")
    )
    latency = Table(
        title=title,
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
    )
    for h in (
        "runtime",
        "batch",
        "precision",
        "threads",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "+-CI95",
        "runs",
        "samples/s",
        "speed-up",
    ):
        left = h in ("runtime", "precision")
        column(latency, h, right=not left)
    cost = Table(
        title="Load, memory and size", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False
    )
    # Several precisions asked for: say which row is which (one: the latency table says it).
    precisions = len({r.config.precision for r in report.results}) > 1
    for h in (
        "runtime",
        "batch",
        *(("precision",) if precisions else ()),
        "threads",
        "convert\ns",
        "load+\ncompile s",
        "1st run\nms",
        "async\nsamples/s",
        "peak RSS",
        "model\nsize",
    ):
        column(cost, h, right=h not in ("runtime", "precision"))
    from hwfit.bench import is_baseline

    notes: list[str] = []
    for r in report.sorted_results():
        cfg = r.config
        label = (
            f"{cfg.runtime} {cfg.precision} batch {cfg.batch} threads {cfg.threads or 'default'}"
        )
        if r.latency is None or r.executed is None:
            colour = "yellow" if r.state is RowState.SKIPPED else "red"
            notes.append(f"[{colour}]{label}: {r.state.value}: {r.reason}[/]")
            continue
        lat, ex = r.latency, r.executed
        speed = report.speedup(r)
        marker = ""
        noise = list(lat.noise)
        if r.contention is not None and r.contention > MAX_CONTENTION:
            noise.append(f"others took {r.contention:.0%} of the CPU ({r.attempts} loops)")
        if speed is not None and speed.noisy:
            noise.append(f"speed-up {'; '.join(speed.noise)}")
        elif speed is None and r.speedup_reason:
            noise.append(f"no speed-up: {r.speedup_reason}")
        if noise:
            notes.append(f"[yellow]({len(notes) + 1}) {label} is noisy: {'; '.join(noise)}[/]")
            marker = f" [yellow]({len(notes)})[/]"
        threads = f"{ex.threads}" + (f"x{ex.streams}s" if ex.streams and ex.streams > 1 else "")
        latency.add_row(
            cfg.runtime + marker,
            str(cfg.batch),
            ex.precision,
            threads,
            _ms(lat.p50_ms),
            _ms(lat.p90_ms),
            _ms(lat.p99_ms),
            f"{lat.ci_rel:.1%}",
            str(lat.n),
            f"{r.throughput:.1f}" if r.throughput else "-",
            "baseline" if is_baseline(cfg) else speedup_text(speed),
        )
        cost.add_row(
            cfg.runtime,
            str(cfg.batch),
            *((ex.precision,) if precisions else ()),
            threads,
            f"{r.convert_s:.2f}" if r.convert_s is not None else "-",
            f"{r.compile_s:.2f}" if r.compile_s is not None else "-",
            _ms(r.first_run_ms),
            f"{r.async_throughput:.1f}" if r.async_throughput else "-",
            fmt_bytes((r.peak_rss_mb or 0) * 2**20),
            fmt_bytes(r.artifact_size_bytes),
        )
    return latency, cost, notes


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


def history_table(results: list[BenchResult]) -> Table:
    """Past results, newest first (reasons of failed and skipped rows are in ``--json``)."""
    table = _compact_table(f"{len(results)} results")
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
            _ms(lat.p50_ms) if lat else "-",
            f"{lat.ci_rel:.1%}" if lat else "-",
            r.state.value + (" noisy" if lat and lat.noisy else ""),
        )
    return table


def optimize_table(result: OptimizeResult) -> tuple[Table, list[str]]:
    """Every candidate with its numbers and why it lost, and the lines to print under it."""
    base = result.baseline
    metric = result.metric
    table = _compact_table(
        f"{result.model.source}: candidates at batch {base.candidate.batch} "
        f"(baseline {base.candidate.runtime} fp32 {_ms(base.p50_ms)} ms, "
        f"{metric} {(base.accuracy or {}).get(metric, 0.0):.2f})"
    )
    for h, right in (
        ("candidate", False),
        ("state", False),
        ("executed", False),
        ("p50 ms", True),
        ("+-CI95", True),
        ("p99 ms", True),
        ("speed-up", True),
        ("size", True),
        (metric, True),
        ("drop", True),
        ("why", False),
    ):
        column(table, h, right=right)
    ordered = sorted(
        result.outcomes,
        key=lambda o: (o is not result.winner, o.p50_ms is None, o.p50_ms or 0.0),
    )
    for o in [base, *ordered]:
        bench = o.bench
        lat = bench.latency if bench else None
        state = "WINNER" if o is result.winner else ("baseline" if o is base else o.state.value)
        colour = {"WINNER": "bold green", "rejected": "yellow", "failed": "red", "skipped": "dim"}
        figure = bench.speedup if bench is not None and o is not base else None
        table.add_row(
            o.candidate.label,
            f"[{colour.get(state, '')}]{state}[/]" if state in colour else state,
            bench.executed.precision if bench and bench.executed else "-",
            _ms(lat.p50_ms) if lat else "-",
            f"{lat.ci_rel:.1%}" if lat else "-",
            _ms(lat.p99_ms) if lat else "-",
            speedup_text(figure) if o is not base else "1.00x",
            fmt_bytes(o.artifact_size_bytes),
            f"{o.accuracy[metric]:.2f}" if o.accuracy and metric in o.accuracy else "-",
            f"{o.drop:+.2f}" if o.drop is not None else "-",
            o.reason or "",
        )
    lines: list[str] = []
    if result.winner is not None:
        w = result.winner
        claim = result.speedup
        if claim is None:
            speed = "speed-up not measured paired (see the notes)"
        else:
            mark = " (noisy, see the notes)" if claim.noisy else ""
            speed = (
                f"{claim.text()} faster than {base.candidate.runtime} fp32{mark}, measured "
                f"paired ({_ms(claim.a_ms)} vs {_ms(claim.b_ms)} ms in the paired loop)"
            )
        tint = "yellow" if claim is None or claim.noisy else "bold green"
        lines.append(
            f"[{tint}]Winner: {w.candidate.runtime} {w.candidate.precision}, {speed}; "
            f"{metric} drop {w.drop or 0.0:+.2f} points (allowed {result.allowed_drop:.2f}).[/]"
        )
        if result.runner_up is not None and result.vs_runner_up is not None:
            lines.append(
                f"Versus the runner-up {result.runner_up.candidate.label}: "
                f"{result.vs_runner_up.text()} (paired)."
            )
    if result.preprocess is not None:
        lines.append(f"Preprocessing: {result.preprocess.describe()}")
    if result.validation_samples:
        skipped = len(result.skipped_images)
        lines.append(
            f"Data: {metric} over {result.validation_samples} validation samples, "
            f"{result.calibration_samples} calibration samples"
            + (f", {skipped} unreadable image{'s' * (skipped != 1)} skipped" if skipped else "")
            + "."
        )
    for note in result.notes:
        lines.append(f"[yellow]- {note}[/]")
    rows = [o.bench for o in (base, *result.outcomes) if o.bench is not None]
    shares = [r.contention for r in rows if r.contention is not None] + [
        f.contention
        for f in (result.speedup, result.vs_runner_up, *(r.speedup for r in rows))
        if f is not None and f.contention is not None
    ]
    busy = busy_line(
        max(shares) if shares else None,
        sum(max(0, r.attempts - 1) for r in rows),
        [r.priority for r in rows if r.priority],
    )
    if busy:
        lines.append(busy)
    if result.manifest_path:
        lines.append(f"Artifact and manifest: {result.manifest_path.parent}")
    if result.report_path:
        lines.append(f"Report: {result.report_path}")
    return table, lines
