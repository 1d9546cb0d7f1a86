"""The deployable folder ``optimize`` writes: the model, ``hwfit.json``, a self-check, a report.

The folder is rewritten whenever the best candidate so far changes, so an interrupted or
time-boxed run still leaves a deployable result; the report page is written once, at the end.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from hwfit._version import tool_versions
from hwfit.artifacts.manifest import Manifest, write_manifest
from hwfit.errors import InternalError
from hwfit.tune.prune import PRUNE_DETAILS

if TYPE_CHECKING:
    from hwfit.records import (
        BenchResult,
        Executed,
        ModelInfo,
        OptimizeResult,
        Outcome,
        PairedRatio,
    )
    from hwfit.tune._run import Reference, RunSetup

__all__ = ["CHECK_FILE", "Shipment", "write_artifact", "write_report"]

CHECK_FILE = "check.npz"
DECODER_FILE = "detection.npz"  # a detector's post-processing (hwfit.models.detection)


@dataclasses.dataclass(frozen=True)
class Shipment:
    """What goes into the folder: the winner, its model file and its first outputs.

    Attributes:
        info: The winner's prepared model (its file is copied into the folder).
        outputs: The winner's outputs on the first validation inputs (the self-check).
        claim: Winner vs baseline, re-measured paired at the end (None: the candidate's own
            paired figure is recorded).
        vs_runner_up: Winner vs runner-up, measured paired.
        settings: The runtime settings the knob tuner kept (empty: the runtime's defaults).
        executed: What the winner ran with those settings, read back from the runtime (None:
            as it was measured among the candidates).
    """

    winner: Outcome
    info: ModelInfo
    outputs: np.ndarray
    claim: PairedRatio | None = None
    vs_runner_up: PairedRatio | None = None
    settings: tuple[tuple[str, str], ...] = ()
    executed: Executed | None = None


def write_artifact(setup: RunSetup, reference: Reference, shipment: Shipment) -> Path:
    """Write the winner's model, the self-check data and ``hwfit.json``; return the manifest."""
    out_dir = setup.out_dir
    source = Path(shipment.info.path or shipment.info.source)
    for old in out_dir.glob("model.*"):
        old.unlink()
    target = out_dir / f"model{source.suffix}"
    shutil.copyfile(source, target)
    checks = len(shipment.outputs)
    np.savez(out_dir / CHECK_FILE, x=setup.val.x[:checks], outputs=shipment.outputs)
    if setup.decoder is not None:  # a detector: its post-processing ships beside the model
        setup.decoder.save(out_dir / DECODER_FILE)
    if source.suffix == ".xml":
        shutil.copyfile(source.with_suffix(".bin"), target.with_suffix(".bin"))
    return write_manifest(out_dir, _manifest(setup, reference, shipment, target.name))


def _manifest(setup: RunSetup, reference: Reference, shipment: Shipment, model: str) -> Manifest:
    winner, info, baseline = shipment.winner, shipment.info, reference.outcome
    if winner.bench is None:
        raise InternalError("Only a measured candidate is shipped.")
    bench = winner.bench
    executed = shipment.executed or bench.executed
    source = setup.artifact.info
    hardware = setup.hardware
    return Manifest(
        model_file=model,
        runtime=winner.candidate.runtime,
        runtime_version=bench.runtime_version,
        precision={
            "requested": winner.candidate.precision,
            "executed": executed.precision if executed else "unknown",
        },
        runtime_options={
            "batch": winner.candidate.batch,
            # As measured: the candidate's thread request (None: the runtime's default, which
            # is how it ran); what that came to on this machine is threads_executed.
            "threads": winner.candidate.threads,
            "threads_executed": executed.threads if executed else None,
            "precision": winner.candidate.precision,
            **(executed.details if executed else {}),
            # Settings the knob tuner kept, measured faster than the defaults; hwfit.load
            # applies them (their read-back values are among the details above).
            **({"tuned": dict(shipment.settings)} if shipment.settings else {}),
        },
        input={
            "name": info.input.name,
            "shape": list(info.input.shape),
            "dtype": info.input.dtype,
            "preprocess": setup.preprocess.to_dict(),
        },
        classes=setup.val.classes,
        metrics={
            "winner": _metrics(bench),
            "baseline": _metrics(baseline.bench),
            # Paired figures only (both models in one process, alternating windows): the
            # final re-measurement when it ran, else the candidate's own paired figure.
            "speedup": _figure(shipment.claim or bench.speedup),
            "vs_runner_up": _figure(shipment.vs_runner_up),
            "baseline_runtime": baseline.candidate.runtime,
        },
        accuracy={
            "metric": reference.metric,
            "higher_is_better": reference.higher_is_better,
            "evaluator": None if setup.metric is None else setup.metric.spec,
            "winner": winner.accuracy,
            "baseline": baseline.accuracy,
            "drop": winner.drop,
            "budget": setup.budget_text,
            "allowed_drop": reference.allowed,
            "validation_samples": len(setup.val.x),
            "calibration_samples": len(setup.calib.x),
            "skipped_images": list(setup.val.skipped),
            "self_check": CHECK_FILE,
        },
        source={
            "model": source.source,
            "content_hash": source.content_hash,
            "params": source.params,
            "macs": source.macs,
            "weights": source.weights,
            **(
                {  # the shipped model is the source pruned and fine-tuned (hwfit.tune.prune)
                    "pruning": {
                        k: winner.prepare_details[k]
                        for k in PRUNE_DETAILS
                        if k in winner.prepare_details
                    }
                }
                if winner.candidate.source
                else {}
            ),
        },
        hardware={
            "fingerprint": hardware.fingerprint,
            "cpu": hardware.cpu.brand,
            "cores": hardware.cpu.physical_cores,
            "isa": hardware.isa_summary,
        },
        versions=tool_versions(),
        created_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        postprocess=(
            {"kind": setup.decoder.head, "file": DECODER_FILE, "where": setup.decoder.postprocess}
            if setup.decoder is not None
            else None
        ),
    )


def write_report(setup: RunSetup, result: OptimizeResult) -> Path | None:
    """Write ``report.html`` into the folder; None when plotly is missing (a nicety)."""
    try:
        from hwfit.report import render_optimize_page
        from hwfit.report import write_report as write_page
    except ImportError:  # plotly missing: the artifact matters more than the page
        return None
    html = render_optimize_page(
        title=f"hwfit optimize: {result.model.source}"
        + (" (throughput: speed-ups per sample)" if result.objective == "throughput" else ""),
        model={
            "source": result.model.source,
            "params": result.model.params,
            "macs": result.model.macs,
            "input": result.model.input.shape_str,
        },
        outcomes=result.outcomes,
        baseline=result.baseline,
        winner=result.winner,
        budget_text=result.budget_text,
        metric=result.metric,
        budget_points=result.allowed_drop,
        hardware=setup.hardware.to_dict(),
        versions=tool_versions(),
        notes=result.notes,
        profiles=result.profiles,
        knobs=result.knobs,
        percent=result.percent_metric,
        higher_is_better=result.higher_is_better,
    )
    path = setup.out_dir / "report.html"
    write_page(path, html)
    return path


def _metrics(bench: BenchResult | None) -> dict[str, object]:
    if bench is None or bench.latency is None:
        return {}
    lat = bench.latency
    return {
        "runtime": bench.config.runtime,
        "precision": bench.executed.precision if bench.executed else bench.config.precision,
        "threads": bench.executed.threads if bench.executed else None,
        "batch": bench.config.batch,
        "p50_ms": lat.p50_ms,
        "p90_ms": lat.p90_ms,
        "p99_ms": lat.p99_ms,
        "ci95_ms": [lat.ci_low_ms, lat.ci_high_ms],
        "runs": lat.n,
        "noise": list(lat.noise),
        "throughput": bench.throughput,
        "async_throughput": bench.async_throughput,
        "artifact_size_bytes": bench.artifact_size_bytes,
    }


def _figure(figure: PairedRatio | None) -> dict[str, object] | None:
    if figure is None:
        return None
    return {
        "speedup": figure.speedup,
        "ci95": [figure.ci_low, figure.ci_high],
        "pairs": figure.pairs,
        "contention": figure.contention,
        "noise": list(figure.noise),
        "method": "paired: alternating 50-ms windows in one process",
    }
