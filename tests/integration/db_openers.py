"""Processes that open one new database at the same moment (a team's first day on it).

Used by the SQLite and PostgreSQL tests of concurrent first use: every process imports hwfit
once, then, round after round, waits at a barrier and opens a fresh database (the same one as
every other process in that round), checks it is writable and stores one row.
"""

from __future__ import annotations

import multiprocessing
import traceback
from typing import Any

ROW_RUNTIMES = ("onnxruntime", "openvino", "torch", "torch-compile")


def _open_rounds(urls: list[str], index: int, barrier: Any, queue: Any) -> None:
    from hwfit.db import ResultStore
    from hwfit.records import BenchResult, InputSpec, ModelInfo, RowState, RunConfig

    row = BenchResult(
        model=ModelInfo("m.onnx", "onnx", "sha256:0", InputSpec("x", (1, 3, 8, 8))),
        config=RunConfig(ROW_RUNTIMES[index % len(ROW_RUNTIMES)], batch=index + 1),
        state=RowState.SKIPPED,
        reason=f"process {index}",
        fingerprint="fp-shared",  # one machine: every process inserts it the first time
    )
    for round_, url in enumerate(urls):
        barrier.wait(timeout=60)
        try:
            with ResultStore(url, writable=True) as store:
                store.save(row, {"cpu": {"brand": f"process {index}"}})
            queue.put((round_, index, None))
        except BaseException as exc:
            queue.put((round_, index, "".join(traceback.format_exception(exc))))


def open_at_once(urls: list[str], processes: int) -> dict[int, list[str]]:
    """Open each URL from ``processes`` processes at once, one URL per round.

    Returns:
        Round -> the tracebacks of the processes that failed in it (empty lists: all opened).
    """
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(processes)
    queue = ctx.Queue()
    workers = [
        ctx.Process(target=_open_rounds, args=(urls, i, barrier, queue), daemon=True)
        for i in range(processes)
    ]
    for worker in workers:
        worker.start()
    failures: dict[int, list[str]] = {r: [] for r in range(len(urls))}
    for _ in range(processes * len(urls)):
        round_, _index, error = queue.get(timeout=120)
        if error is not None:
            failures[round_].append(error)
    for worker in workers:
        worker.join(timeout=30)
    return failures
