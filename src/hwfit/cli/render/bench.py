"""The tables of ``hwfit bench``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich import box
from rich.progress import Progress as RichProgress
from rich.progress import TaskID
from rich.table import Table

from hwfit.bench import is_baseline
from hwfit.bench.paired import MAX_CONTENTION
from hwfit.cli.render.console import console, console_err
from hwfit.cli.render.format import busy_line, fmt_bytes, fmt_count, ms, speedup_text
from hwfit.cli.render.tables import column
from hwfit.models.detection import detector_spec
from hwfit.records import BenchResult, Progress, ProgressEvent, RowState, to_dict

if TYPE_CHECKING:
    from hwfit.bench import BenchReport

__all__ = ["bench_json", "bench_progress", "bench_table", "show_bench", "show_storage"]


def bench_table(report: BenchReport) -> tuple[Table, Table, list[str]]:
    """Return the latency table, the load/memory/size table and the notes to print under them.

    Rows go fastest per sample first, with speed-up over PyTorch eager FP32; notes are the noise
    flags and the skipped and failed rows.
    """
    info = report.model
    title = (
        f"{info.source}  input {info.input.shape_str} {info.input.dtype}, "
        f"params {fmt_count(info.params)}, MACs {fmt_count(info.macs)}"
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
            ms(lat.p50_ms),
            ms(lat.p90_ms),
            ms(lat.p99_ms),
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
            ms(r.first_run_ms),
            f"{r.async_throughput:.1f}" if r.async_throughput else "-",
            fmt_bytes((r.peak_rss_mb or 0) * 2**20),
            fmt_bytes(r.artifact_size_bytes),
        )
    return latency, cost, notes


def bench_progress(bar: RichProgress, task: TaskID, *, json_out: bool) -> Progress:
    """The ``progress`` callback of ``bench``: the bar names the row being measured.

    With ``--json`` (no bar) a row that did not complete is named on stderr as it ends.
    """

    def progress(event: ProgressEvent) -> None:
        result = event.result
        if result is None:
            bar.update(
                task,
                total=event.total,
                completed=event.done,
                description=f"Measuring {event.label}",
            )
            return
        bar.update(task, completed=event.done)
        if isinstance(result, BenchResult) and result.state is not RowState.COMPLETE and json_out:
            console_err().print(f"[yellow]{event.label}: {result.state.value}: {result.reason}[/]")

    return progress


def bench_json(report: BenchReport) -> dict[str, object]:
    """The ``--json`` output of ``hwfit bench``, from the same report the tables show."""
    return {
        "model": to_dict(report.model),
        "fingerprint": report.fingerprint,
        "hardware": report.hardware,
        "results": [to_dict(r) for r in report.results],
        "busiest_contention": report.busiest,
        "interrupted": report.interrupted,
    }


def show_bench(report: BenchReport, *, end_to_end: bool) -> None:
    """Print the two tables, their notes, the busy-machine line and the legend."""
    out = console()
    latency, cost, notes = bench_table(report)
    out.print(latency)
    out.print(cost)
    for note in notes:
        out.print(note, highlight=False)
    busy = busy_line(
        report.busiest,
        sum(max(0, r.attempts - 1) for r in report.results),
        [r.priority for r in report.results if r.priority],
    )
    if busy:
        out.print(busy, highlight=False)
    timing = (
        "end to end (input copy included)"
        if end_to_end
        else "inference only (input bound before timing)"
    )
    detector = detector_spec(report.model.source)
    if detector is not None:
        timing += f"; a detector, its post-processing {detector.postprocess}"
    out.print(
        f"[dim]Latency per call at the given batch; timed region: {timing}. "
        "CI95 of p50: distribution-free interval of the median. "
        "Speed-up: vs PyTorch eager FP32 at the same batch and threads, measured paired "
        "(both models in one process, alternating 50-ms windows), with its 95% CI; "
        "~ marks a figure from a busy machine or a wide interval. "
        "Precision and threads: as executed, read back from the runtime. "
        "Async: the runtime's multi-stream API. Peak RSS: the whole worker process. "
        f"Machine {report.fingerprint}.[/]"
    )


def show_storage(report: BenchReport) -> None:
    """Say on stderr where the rows were stored, or why not and where the missed ones are."""
    err = console_err()
    if report.db_url and not report.db_error:
        err.print(f"[dim]Saved {report.saved} rows to {report.db_url}[/]")
    if not report.db_error:
        return

    def say(text: str, style: str) -> None:  # paths and driver messages are not markup
        err.print(text, style=style, markup=False, highlight=False, soft_wrap=True)

    say(f"Database write failed: {report.db_error}", "red")
    unsaved = f"{report.fallback_rows} of {len(report.results)} rows were not stored"
    if report.fallback_command:
        say(f"{unsaved}; they are in {report.fallback_path}.", "yellow")
        say(f"Store them later with: {report.fallback_command}", "yellow")
    else:
        say(
            f"{unsaved}, and no file could hold them ({report.fallback_error}): "
            "they are only in the table above.",
            "red",
        )
