"""What ``hwfit optimize`` shows: its progress bar, the candidates' table and lines, its JSON."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.table import Table

from hwfit.cli.render.console import console
from hwfit.cli.render.format import busy_line, fmt_bytes, ms, speedup_text
from hwfit.cli.render.tables import column, compact_table
from hwfit.records import to_dict

if TYPE_CHECKING:
    from rich.progress import Progress as RichProgress
    from rich.progress import TaskID

    from hwfit.records import KnobTuning, OptimizeResult, Progress, ProgressEvent

__all__ = ["optimize_json", "optimize_progress", "optimize_table", "show_optimize"]


def optimize_progress(bar: RichProgress, task: TaskID) -> Progress:
    """The ``progress`` callback of ``optimize``: the bar names the candidate being measured."""

    def progress(event: ProgressEvent) -> None:
        if event.result is None:  # a candidate starts
            bar.update(
                task,
                total=event.total,
                completed=event.done,
                description=f"Measuring {event.label}",
            )
        else:
            bar.update(task, completed=event.done)

    return progress


def optimize_json(result: OptimizeResult) -> dict[str, object]:
    """The ``--json`` output of ``hwfit optimize``, from the same record the table shows."""
    return {
        "out": str(result.out_dir),
        "winner": to_dict(result.winner) if result.winner else None,
        "baseline": to_dict(result.baseline),
        "speedup": to_dict(result.speedup) if result.speedup else None,
        "runner_up": to_dict(result.runner_up) if result.runner_up else None,
        "vs_runner_up": to_dict(result.vs_runner_up) if result.vs_runner_up else None,
        "objective": result.objective,
        "metric": result.metric,
        "higher_is_better": result.higher_is_better,
        "evaluator": result.evaluator,
        "allowed_drop": result.allowed_drop,
        "candidates": [to_dict(o) for o in result.outcomes],
        "notes": list(result.notes),
        "preprocess": result.preprocess.to_dict() if result.preprocess else None,
        "skipped_images": list(result.skipped_images),
        "interrupted": result.interrupted,
        "profiles": [to_dict(p) for p in result.profiles],
        "knobs": to_dict(result.knobs) if result.knobs else None,
    }


def knobs_line(tuning: KnobTuning) -> str:
    """One line on the knob tuner: what was kept and by how much, or that the defaults won."""
    tried = len(tuning.trials)
    how = "every setting" if tuning.sampler == "grid" else "Optuna TPE"
    head = f"Runtime settings ({tuning.runtime}, {tried} tried, {how}, each paired vs defaults)"
    if tuning.chosen and tuning.confirmed is not None:
        kept = ", ".join(f"{k}={v}" for k, v in tuning.chosen)
        return f"{head}: kept {kept}, {tuning.confirmed.text()} the defaults' speed."
    best = max(
        (t for t in tuning.trials if t.ratio is not None),
        key=lambda t: t.ratio.speedup if t.ratio else 0.0,
        default=None,
    )
    fastest = f" (fastest: {best.label}, {best.ratio.text()})" if best and best.ratio else ""
    return f"{head}: the runtime's defaults kept{fastest}. {tuning.note or ''}".rstrip()


def _accuracy_formats(result: OptimizeResult) -> tuple[str, str]:
    """Format strings of the budgeted metric and its drop: points, or the metric's own units."""
    if result.percent_metric:
        return "{:.2f}", "{:+.2f}"
    return "{:.4g}", "{:+.4g}"


def show_optimize(result: OptimizeResult) -> None:
    """Print the candidates' table and the lines under it on stdout."""
    out_console = console()
    table, lines = optimize_table(result)
    out_console.print(table)
    for line in lines:
        out_console.print(line, highlight=False)


def optimize_table(result: OptimizeResult) -> tuple[Table, list[str]]:
    """Every candidate with its numbers and why it lost, and the lines to print under it."""
    base = result.baseline
    metric = result.metric
    value, drop = _accuracy_formats(result)
    throughput = result.objective == "throughput"
    batches = sorted({o.candidate.batch for o in result.outcomes} | {base.candidate.batch})
    where = (
        f"throughput, candidates at batch {','.join(map(str, batches))}, speed-ups per sample"
        if throughput
        else f"candidates at batch {base.candidate.batch}"
    )
    table = compact_table(
        f"{result.model.source}: {where} (baseline {base.candidate.runtime} fp32 "
        f"{ms(base.p50_ms)} ms at batch {base.candidate.batch}, "
        f"{metric} {value.format((base.accuracy or {}).get(metric, 0.0))})"
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
            ms(lat.p50_ms) if lat else "-",
            f"{lat.ci_rel:.1%}" if lat else "-",
            ms(lat.p99_ms) if lat else "-",
            speedup_text(figure) if o is not base else "1.00x",
            fmt_bytes(o.artifact_size_bytes),
            value.format(o.accuracy[metric]) if o.accuracy and metric in o.accuracy else "-",
            drop.format(o.drop) if o.drop is not None else "-",
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
            per = " per sample" if throughput else ""
            speed = (
                f"{claim.text()} the throughput of {base.candidate.runtime} fp32 at batch "
                f"{base.candidate.batch}{mark}, measured paired ({ms(claim.a_ms)} vs "
                f"{ms(claim.b_ms)} ms{per} in the paired loop)"
                if throughput
                else f"{claim.text()} faster than {base.candidate.runtime} fp32{mark}, measured "
                f"paired ({ms(claim.a_ms)} vs {ms(claim.b_ms)} ms in the paired loop)"
            )
        tint = "yellow" if claim is None or claim.noisy else "bold green"
        unit = " points" if result.percent_metric else ""
        direction = "" if result.higher_is_better else f"; lower {metric} is better"
        at = f" at batch {w.candidate.batch}" if throughput else ""
        lines.append(
            f"[{tint}]Winner: {w.candidate.runtime} {w.candidate.precision}{at}, {speed}; "
            f"{metric} drop {drop.format(w.drop or 0.0)}{unit} (allowed "
            f"{value.format(result.allowed_drop)}{direction}).[/]"
        )
        if result.runner_up is not None and result.vs_runner_up is not None:
            lines.append(
                f"Versus the runner-up {result.runner_up.candidate.label}: "
                f"{result.vs_runner_up.text()} (paired)."
            )
    if result.knobs is not None:
        lines.append(knobs_line(result.knobs))
    for profile in result.profiles[:1]:  # the winner's (first); the report has them all
        top = ", ".join(
            f"{t.kind} {t.precision} {t.us / (profile.total_us or 1.0):.0%}"
            for t in profile.layers[:5]
        )
        lines.append(
            f"Where the time goes ({profile.label}, {profile.source}, per layer type): {top}."
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
