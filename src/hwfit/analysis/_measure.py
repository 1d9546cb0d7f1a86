"""Measure or reuse one benchmark row: the part frontier and gap share.

A stored row is reused instead of measured again when it is *fresh*: same machine fingerprint,
model source, input shape, runtime, precision, batch and threads request, measured by the same
hwfit version with the same runtime version, COMPLETE, and younger than ``max_age_days``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import TYPE_CHECKING

from hwfit._version import __version__
from hwfit.bench import probe_runtime, run_row
from hwfit.errors import HwfitError
from hwfit.records import BenchResult, RowState, RunConfig

if TYPE_CHECKING:
    from hwfit.db import ResultStore
    from hwfit.db.fallback import FallbackFile
    from hwfit.hardware import HardwareProfile
    from hwfit.records import Availability, ModelInfo
    from hwfit.runtimes.base import Runtime

__all__ = ["DEFAULT_MAX_AGE_DAYS", "Measurer"]

DEFAULT_MAX_AGE_DAYS = 30.0
"""Stored rows older than this are measured again (a driver or BIOS update ages them)."""


@dataclasses.dataclass
class Measurer:
    """Measures rows on this machine in worker processes, reusing fresh stored rows.

    Args:
        hardware: This machine's profile.
        store: The results database (a ``ResultStore``), or None to neither read nor write.
        fresh: Never reuse stored rows.
        max_age_days: Stored rows older than this are not reused.
        timeout_s: Seconds one worker may take.
        save: Store the rows measured (False: read stored rows only).
        trust_model: Workers may load model files that run code when loaded (the user trusted
            the model: :func:`hwfit.models.load_model`).
    """

    hardware: HardwareProfile
    store: ResultStore | None
    fresh: bool = False
    max_age_days: float = DEFAULT_MAX_AGE_DAYS
    timeout_s: float = 600.0
    save: bool = True
    trust_model: bool = False
    probed: dict[str, tuple[type[Runtime] | None, Availability]] = dataclasses.field(
        default_factory=dict
    )
    db_error: str | None = None
    saved: int = 0
    fallback: FallbackFile | None = None  # once the database stopped taking rows

    def probe(self, runtime: str) -> tuple[type[Runtime] | None, Availability]:
        """Probe a runtime once per run."""
        if runtime not in self.probed:
            self.probed[runtime] = probe_runtime(runtime)
        return self.probed[runtime]

    def stored(
        self, source: str, input_shape: tuple[int, ...], config: RunConfig
    ) -> list[BenchResult]:
        """Every stored COMPLETE row of this machine for this model, shape and configuration."""
        from hwfit.db import HistoryQuery  # sqlalchemy

        if self.store is None:
            return []
        rows = self.store.query(
            HistoryQuery(
                model=source, fingerprint=self.hardware.fingerprint, state=RowState.COMPLETE
            )
        )
        return [
            r
            for r in rows
            if r.model.source == source
            and tuple(r.model.input.shape[1:]) == tuple(input_shape[1:])
            and r.config.runtime == config.runtime
            and r.config.precision == config.precision
            and r.config.batch == config.batch
            and r.config.threads == config.threads
            and r.latency is not None
        ]

    def reusable(
        self, source: str, input_shape: tuple[int, ...], config: RunConfig
    ) -> BenchResult | None:
        """The newest fresh stored row for this configuration, or None (always None if fresh)."""
        if self.fresh:
            return None
        _, availability = self.probe(config.runtime)
        oldest = dt.datetime.now(dt.UTC) - dt.timedelta(days=self.max_age_days)
        for row in self.stored(source, input_shape, config):  # newest first
            if row.hwfit_version != __version__ or row.runtime_version != availability.version:
                continue
            if row.created_at is None or _parse_time(row.created_at) < oldest:
                continue
            return row
        return None

    def measure(self, info: ModelInfo, config: RunConfig) -> BenchResult:
        """Measure one row in a worker process and store it; never raises for a runtime crash."""
        result = run_row(
            info,
            config,
            timeout_s=self.timeout_s,
            probed=self.probe(config.runtime),
            trust_model=self.trust_model,
        )
        result = dataclasses.replace(
            result,
            fingerprint=self.hardware.fingerprint,
            hwfit_version=__version__,
            created_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        )
        if (
            self.save
            and self.store is not None
            and self.db_error is None
            and result.state is not RowState.SKIPPED
        ):
            try:
                self.store.save(result, self.hardware.to_dict())
                self.saved += 1
            except HwfitError as exc:  # measuring goes on; the rows go to a file import reads
                from hwfit.db.fallback import FallbackFile  # sqlalchemy

                self.db_error = exc.message
                self.fallback = FallbackFile(db_url=self.store.display_url)
        if self.fallback is not None and result.state is not RowState.SKIPPED:
            self.fallback.add(result, self.hardware.to_dict())
        return result

    def storage_note(self) -> str | None:
        """Why storing stopped and where the rows it missed are, or None when nothing failed."""
        if self.db_error is None:
            return None
        if self.fallback is None:
            return f"{self.db_error} (nothing was measured after it)"
        return f"{self.db_error} {self.fallback.note()}"


def _parse_time(text: str) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return dt.datetime.min.replace(tzinfo=dt.UTC)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)
