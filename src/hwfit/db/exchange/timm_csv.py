"""timm's published inference benchmark tables (``results/benchmark-infer-*.csv``) as rows.

See :mod:`hwfit.db.exchange` for how a timm row becomes a :class:`~hwfit.records.BenchResult`.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import re
from collections.abc import Mapping
from pathlib import Path

from hwfit._version import __version__
from hwfit.db._cells import number, whole
from hwfit.db.exchange.hwfit_json import now_iso
from hwfit.errors import UserError
from hwfit.records import (
    BenchResult,
    Executed,
    InputSpec,
    LatencyStats,
    ModelInfo,
    RowState,
    RunConfig,
)

__all__ = ["TIMM_COLUMNS", "TIMM_KIND", "parse_timm"]

TIMM_KIND = "timm-benchmark"

TIMM_COLUMNS = frozenset(
    {"model", "infer_img_size", "infer_samples_per_sec", "infer_step_time", "infer_batch_size"}
)
_TIMM_NAME = re.compile(
    r"^benchmark-infer-(?P<precision>[a-z0-9]+)-(?P<layout>nchw|nhwc)-pt(?P<torch>\d{3,4})"
    r"-(?P<device>cpu|cu\d{3,4})-(?P<machine>.+?)(?P<dynamo>-dynamo)?\.csv$"
)
_TIMM_PRECISIONS = {
    "fp32": "fp32",
    "float32": "fp32",
    "amp": "fp16",
    "fp16": "fp16",
    "bf16": "bf16",
}
# Machines of timm's published tables; an unknown tag is shown as it is.
_KNOWN_MACHINES = {
    "i9_10940x": "Intel Core i9-10940X",
    "i7_12700h": "Intel Core i7-12700H",
    "rtx4090": "NVIDIA GeForce RTX 4090",
    "rtx3090": "NVIDIA GeForce RTX 3090",
}
_TIMM_HINT = (
    "Pass one of timm's results/benchmark-infer-*.csv tables under its published name "
    "(benchmark-infer-<precision>-<layout>-pt<torch>-<cpu|cuXXX>-<machine>[-dynamo].csv)."
)


def parse_timm(
    text: str, path: Path, machine_label: str | None, origin: str | None
) -> tuple[list[BenchResult], dict[str, dict[str, object]]]:
    """Read a timm table's rows and the profile of its (published) machine.

    Args:
        text: The CSV text.
        path: The file (its name tells the precision, device and machine).
        machine_label: The machine name to use instead of the one in the file name.
        origin: Where the file comes from, kept in the machine profile.

    Raises:
        UserError: An unknown file name or precision, an unusable label, or a malformed row.
    """
    match = _TIMM_NAME.match(path.name)
    if match is None:
        raise UserError(
            f"Cannot tell the precision, device and machine of the timm table {path.name!r} "
            "from its name.",
            hint=_TIMM_HINT,
        )
    precision = _TIMM_PRECISIONS.get(match["precision"])
    if precision is None:
        raise UserError(
            f"Unknown precision {match['precision']!r} in the timm table name {path.name!r}.",
            hint=f"Known: {', '.join(sorted(_TIMM_PRECISIONS))}.",
        )
    tag = match["machine"]
    label = tag if machine_label is None else machine_label.strip()
    if not label or any(c.isspace() for c in label) or len(label) > 100:
        raise UserError(
            f"The machine label {machine_label!r} is not usable.",
            hint="Use a short name without spaces, e.g. i9_10940x.",
        )
    on_gpu = match["device"] != "cpu"
    dynamo = match["dynamo"] is not None
    torch_version = _torch_version(match["torch"])
    fingerprint = f"timm:{label}"
    hardware = _KNOWN_MACHINES.get(tag, tag)
    profile: dict[str, object] = {
        "kind": "published",
        "source": "timm published benchmark table (benchmark.py)",
        "origin": origin,
        "machine_tag": tag,
        "label": label,
        "device": "gpu" if on_gpu else "cpu",
        "cpu": None if on_gpu else {"brand": hardware},
        "gpus": [{"name": hardware}] if on_gpu else [],
    }
    # A compiled CUDA table stays "torch-cuda" (hwfit has no compiled CUDA runtime to name).
    runtime = "torch-cuda" if on_gpu else ("torch-compile" if dynamo else "torch")
    details = {
        "source": "timm published benchmark table",
        "file": path.name,
        "latency": "mean ms per batch step of timm benchmark.py; no distribution published",
        "layout": match["layout"],
    }
    if on_gpu:
        details["cuda"] = _cuda_version(match["device"])
        if dynamo:
            details["compiled"] = "torch.compile"
    if match["precision"] == "amp":
        details["amp"] = "torch autocast float16, weights float32"
    executed = Executed(
        precision=precision,
        threads=None,
        device="GPU" if on_gpu else "CPU",
        details=details,
    )
    now = now_iso()
    results = []
    rows = csv.DictReader(text.lstrip().splitlines())
    for row in rows:
        at = f"{path.name!r} line {rows.line_num}"
        if not any((v or "").strip() for v in row.values() if isinstance(v, str)):
            continue
        results.append(
            _timm_row(row, at, runtime, precision, executed, torch_version, fingerprint, now)
        )
    if not results:
        raise UserError(f"The timm table {path.name!r} has no rows.", hint=_TIMM_HINT)
    return results, {fingerprint: profile}


def _timm_row(
    row: Mapping[str, str | None],
    at: str,
    runtime: str,
    precision: str,
    executed: Executed,
    torch_version: str,
    fingerprint: str,
    created_at: str,
) -> BenchResult:
    model = (row.get("model") or "").strip()
    if not model:
        raise UserError(f"The model is empty in {at}.", hint=_TIMM_HINT)
    arch = model.split(".", 1)[0]
    size = _whole(row, "infer_img_size", at)
    batch = _whole(row, "infer_batch_size", at)
    params = _optional_float(row, "param_count", at)
    gmacs = _optional_float(row, "infer_gmacs", at)
    info = ModelInfo(
        source=f"timm:{arch}",
        kind="torch",
        content_hash=f"timm-table:{arch}",  # no weights were published; the name identifies it
        input=InputSpec("input", (1, 3, size, size), "float32"),
        params=round(params * 1e6) if params is not None else None,
        macs=round(gmacs * 1e9) if gmacs is not None else None,
    )
    config = RunConfig(runtime=runtime, batch=batch, precision=precision, async_throughput=False)
    failed = BenchResult(
        model=info,
        config=config,
        state=RowState.FAILED,
        reason=(row.get("error") or "").strip() or None,
        runtime_version=torch_version,
        fingerprint=fingerprint,
        hwfit_version=__version__,
        created_at=created_at,
    )
    if failed.reason:  # timm's benchmark.py writes the exception of a model it could not run
        return failed
    step_ms = _positive(row, "infer_step_time", at)
    latency = LatencyStats(
        n=0,
        p50_ms=step_ms,
        p90_ms=step_ms,
        p99_ms=step_ms,
        mean_ms=step_ms,
        std_ms=0.0,
        min_ms=step_ms,
        max_ms=step_ms,
        ci_low_ms=step_ms,
        ci_high_ms=step_ms,
        ci_rel=0.0,
        warmup_runs=0,
        timed_s=0.0,
    )
    return dataclasses.replace(
        failed,
        state=RowState.COMPLETE,
        executed=executed,
        latency=latency,
        throughput=_positive(row, "infer_samples_per_sec", at),
    )


def _float(row: Mapping[str, str | None], column: str, at: str) -> float:
    raw = (row.get(column) or "").strip()
    value = number(raw, column, at, _TIMM_HINT)
    if not math.isfinite(value) or value < 0:
        raise UserError(f"The {column} {raw!r} in {at} is not a usable number.", hint=_TIMM_HINT)
    return value


def _optional_float(row: Mapping[str, str | None], column: str, at: str) -> float | None:
    return _float(row, column, at) if (row.get(column) or "").strip() else None


def _positive(row: Mapping[str, str | None], column: str, at: str) -> float:
    value = _float(row, column, at)
    if value == 0:
        raise UserError(f"The {column} in {at} is zero.", hint=_TIMM_HINT)
    return value


def _whole(row: Mapping[str, str | None], column: str, at: str) -> int:
    return whole((row.get(column) or "").strip(), column, at, _TIMM_HINT)


def _torch_version(code: str) -> str:
    """``"240"`` -> ``"2.4.0"``, ``"2100"`` -> ``"2.10.0"`` (timm's ``pt<version>`` tag)."""
    return f"{code[0]}.{int(code[1:-1])}.{code[-1]}"


def _cuda_version(device: str) -> str:
    """``"cu124"`` -> ``"12.4"``."""
    digits = device.removeprefix("cu")
    return f"{digits[:-1]}.{digits[-1]}"
