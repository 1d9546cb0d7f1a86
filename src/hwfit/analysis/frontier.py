"""``frontier()``: zoo models measured on this machine, and their accuracy-vs-latency front.

Accuracy is the zoo's *published* accuracy of the FP32 weights: ImageNet-1k top-1 for the timm
classifiers (timm's results tables), COCO val2017 box mAP for the torchvision detectors
(torchvision's weights metadata). hwfit cannot download those weights, so it measures latency
on the same architecture with seeded random weights (latency does not depend on the weight
values) and pairs the two. A detector is measured at its fixed input size, as ``hwfit bench``
times it (SSD, RetinaNet, YOLO: NMS outside the timed graph; Faster R-CNN: whole).

One front holds one metric: top-1 and box mAP are not comparable, so a selection that mixes
them is refused, and without a selection the frontier is drawn over the classifiers.
The pairing holds for float precisions. INT8 changes the accuracy, and nothing here measures
by how much: INT8 points are only produced when asked for and are flagged as unverified.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from hwfit.analysis._measure import DEFAULT_MAX_AGE_DAYS, Measurer
from hwfit.analysis.pareto import pareto_front
from hwfit.errors import HwfitError, UserError, first_line
from hwfit.hardware import probe
from hwfit.models import load_model
from hwfit.models.detection import detector_spec
from hwfit.precisions import Precision
from hwfit.precisions.capability import verdict
from hwfit.records import (
    PUBLISHED_METRICS,
    BenchResult,
    FrontierMiss,
    FrontierPoint,
    FrontierReport,
    FrontierSettings,
    Progress,
    ProgressEvent,
    RowState,
    RunConfig,
)
from hwfit.records.hardware import HardwareProfile
from hwfit.runtimes import RUNTIMES
from hwfit.tune.space import candidate_space

if TYPE_CHECKING:
    from hwfit.db import ResultStore
    from hwfit.records import ZooMetric
    from hwfit.zoo import ZooEntry

__all__ = [
    "DEFAULT_BATCH",
    "DEFAULT_PRECISION",
    "DEFAULT_RUNTIME",
    "FLOAT_PRECISIONS",
    "FrontierMiss",
    "FrontierPoint",
    "FrontierReport",
    "frontier",
    "frontier_of",
    "measure_frontier",
]

#: Default runtime: OpenVINO is the CPU runtime built for these convolutional families and runs
#: the FP32 graph without a PyTorch dispatcher in the loop, so its latency is what a deployment
#: would see; ``--runtime`` picks another.
DEFAULT_RUNTIME = "openvino"
#: FP32: the precision the published accuracy was measured in.
DEFAULT_PRECISION = "fp32"
#: Batch 1: the latency of one request, the question "which model should I deploy?" asks.
DEFAULT_BATCH = 1
#: Precisions whose accuracy is that of the FP32 weights (within a tenth of a point).
FLOAT_PRECISIONS: tuple[str, ...] = ("fp32", "bf16", "fp16")
#: Runtimes ``optimized=True`` searches over (those optimize can ship).
OPTIMIZED_RUNTIMES: tuple[str, ...] = ("onnxruntime", "openvino")


def frontier_of(points: Sequence[FrontierPoint]) -> tuple[list[int], list[int]]:
    """The accuracy-vs-latency and accuracy-vs-GMACs fronts of ``points`` (indices).

    Example:
        >>> frontier_of([])
        ([], [])
    """
    latency = pareto_front([(p.latency_ms, p.entry.accuracy) for p in points], ("min", "max"))
    with_gmacs = [i for i, p in enumerate(points) if p.entry.gmacs is not None]
    gmacs = pareto_front(
        [(points[i].entry.gmacs or 0.0, points[i].entry.accuracy) for i in with_gmacs],
        ("min", "max"),
    )
    return latency, [with_gmacs[i] for i in gmacs]


def frontier(
    models: Sequence[str] | None = None,
    families: Sequence[str] | None = None,
    *,
    entries: Sequence[ZooEntry] | None = None,
    runtime: str = DEFAULT_RUNTIME,
    precision: str = DEFAULT_PRECISION,
    batch: int = DEFAULT_BATCH,
    threads: int | None = None,
    optimized: bool = False,
    int8: bool = False,
    fresh: bool = False,
    max_age_days: float = DEFAULT_MAX_AGE_DAYS,
    duration_s: float = 3.0,
    min_time_s: float = 1.0,
    zoo: str | Path | None = None,
    accuracy_file: str | Path | None = None,
    db: str | None = None,
    save: bool = True,
    out: str | Path | None = None,
    timeout_s: float = 600.0,
    progress: Progress | None = None,
) -> FrontierReport:
    """Benchmark zoo models on this machine and compute the accuracy-vs-latency front.

    Each distinct (architecture, input size) is measured once, in a worker process, at the
    zoo entry's input size (a detector: at its own fixed input size); zoo rows
    sharing an architecture (two weights of ResNet-50) share that measurement. The selected
    rows must share one metric (ImageNet top-1, or COCO box mAP for ``families=["detection"]``);
    without ``models`` and ``families``, every classifier (top-1 row) of the zoo is measured.
    A model that fails to load or run (a detector hwfit cannot run) becomes a FAILED entry of
    ``missing``; the run goes on. Stored rows of this machine are reused when fresh (same
    hwfit and runtime version, same configuration, younger than ``max_age_days``) unless
    ``fresh`` is set.

    Args:
        models: Zoo names, architectures or specs to measure (default: ``families``, else every
            top-1 row).
        families: Zoo families to measure (``mobilenet``, ``efficientnet``..., ``detection``).
        entries: Zoo rows to use instead of the shipped zoo (e.g. hand-made for tests).
        runtime: Runtime of every point (ignored when ``optimized``).
        precision: Precision of every point (ignored when ``optimized``); an INT8 precision
            needs a pre-quantized model and is refused here.
        batch: Batch size; latency is per call at this batch.
        threads: Thread count (None: the runtime's default).
        optimized: Measure each model at every float runtime x precision that can pay off on
            this CPU (ONNX Runtime, OpenVINO; FP32, BF16, FP16) and plot its fastest.
        int8: With ``optimized``, also consider INT8; refused for now (the zoo's accuracy is
            FP32 accuracy, and INT8 needs calibration data and an accuracy check: use
            ``hwfit optimize`` on the models of the front).
        fresh: Measure everything again, even where the database has fresh rows.
        max_age_days: Stored rows older than this are measured again.
        duration_s: Time limit of each row's timed loop.
        min_time_s: Each row's timed loop runs at least this long.
        zoo: A zoo CSV to use instead of the shipped one.
        accuracy_file: A CSV of your own accuracies (same columns) merged over the zoo.
        db: Results database URL or SQLite file (default: the user's data folder).
        save: Read and store rows in the database.
        out: Folder for ``frontier.html``; None writes no page.
        timeout_s: Seconds one worker may take.
        progress: Called with a ``frontier``/``measure`` event before each model (``result``
            None) and after it (``result`` the row plotted, None when the model failed).

    Returns:
        The report: points, the front, and the models that failed.

    Raises:
        UserError: An unknown model or family, a selection that mixes metrics, a bad option,
            or an unreachable database (before anything is measured).
    """
    report = measure_frontier(
        models,
        families,
        entries=entries,
        runtime=runtime,
        precision=precision,
        batch=batch,
        threads=threads,
        optimized=optimized,
        int8=int8,
        fresh=fresh,
        max_age_days=max_age_days,
        duration_s=duration_s,
        min_time_s=min_time_s,
        zoo=zoo,
        accuracy_file=accuracy_file,
        db=db,
        save=save,
        timeout_s=timeout_s,
        progress=progress,
    )
    if out is None:
        return report
    from hwfit.report.frontier_page import render_frontier_page  # plotly: imported when asked
    from hwfit.report.html import write_report

    path = write_report(Path(out) / "frontier.html", render_frontier_page(report))
    return dataclasses.replace(report, html_path=path)


def measure_frontier(
    models: Sequence[str] | None = None,
    families: Sequence[str] | None = None,
    *,
    entries: Sequence[ZooEntry] | None = None,
    runtime: str = DEFAULT_RUNTIME,
    precision: str = DEFAULT_PRECISION,
    batch: int = DEFAULT_BATCH,
    threads: int | None = None,
    optimized: bool = False,
    int8: bool = False,
    fresh: bool = False,
    max_age_days: float = DEFAULT_MAX_AGE_DAYS,
    duration_s: float = 3.0,
    min_time_s: float = 1.0,
    zoo: str | Path | None = None,
    accuracy_file: str | Path | None = None,
    db: str | None = None,
    save: bool = True,
    timeout_s: float = 600.0,
    progress: Progress | None = None,
) -> FrontierReport:
    """The measuring half of :func:`frontier`: the report, without writing a page.

    Arguments, result and errors are those of :func:`frontier` (which adds ``out``).
    """
    from hwfit.zoo import load_zoo, select  # the zoo's loader imports sqlalchemy

    if batch < 1:
        raise UserError(f"The batch must be >= 1, got {batch}.", hint="E.g. --batch 1")
    if threads is not None and threads < 1:
        raise UserError(f"Threads must be >= 1, got {threads}.", hint="E.g. --threads 4")
    if duration_s <= 0 or max_age_days < 0:
        raise UserError("The duration must be > 0 and the maximum age >= 0.")
    if int8:
        raise UserError(
            "INT8 points are not offered by frontier: the zoo's accuracy is that of the FP32 "
            "weights, and INT8 accuracy can only be measured on data.",
            hint="Run the frontier in float, then `hwfit optimize MODEL --data ...` on the "
            "models of the front to get guarded INT8.",
        )
    if not optimized:
        RUNTIMES.path(runtime)  # unknown names fail now, with suggestions
        if precision not in FLOAT_PRECISIONS:
            raise UserError(
                f"frontier plots published FP32 accuracy; precision {precision!r} changes it.",
                hint=f"Use one of: {', '.join(FLOAT_PRECISIONS)}.",
            )
    table = list(entries) if entries is not None else load_zoo(zoo, accuracy_file=accuracy_file)
    if models is None and families is None:
        # The classifiers, as before the zoo held detectors; a table of detectors only: all.
        chosen = [e for e in table if e.metric == "top1"] or table
    else:
        chosen = select(table, models=models, families=families)
    if not chosen:
        raise UserError("No zoo model matches the selection.", hint="See `hwfit frontier --help`.")
    metric = _one_metric(chosen)
    store = _open_store(db) if save else None
    hardware = probe(include_runtimes=False)
    measurer = Measurer(
        hardware, store, fresh=fresh, max_age_days=max_age_days, timeout_s=timeout_s
    )
    configs = _configs(
        optimized, runtime, precision, batch, threads, duration_s, min_time_s, hardware
    )
    groups: dict[tuple[str, tuple[int, int]], list[ZooEntry]] = {}
    for entry in chosen:
        groups.setdefault((entry.spec, _input_size(entry)), []).append(entry)

    points: list[FrontierPoint] = []
    missing: list[FrontierMiss] = []
    interrupted = False
    reused_count = 0
    try:
        for i, ((spec, size), group) in enumerate(groups.items()):
            height, width = size
            label = (
                spec.split(":", 1)[-1] + f" @{height}" + (f"x{width}" if width != height else "")
            )
            if progress:
                progress(ProgressEvent("frontier", "measure", i, len(groups), label))
            best, reused, tried, why = _measure_model(spec, size, batch, configs, measurer)
            reused_count += int(reused)
            for entry in group:
                if best is not None:
                    points.append(FrontierPoint(entry, best, reused, tried))
                else:
                    state = RowState.SKIPPED if why.startswith("skipped") else RowState.FAILED
                    missing.append(FrontierMiss(entry, state, why.removeprefix("skipped: ")))
            if progress:
                progress(
                    ProgressEvent("frontier", "measure", i + 1, len(groups), label, result=best)
                )
    except KeyboardInterrupt:
        interrupted = True
    finally:
        if store is not None:
            store.close()
    front, gmacs_front = frontier_of(points)
    candidates = [f"{c.runtime} {c.precision}" for c in configs]
    settings: FrontierSettings = {
        "runtime": None if optimized else runtime,
        "precision": None if optimized else precision,
        "batch": batch,
        "threads": threads,
        "optimized": optimized,
        "candidates": candidates,
        "fresh": fresh,
        "max_age_days": max_age_days,
    }
    notes = [_METRIC_NOTES[metric]]
    if reused_count:
        notes.append(
            f"{reused_count} model(s) reused fresh database rows (same hwfit and runtime "
            f"version, younger than {max_age_days:g} days); --fresh measures them again."
        )
    if optimized:
        notes.append(
            "Optimized: each model at its fastest float configuration "
            f"({', '.join(candidates) or 'none applicable'}); INT8 is left out "
            "because its accuracy is not the published one."
        )
    return FrontierReport(
        points=tuple(points),
        frontier=tuple(front),
        gmacs_frontier=tuple(gmacs_front),
        missing=tuple(missing),
        settings=settings,
        hardware=hardware.to_dict(),
        fingerprint=hardware.fingerprint,
        db_url=store.display_url if store is not None else None,
        db_error=measurer.storage_note(),
        interrupted=interrupted,
        notes=tuple(notes),
        metric=metric,
    )


_METRIC_NOTES: dict[ZooMetric, str] = {
    "top1": "Top-1 is the published ImageNet-1k accuracy of the FP32 weights (timm's results "
    "tables); latency is measured here on the same architecture with random weights.",
    "box_map": "Box mAP is the published COCO val2017 box mAP (IoU 0.5:0.95) of the FP32 "
    "weights (the zoo's source column names where from: torchvision's weights metadata, "
    "Ultralytics' docs); latency is measured here on the same architecture with random "
    "weights, at the detector's fixed input size, as `hwfit bench` times it: SSD, RetinaNet "
    "and YOLO without their NMS (YOLO with its box decoding), Faster R-CNN whole, NMS included.",
}


def _one_metric(entries: Sequence[ZooEntry]) -> ZooMetric:
    """The metric all ``entries`` share; a mix is refused (one front, one metric)."""
    metrics = {e.metric for e in entries}
    if len(metrics) == 1:
        return metrics.pop()
    counts = ", ".join(
        f"{sum(e.metric == m for e in entries)} {PUBLISHED_METRICS[m].title}"
        for m in PUBLISHED_METRICS
        if m in metrics
    )
    raise UserError(
        f"The selection mixes accuracies that are not comparable ({counts}); a front plots one.",
        hint="Run frontier once per kind, e.g. `hwfit frontier --family detection` for the "
        "detectors and `--family mobilenet,resnet` for the classifiers.",
    )


def _input_size(entry: ZooEntry) -> tuple[int, int]:
    """The (H, W) to measure at: a detector's fixed size, else the zoo's square size."""
    detector = detector_spec(entry.spec)
    return detector.size if detector is not None else (entry.input_size, entry.input_size)


def _open_store(db: str | None) -> ResultStore:
    from hwfit.db import ResultStore  # sqlalchemy

    return ResultStore(db, writable=True)  # a read-only database fails before measuring


def _configs(
    optimized: bool,
    runtime: str,
    precision: str,
    batch: int,
    threads: int | None,
    duration_s: float,
    min_time_s: float,
    hardware: HardwareProfile,
) -> list[RunConfig]:
    def config(rt: str, prec: str) -> RunConfig:
        return RunConfig(
            runtime=rt,
            batch=batch,
            threads=threads,
            precision=prec,
            duration_s=duration_s,
            min_time_s=min(min_time_s, duration_s),
            async_throughput=False,
        )

    if not optimized:
        return [config(runtime, precision)]
    candidates = candidate_space(OPTIMIZED_RUNTIMES, FLOAT_PRECISIONS, (threads,), (batch,))
    return [
        config(c.runtime, c.precision)
        for c in candidates
        if verdict(c.runtime, Precision(c.precision), hardware).ok
    ]


def _measure_model(
    spec: str, size: tuple[int, int], batch: int, configs: list[RunConfig], measurer: Measurer
) -> tuple[BenchResult | None, bool, int, str]:
    """Measure (or reuse) every config of one model; return (fastest, reused, tried, why)."""
    shape = (batch, 3, *size)
    found: list[tuple[BenchResult, bool]] = []
    reasons: list[str] = []
    states: set[RowState] = set()
    info = None
    for config in configs:
        stored = measurer.reusable(spec, shape, config)
        if stored is not None:
            found.append((stored, True))
            continue
        if info is None:
            try:
                info = load_model(spec, input_shape=shape).info
            except HwfitError as exc:
                return None, False, 0, f"cannot load {spec}: {exc.message}"
            except Exception as exc:  # a model that does not build fails this model only
                return None, False, 0, f"cannot load {spec}: {first_line(exc)}"
        result = measurer.measure(info, config)
        if result.state is RowState.COMPLETE and result.latency is not None:
            found.append((result, False))
        else:
            states.add(result.state)
            reasons.append(f"{config.runtime} {config.precision}: {result.reason}")
    if not found:
        if not configs:
            return None, False, 0, "skipped: no configuration can run here"
        text = "; ".join(reasons) or "no result"
        prefix = "skipped: " if states == {RowState.SKIPPED} else ""
        return None, False, len(configs), prefix + text
    best, reused = min(found, key=lambda f: f[0].latency.p50_ms if f[0].latency else 0.0)
    return best, reused, len(found), ""
