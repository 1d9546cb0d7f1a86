"""A job type and its handler for the worker-pool tests: misbehaving on request.

``WorkerPool(handlers={"probe": "pool_handlers:run_probe"})`` runs :class:`ProbeJob`; the job
says what the worker does: report its pid, abort (SIGABRT, as a native crash would), sleep past
its time-out, or raise.
"""

from __future__ import annotations

import dataclasses
import os
import time
from typing import ClassVar

HANDLERS = {"probe": "pool_handlers:run_probe"}


@dataclasses.dataclass(frozen=True)
class ProbeResult:
    ok: bool
    pid: int | None = None
    error: str | None = None


@dataclasses.dataclass(frozen=True)
class ProbeJob:
    task: ClassVar[str] = "probe"

    action: str = "pid"  # "pid", "abort", "sleep" or "raise"
    seconds: float = 0.0

    def failed(self, reason: str) -> ProbeResult:
        return ProbeResult(ok=False, error=reason)


@dataclasses.dataclass(frozen=True)
class UnhandledJob(ProbeJob):
    task: ClassVar[str] = "unhandled"  # no handler is registered for it


def run_probe(job: ProbeJob) -> ProbeResult:
    if job.action == "abort":
        os.abort()
    if job.action == "sleep":
        time.sleep(job.seconds)
    if job.action == "raise":
        raise ValueError("the handler raised")
    return ProbeResult(ok=True, pid=os.getpid())
