"""The stored form of one latency measurement (the ``latency_cache`` table), as a frozen record.

:class:`LatencyRecord` is what :class:`~hwfit.db.store.ResultStore` reads and writes; the
architecture search converts it to and from its own
:class:`~hwfit.nas.latency.LatencyMeasurement`, so that the database layer does not import the
search. Unknown numbers are NaN here and NULL in the database.
"""

from __future__ import annotations

import dataclasses
import math

__all__ = ["LatencyRecord"]


@dataclasses.dataclass(frozen=True)
class LatencyRecord:
    """One cached latency measurement: an architecture on a target, on one machine.

    Attributes:
        arch_key: The architecture's key.
        target: The target string with its qualifiers (``openvino:int8:bs1:cpu:t1:ref=<key>``).
        fingerprint: The machine's hardware fingerprint.
        p50_ms: Median latency (NaN when unknown or failed).
        ci_rel: Relative half-width of its 95% CI.
        runs: Timed runs (window pairs for a paired measurement).
        executed_precision: The precision the runtime reported running.
        seconds: Wall time of the whole measurement.
        reason: Why the measurement failed; None when it succeeded.
        created_at: When it was stored (ISO 8601, UTC); None before it is stored.
        quiet_ms: The latency with the cores to itself.
        contention: Share of the CPU others took (NaN: unknown).
        ratio: Candidate latency / reference latency (NaN without a reference).
        ratio_ci_low: Lower end of the ratio's 95% CI.
        ratio_ci_high: Upper end of it.
        reference_ms: The reference's own latency, the scale of ``ratio``.
        attempts: Timed loops run (a contended or noisy one is retried).
        noise: Why the number should not be trusted blindly (empty: trusted).
    """

    arch_key: str
    target: str
    fingerprint: str
    p50_ms: float = math.nan
    ci_rel: float = math.nan
    runs: int = 0
    executed_precision: str = ""
    seconds: float = 0.0
    reason: str | None = None
    created_at: str | None = None
    quiet_ms: float = math.nan
    contention: float = math.nan
    ratio: float = math.nan
    ratio_ci_low: float = math.nan
    ratio_ci_high: float = math.nan
    reference_ms: float = math.nan
    attempts: int = 1
    noise: tuple[str, ...] = ()
