"""Latency measurements and their cache in the results database.

:class:`LatencyMeasurement` is what :class:`~hwfit.nas.latency.LatencyMeasurer` returns;
:class:`LatencyCache` keeps them in the results database (:class:`hwfit.db.ResultStore`, table
``latency_cache``) by architecture key, target and machine, converting to and from the stored
:class:`hwfit.db.latency.LatencyRecord`.
"""

from __future__ import annotations

import dataclasses
import math
import os
from typing import TYPE_CHECKING

from hwfit.bench.paired import MAX_CONTENTION
from hwfit.db.latency import LatencyRecord
from hwfit.hardware import probe
from hwfit.nas.target import Target

if TYPE_CHECKING:
    from hwfit.db import ResultStore

__all__ = ["MEASUREMENT", "LatencyCache", "LatencyMeasurement"]


#: How a target is run, in every key. m2: OpenVINO runs an INT8 model's non-quantized layers in
#: the CPU's fast float (BF16 where the CPU has it), no longer in FP32.
MEASUREMENT = "m2"


@dataclasses.dataclass(frozen=True)
class LatencyMeasurement:
    """The measured latency of one architecture on one target.

    Attributes:
        arch_key: The architecture's key (``Arch.key``).
        p50_ms: Median latency of one inference call (NaN when the measurement failed):
            over the timed loop, or, paired with a reference, the median of the model's
            50-ms window medians.
        ci_rel: Half-width of the 95% CI of the median relative to it (paired: of the ratio).
        runs: Timed runs (paired: window pairs).
        executed_precision: The precision the runtime reports it ran (read back, e.g. "int8").
        seconds: Wall time of the whole measurement (export to bench).
        quiet_ms: The latency with the cores to itself (NaN when failed): without a reference
            the lowest median of the loop's 50-ms windows
            (:func:`hwfit.bench.stats.quiet_latency`); paired, the reference's own quiet
            latency divided by the speed-up. It is :attr:`latency_ms`.
        contention: Share of the CPU others (processes, hypervisor steal) took during the
            timed loop kept; above :data:`MAX_CONTENTION` the loop was tried again and the
            least contended (paired: least noisy) one kept. NaN: unknown or failed.
        ratio: With a reference model (:class:`LatencyMeasurer` ``reference=``): this model's
            latency over the reference's, the inverse of the paired speed-up
            (:class:`hwfit.records.PairedRatio`). Both see the same machine, so the ratio
            holds when the host slows everything down (NaN without a reference).
        ratio_ci_low: Lower end of the ratio's 95% CI.
        ratio_ci_high: Upper end of it.
        reference_ms: The reference's own quiet latency, measured once per cache: the scale
            that turns :attr:`ratio` into milliseconds.
        attempts: Timed loops run (a contended or noisy one is retried).
        noise: Why the figure should not be trusted blindly (busy machine, wide CI).
        reason: Why the measurement failed; None when it succeeded.
        cached: True when this came from the cache instead of being measured now.
    """

    arch_key: str
    p50_ms: float
    ci_rel: float
    runs: int
    executed_precision: str
    seconds: float
    quiet_ms: float = math.nan
    contention: float = math.nan
    ratio: float = math.nan
    ratio_ci_low: float = math.nan
    ratio_ci_high: float = math.nan
    reference_ms: float = math.nan
    attempts: int = 1
    noise: tuple[str, ...] = ()
    reason: str | None = None
    cached: bool = False

    @property
    def latency_ms(self) -> float:
        """The latency the search uses (NaN when failed).

        With a reference model: :attr:`ratio` times :attr:`reference_ms`; without one:
        :attr:`quiet_ms`.
        """
        if math.isfinite(self.ratio) and math.isfinite(self.reference_ms):
            return self.ratio * self.reference_ms
        return self.quiet_ms

    @property
    def ok(self) -> bool:
        """True when the model was measured."""
        return self.reason is None

    @property
    def contended(self) -> bool:
        """True when others took over :data:`MAX_CONTENTION` of the CPU in every attempt.

        The latency is then probably inflated.
        """
        return self.contention > MAX_CONTENTION

    @property
    def failed(self) -> bool:
        """True when the measurement failed (``reason`` says why)."""
        return self.reason is not None

    @classmethod
    def failure(cls, arch_key: str, reason: str, seconds: float) -> LatencyMeasurement:
        """A failed measurement with its reason."""
        return cls(arch_key, math.nan, math.nan, 0, "", seconds, reason=reason)


