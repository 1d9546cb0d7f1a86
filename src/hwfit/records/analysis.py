"""Records of the analyses over many rows (frontier, compare) and the one machine-label rule.

:func:`hwfit.frontier` and :func:`hwfit.compare` return these (:func:`hwfit.gap` those of
:mod:`hwfit.records.gap`);
:mod:`hwfit.report` renders them and ``hwfit.cli.render`` prints them.

A *machine* is stored as its fingerprint and its hardware profile as a JSON mapping (a
:class:`~hwfit.records.hardware.HardwareProfile` dict for a machine hwfit measured, a
``kind = "published"`` profile for a timm table). :func:`machine_label` is the one rule that
names it in tables, pages and messages; :func:`machine_name` names its hardware.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, TypedDict

from hwfit.records.core import BenchResult, RowState, to_dict

__all__ = [
    "PUBLISHED_METRICS",
    "CompareReport",
    "CompareRow",
    "FrontierMiss",
    "FrontierPoint",
    "FrontierReport",
    "FrontierSettings",
    "MachineResults",
    "PublishedMetric",
    "RankFlip",
    "ZooEntry",
    "ZooLibrary",
    "ZooMetric",
    "machine_label",
    "machine_name",
]

_MAX_FLIPS_SHOWN = 200  # CompareReport.to_dict lists at most this many flips


ZooMetric = Literal["top1", "box_map"]
"""The published accuracy a zoo row holds: ImageNet-1k top-1, or COCO val2017 box mAP."""

ZooLibrary = Literal["timm", "torchvision", "ultralytics"]
"""The library a zoo model is built from; its model spec is ``<library>:<arch>``."""


@dataclasses.dataclass(frozen=True)
class PublishedMetric:
    """A published accuracy a zoo row can hold, and the words tables and pages use for it.

    Accuracies of different metrics are not comparable: a frontier draws one metric.

    Attributes:
        key: The zoo's ``metric`` value (``"top1"``).
        column: Short column heading (``"top-1"``).
        title: Axis title and notes (``"ImageNet-1k top-1"``).
    """

    key: ZooMetric
    column: str
    title: str


PUBLISHED_METRICS: Mapping[ZooMetric, PublishedMetric] = {
    "top1": PublishedMetric("top1", "top-1", "ImageNet-1k top-1"),
    "box_map": PublishedMetric("box_map", "COCO box mAP", "COCO val2017 box mAP (IoU 0.5:0.95)"),
}
"""Every metric a zoo row may name, by key."""


@dataclasses.dataclass(frozen=True)
class ZooEntry:
    """One zoo model: an architecture with weights whose accuracy was published.

    Attributes:
        name: Unique name: timm's ``arch.weights_tag`` (``"resnet50.a1_in1k"``); for
            torchvision, ``arch.weights`` with the weights enum's member in lower case
            (``"ssd300_vgg16.coco_v1"``).
        arch: The architecture as its library names it (``"resnet50"``).
        family: The model family (``"resnet"``); MobileNetV2 and V3 share ``"mobilenet"``,
            every detector is ``"detection"``.
        accuracy: The published accuracy of the FP32 weights, percent, of kind ``metric``.
        top5: Published ImageNet top-5 accuracy, percent, when known (``top1`` rows only).
        input_size: The (square) resolution the accuracy was measured at.
        params_m: Parameters, millions.
        gmacs: Multiply-accumulates of one image at ``input_size``, billions, when known.
        source: Where the numbers come from (table and commit or version).
        metric: Which accuracy ``accuracy`` is (:data:`PUBLISHED_METRICS`).
        library: The library that builds the model (``"timm"``, ``"torchvision"``,
            ``"ultralytics"``).
    """

    name: str
    arch: str
    family: str
    accuracy: float
    top5: float | None
    input_size: int
    params_m: float
    gmacs: float | None
    source: str
    metric: ZooMetric = "top1"
    library: ZooLibrary = "timm"

    @property
    def spec(self) -> str:
        """The model spec hwfit benchmarks this entry as: ``"<library>:<arch>"``."""
        return f"{self.library}:{self.arch}"


# -- compare ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class MachineResults:
    """One machine's rows.

    Attributes:
        fingerprint: The machine's fingerprint (synthetic for a published table).
        label: A short readable name (the profile's label, else CPU brand, else fingerprint).
        origin: Where the rows came from: ``database <url>`` or the file path.
        profile: The machine's hardware profile as stored (may be empty).
        results: Its benchmark rows, newest first.
    """

    fingerprint: str
    label: str
    origin: str
    profile: Mapping[str, object]
    results: tuple[BenchResult, ...]


@dataclasses.dataclass(frozen=True)
class CompareRow:
    """One model at one configuration, on every machine.

    Attributes:
        model: Model source (``timm:resnet50``).
        input: Input shape without the batch, as ``3x224x224``.
        batch: Batch size.
        precision: Precision requested.
        runtime: The runtime every machine ran, or None when each machine's fastest was used.
        runtimes: Per machine, the runtime of the row used (None: not measured there).
        p50_ms: Per machine, the median latency per call (None: not measured there).
        ci_rel: Per machine, the half-width of the median's 95% CI relative to it.
    """

    model: str
    input: str
    batch: int
    precision: str
    runtime: str | None
    runtimes: tuple[str | None, ...]
    p50_ms: tuple[float | None, ...]
    ci_rel: tuple[float | None, ...]

    @property
    def name(self) -> str:
        """``resnet50 @224``: the model without its source prefix, with its resolution."""
        base = self.model.split(":", 1)[-1]
        return f"{base} @{self.input.split('x')[-1]}"

    @property
    def group(self) -> tuple[int, str, str | None]:
        """Rows of one group are ranked against each other: batch, precision, runtime."""
        return (self.batch, self.precision, self.runtime)

    def ratio(self, machine: int, reference: int = 0) -> float | None:
        """Latency on ``machine`` over latency on ``reference`` (None if either is missing)."""
        a, b = self.p50_ms[machine], self.p50_ms[reference]
        return a / b if a is not None and b else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready row."""
        return {
            "model": self.model,
            "input": self.input,
            "batch": self.batch,
            "precision": self.precision,
            "runtime": self.runtime,
            "runtimes": list(self.runtimes),
            "p50_ms": list(self.p50_ms),
            "ci_rel": list(self.ci_rel),
            "ratio_vs_first": [self.ratio(i) for i in range(len(self.p50_ms))],
        }


@dataclasses.dataclass(frozen=True)
class RankFlip:
    """Models ``a`` and ``b`` swap order between machines ``x`` and ``y``.

    ``a`` is faster on machine ``x`` by ``gain_x`` (e.g. 0.2 = 20%), ``b`` is faster on
    machine ``y`` by ``gain_y``; both exceed the flip margin. ``strength`` is the smaller of
    the two: how clear the flip is.
    """

    a: CompareRow
    b: CompareRow
    x: int
    y: int
    gain_x: float
    gain_y: float

    @property
    def strength(self) -> float:
        """The smaller of the two gains."""
        return min(self.gain_x, self.gain_y)

    def to_dict(self, machines: Sequence[MachineResults]) -> dict[str, Any]:
        """JSON-ready flip naming the machines."""
        return {
            "faster_on_x": self.a.name,
            "faster_on_y": self.b.name,
            "x": machines[self.x].label,
            "y": machines[self.y].label,
            "batch": self.a.batch,
            "precision": self.a.precision,
            "runtime": self.a.runtime,
            "gain_x": self.gain_x,
            "gain_y": self.gain_y,
        }


@dataclasses.dataclass(frozen=True)
class CompareReport:
    """Rows side by side and every rank flip, strongest first.

    Attributes:
        machines: The machines, in the order given (ratios are relative to the first).
        rows: Models measured on at least two of the machines.
        flips: Every rank flip, strongest first.
        margin: The flip margin used (relative).
        notes: Caveats (e.g. rows compared across runtimes, models measured on one machine).
        html_path: The written ``compare.html``, when ``out`` was given.
    """

    machines: tuple[MachineResults, ...]
    rows: tuple[CompareRow, ...]
    flips: tuple[RankFlip, ...]
    margin: float
    notes: tuple[str, ...] = ()
    html_path: Path | None = None

    def flipped_models(self) -> set[str]:
        """Names of the models that take part in at least one flip."""
        return {f.a.name for f in self.flips} | {f.b.name for f in self.flips}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready report (at most 200 flips; ``flip_count`` has the total)."""
        return {
            "machines": [
                {"fingerprint": m.fingerprint, "label": m.label, "origin": m.origin}
                for m in self.machines
            ],
            "margin": self.margin,
            "rows": [r.to_dict() for r in self.rows],
            "flip_count": len(self.flips),
            "flips": [f.to_dict(self.machines) for f in self.flips[:_MAX_FLIPS_SHOWN]],
            "notes": list(self.notes),
            "html": str(self.html_path) if self.html_path else None,
        }


# -- frontier ---------------------------------------------------------------------------


class FrontierSettings(TypedDict):
    """The configuration :func:`hwfit.frontier` was asked for, as its report and page show it.

    Attributes:
        runtime: The runtime (None when ``optimized``: each model's fastest).
        precision: The precision (None when ``optimized``).
        batch: The batch size.
        threads: Intra-op threads (None: the runtime's default).
        optimized: Each model was measured at its fastest float configuration.
        candidates: The ``runtime precision`` configurations tried per model.
        fresh: Stored rows were ignored; every model was measured again.
        max_age_days: Stored rows older than this were measured again.
    """

    runtime: str | None
    precision: str | None
    batch: int
    threads: int | None
    optimized: bool
    candidates: list[str]
    fresh: bool
    max_age_days: float


@dataclasses.dataclass(frozen=True)
class FrontierPoint:
    """One zoo model measured here: its published accuracy and its measured latency.

    Attributes:
        entry: The zoo row (name, family, published accuracy, params, GMACs).
        result: The benchmark row of the configuration plotted (the fastest when optimized).
        reused: The row came from the database, not from this run.
        tried: Configurations measured or reused for this model (1 unless optimized).
        accuracy_verified: False when the point runs at a precision (INT8) whose accuracy
            differs from the published FP32 accuracy by an amount nobody measured.
    """

    entry: ZooEntry
    result: BenchResult
    reused: bool = False
    tried: int = 1
    accuracy_verified: bool = True

    @property
    def latency_ms(self) -> float:
        """Median latency per call at the configured batch."""
        if self.result.latency is None:  # pragma: no cover - points are measured rows
            raise ValueError(f"{self.entry.name} has no latency.")
        return self.result.latency.p50_ms

    @property
    def config_label(self) -> str:
        """``openvino fp32 b1``, with the executed precision and threads."""
        cfg, ex = self.result.config, self.result.executed
        threads = f" t{ex.threads}" if ex and ex.threads else ""
        return f"{cfg.runtime} {cfg.precision}{threads} b{cfg.batch}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (the full row is under ``result``)."""
        return {
            "name": self.entry.name,
            "arch": self.entry.arch,
            "family": self.entry.family,
            "metric": self.entry.metric,
            "accuracy": self.entry.accuracy,
            "top1": self.entry.accuracy if self.entry.metric == "top1" else None,
            "top5": self.entry.top5,
            "input_size": self.entry.input_size,
            "params_m": self.entry.params_m,
            "gmacs": self.entry.gmacs,
            "accuracy_source": self.entry.source,
            "accuracy_verified": self.accuracy_verified,
            "p50_ms": self.latency_ms,
            "config": self.config_label,
            "reused": self.reused,
            "tried": self.tried,
            "result": to_dict(self.result),
        }


@dataclasses.dataclass(frozen=True)
class FrontierMiss:
    """A zoo model without a point: failed (crash, timeout, load error) or skipped."""

    entry: ZooEntry
    state: RowState
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        return {
            "name": self.entry.name,
            "arch": self.entry.arch,
            "family": self.entry.family,
            "state": self.state.value,
            "reason": self.reason,
        }


@dataclasses.dataclass(frozen=True)
class FrontierReport:
    """What :func:`frontier` measured and which models are on the front.

    Attributes:
        points: Every measured model.
        frontier: Indices into ``points`` of the accuracy-vs-latency Pareto front, fastest
            first (no other model is both faster and more accurate).
        gmacs_frontier: The same front against GMACs (points without GMACs left out).
        missing: Models that failed or were skipped, with the reason.
        settings: The configuration asked for (runtime, precision, batch, threads, optimized).
        hardware: This machine's profile (``HardwareProfile.to_dict``).
        fingerprint: This machine's fingerprint.
        db_url: Where rows were read and stored (password masked), or None.
        db_error: Why storing stopped, when it did.
        html_path: The written ``frontier.html``, when ``out`` was given.
        interrupted: Ctrl-C ended the run; the finished models are kept.
        notes: Caveats for the reader (unverified INT8 accuracy, reused rows).
        metric: The published accuracy of every point (one metric per front).
    """

    points: tuple[FrontierPoint, ...]
    frontier: tuple[int, ...]
    gmacs_frontier: tuple[int, ...]
    missing: tuple[FrontierMiss, ...]
    settings: FrontierSettings
    hardware: dict[str, Any]
    fingerprint: str
    db_url: str | None = None
    db_error: str | None = None
    html_path: Path | None = None
    interrupted: bool = False
    notes: tuple[str, ...] = ()
    metric: ZooMetric = "top1"

    @property
    def frontier_points(self) -> list[FrontierPoint]:
        """The points on the front, fastest first."""
        return [self.points[i] for i in self.frontier]

    @property
    def published_metric(self) -> PublishedMetric:
        """The accuracy every point of this report holds, with its wording."""
        return PUBLISHED_METRICS[self.metric]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready report."""
        return {
            "metric": self.metric,
            "settings": self.settings,
            "fingerprint": self.fingerprint,
            "points": [p.to_dict() for p in self.points],
            "frontier": [self.points[i].entry.name for i in self.frontier],
            "gmacs_frontier": [self.points[i].entry.name for i in self.gmacs_frontier],
            "missing": [m.to_dict() for m in self.missing],
            "notes": list(self.notes),
            "html": str(self.html_path) if self.html_path else None,
            "interrupted": self.interrupted,
        }


# -- machines ---------------------------------------------------------------------------


def machine_label(fingerprint: str, profile: Mapping[str, object] | None = None) -> str:
    """Return the short name a machine goes by in tables, pages and messages.

    The profile's ``label`` (or ``name``), else its CPU brand with the fingerprint's first 8
    characters, else the fingerprint's first 12.

    Args:
        fingerprint: The machine's fingerprint (``timm:<label>`` for a published table).
        profile: Its hardware profile as stored (None or empty: unknown).

    Example:
        >>> machine_label("aaaa1111bbbb2222", {"label": "laptop"})
        'laptop'
        >>> machine_label("aaaa1111bbbb2222", {"cpu": {"brand": "Big Xeon"}})
        'Big Xeon (aaaa1111)'
        >>> machine_label("aaaa1111bbbb2222cc")
        'aaaa1111bbbb'
    """
    profile = profile or {}
    for key in ("label", "name"):
        value = profile.get(key)
        if isinstance(value, str) and value:
            return value
    cpu = profile.get("cpu")
    if isinstance(cpu, Mapping) and cpu.get("brand"):
        return f"{cpu['brand']} ({fingerprint[:8]})"
    return fingerprint[:12]


def machine_name(fingerprint: str, profile: Mapping[str, object] | None = None) -> str:
    """Return a short human name for a stored machine's hardware: its CPU brand, or GPU names.

    Works for profiles measured by hwfit (:class:`~hwfit.records.hardware.HardwareProfile`
    dicts) and for the published machines a timm import creates.

    Args:
        fingerprint: The machine's fingerprint (returned when the profile names no hardware).
        profile: Its hardware profile as stored (None or empty: unknown).

    Example:
        >>> machine_name("timm:rtx4090", {"kind": "published", "gpus": [{"name": "RTX 4090"}]})
        'RTX 4090 (timm table)'
        >>> machine_name("0123abcd", {})
        '0123abcd'
    """
    profile = profile or {}
    listed = profile.get("gpus")
    gpus = [
        str(g.get("name"))
        for g in (listed if isinstance(listed, list | tuple) else ())
        if isinstance(g, Mapping)
    ]
    cpu = profile.get("cpu")
    brand = str(cpu.get("brand") or "") if isinstance(cpu, Mapping) else ""
    if profile.get("kind") == "published":
        device = ", ".join(gpus) if gpus else brand
        return f"{device or fingerprint} (timm table)"
    return brand or fingerprint