#: The fields a measurement shares with its stored form (all but ``cached``).
_SHARED = tuple(
    f.name
    for f in dataclasses.fields(LatencyRecord)
    if f.name in {g.name for g in dataclasses.fields(LatencyMeasurement)}
)


def _open_store(db: ResultStore | str | os.PathLike[str] | None) -> tuple[ResultStore, bool]:
    """The store for ``db`` (a store, a URL or path, None: the default), and whether we own it."""
    from hwfit.db import ResultStore

    if isinstance(db, ResultStore):
        return db, False
    # writable: a read-only database fails now, before the search measures anything.
    return ResultStore(None if db is None else os.fspath(db), writable=True), True


class LatencyCache:
    """Measurements of one target on one machine, in the results database.

    Entries are keyed by architecture key, target and hardware fingerprint; the cache object
    reads and writes those of its own target and fingerprint only, so one database serves
    several targets and machines. Failed measurements are stored too (a candidate that crashes
    the converter is not tried again). Use it as a context manager (or call :meth:`close`)
    when it opened the database itself.

    Args:
        db: A :class:`~hwfit.db.ResultStore`, a database URL or file path, or None for the
            results database (:func:`hwfit.db.default_db_url`).
        target: The target the measurements are for.
        fingerprint: The hardware fingerprint (:attr:`HardwareProfile.fingerprint`); None
            probes this machine's.
        threads: The inference threads, when not the default of every physical core (kept
            apart: ``openvino:int8:bs1:cpu:t1``).
        reference: Key of the reference model the measurements are relative to (kept apart:
            ``openvino:int8:bs1:cpu:ref=<key>``); None for absolute measurements.

    Every key ends with :data:`MEASUREMENT`, the way a target is run: entries measured before
    it changed are never read back as if they were measured the new way.

    Raises:
        DatabaseError: The database cannot be opened.
    """

    def __init__(
        self,
        db: ResultStore | str | os.PathLike[str] | None = None,
        *,
        target: Target,
        fingerprint: str | None = None,
        threads: int | None = None,
        reference: str | None = None,
    ) -> None:
        if fingerprint is None:
            fingerprint = probe(include_runtimes=False).fingerprint
        self.target = (
            str(target)
            + (f":t{threads}" if threads else "")
            + (f":ref={reference}" if reference else "")
            + f":{MEASUREMENT}"
        )
        self.fingerprint = fingerprint
        self.store, self._owned = _open_store(db)

    def __enter__(self) -> LatencyCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the database connection when this cache opened it."""
        if self._owned:
            self.store.close()

    def get(self, arch_key: str) -> LatencyMeasurement | None:
        """The stored measurement of ``arch_key`` (``cached=True``), or None."""
        record = self.store.latency(arch_key, self.target, self.fingerprint)
        return None if record is None else _from_record(record)

    def put(self, measurement: LatencyMeasurement) -> None:
        """Store ``measurement``, replacing an older one of the same architecture."""
        values = {n: getattr(measurement, n) for n in _SHARED}
        self.store.save_latency(
            LatencyRecord(target=self.target, fingerprint=self.fingerprint, **values)
        )

    def get_reference_ms(self) -> float | None:
        """The reference model's own latency stored for this cache, or None."""
        return self.store.latency_reference(self.target, self.fingerprint)

    def put_reference_ms(self, ms: float) -> float:
        """Store the reference model's own latency (the scale of every ratio in this cache).

        Returns:
            The scale of this cache: ``ms``, or the one another measurer stored first.
        """
        return self.store.save_latency_reference(self.target, self.fingerprint, ms)

    def measurements(self) -> list[LatencyMeasurement]:
        """Every stored measurement of this target and machine, oldest first."""
        return [_from_record(r) for r in self.store.latencies(self.target, self.fingerprint)]

    def __len__(self) -> int:
        return len(self.measurements())


def _from_record(record: LatencyRecord) -> LatencyMeasurement:
    return LatencyMeasurement(**{n: getattr(record, n) for n in _SHARED}, cached=True)
