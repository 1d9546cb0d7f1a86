"""The latency cache in the results database: round trips, NaN as NULL, keys kept apart, races."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from sqlalchemy import text
from test_postgres import pg_server, pg_url  # noqa: F401  (fixtures; they skip without a server)

from hwfit.db import ResultStore
from hwfit.db.latency import LatencyRecord
from hwfit.nas.latency import LatencyCache, LatencyMeasurement
from hwfit.nas.target import Target

TARGET = "openvino:int8:bs1:cpu:ref=base:m2"


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'results.db'}"
    return str(request.getfixturevalue("pg_url"))


def test_latency_records_round_trip_with_nan_stored_as_null(url: str) -> None:
    measured = LatencyRecord(
        "a",
        TARGET,
        "fp-1",
        p50_ms=1.5,
        ci_rel=0.01,
        runs=24,
        executed_precision="int8",
        seconds=3.2,
        quiet_ms=1.2,
        contention=0.03,
        ratio=0.8,
        ratio_ci_low=0.78,
        ratio_ci_high=0.83,
        reference_ms=1.5,
        attempts=2,
        noise=("busy machine: others took 15% of the CPU",),
    )
    failed = LatencyRecord("b", TARGET, "fp-1", reason="export failed", seconds=0.1)
    with ResultStore(url) as store:
        store.save_latency(measured)
        store.save_latency(failed)
        got = store.latency("a", TARGET, "fp-1")
        assert got is not None
        assert got == LatencyRecord(**{**vars(measured), "created_at": got.created_at})
        assert got.created_at is not None
        back = store.latency("b", TARGET, "fp-1")
        assert back is not None
        assert back.reason == "export failed"
        assert all(math.isnan(v) for v in (back.p50_ms, back.quiet_ms, back.ratio))
        with store.session_scope() as session:
            stored = session.execute(
                text("SELECT p50_ms, quiet_ms, contention FROM latency_cache WHERE arch_key = 'b'")
            ).one()
        assert tuple(stored) == (None, None, None)  # NULL, not NaN, in the database
        assert [r.arch_key for r in store.latencies(TARGET, "fp-1")] == ["a", "b"]


def test_two_fingerprints_and_targets_are_kept_apart_and_a_put_replaces(url: str) -> None:
    with ResultStore(url) as store:
        store.save_latency(LatencyRecord("a", TARGET, "fp-1", p50_ms=1.0))
        store.save_latency(LatencyRecord("a", TARGET, "fp-2", p50_ms=2.0))
        store.save_latency(LatencyRecord("a", "onnxruntime:fp32:bs1:cpu", "fp-1", p50_ms=3.0))
        store.save_latency(LatencyRecord("a", TARGET, "fp-1", p50_ms=4.0))  # measured again
        assert store.latency("a", TARGET, "fp-1").p50_ms == 4.0
        assert store.latency("a", TARGET, "fp-2").p50_ms == 2.0
        assert store.latency("a", TARGET, "fp-3") is None
        assert len(store.latencies()) == 3
        # Oldest first; a measurement stored again counts from then.
        assert [r.p50_ms for r in store.latencies(fingerprint="fp-1")] == [3.0, 4.0]
        assert store.save_latency_reference(TARGET, "fp-1", 1.25) == 1.25
        # The first scale stays: every ratio of the target is relative to one number.
        assert store.save_latency_reference(TARGET, "fp-1", 1.5) == 1.25
        assert store.latency_reference(TARGET, "fp-1") == 1.25
        assert store.latency_reference(TARGET, "fp-2") is None


def test_latency_cache_round_trips_measurements_through_the_database(tmp_path: Path) -> None:
    db = str(tmp_path / "results.db")
    measured = LatencyMeasurement(
        "a",
        1.0,
        0.02,
        24,
        "int8",
        2.0,
        quiet_ms=0.9,
        contention=math.nan,  # unknown: no /proc/stat
        ratio=0.5,
        ratio_ci_low=0.49,
        ratio_ci_high=0.52,
        reference_ms=1.8,
        attempts=3,
        noise=("wide CI: +-6% over 12 window pairs",),
    )
    with LatencyCache(db, target=Target(), fingerprint="fp-1", reference="base") as cache:
        assert cache.target == TARGET
        cache.put(measured)
        cache.put(LatencyMeasurement.failure("broken", "worker crashed with SIGSEGV", 0.5))
        cache.put_reference_ms(1.8)
    with LatencyCache(db, target=Target(), fingerprint="fp-1", reference="base") as cache:
        got = cache.get("a")
        assert got is not None
        assert got.cached
        assert math.isnan(got.contention)
        assert got.latency_ms == pytest.approx(0.9)
        expected = {**vars(measured), "contention": got.contention, "cached": True}
        assert vars(got) == expected
        assert cache.get("broken").reason == "worker crashed with SIGSEGV"
        assert cache.get_reference_ms() == 1.8
        assert len(cache) == 2
    with LatencyCache(db, target=Target(), fingerprint="fp-2", reference="base") as other:
        assert other.get("a") is None  # another machine
        assert other.get_reference_ms() is None
    with LatencyCache(db, target=Target(), fingerprint="fp-1") as absolute:
        assert absolute.get("a") is None  # not relative to a reference


_FIRST_USE = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from hwfit.db import ResultStore
    from hwfit.db.latency import LatencyRecord
    url, go, me = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
    while not go.exists():
        time.sleep(0.001)
    with ResultStore(url) as store:
        store.save_latency(LatencyRecord("shared", "t", "fp", p50_ms=1.0))
        store.save_latency(LatencyRecord(me, "t", "fp", p50_ms=2.0))
        store.save_latency_reference("t", "fp", float(me[1:]))
    """
)


@pytest.mark.timeout(120)
def test_concurrent_first_uses_of_a_fresh_database_do_not_fail(url: str, tmp_path: Path) -> None:
    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _FIRST_USE, url, str(go), f"p{i}"],
            stderr=subprocess.PIPE,
            text=True,
            env=os.environ.copy(),
        )
        for i in range(4)
    ]
    time.sleep(3)  # every process has imported hwfit and waits for the start
    go.touch()
    for proc in procs:
        _, err = proc.communicate(timeout=90)
        assert proc.returncode == 0, err[-2000:]
    with ResultStore(url) as store:
        assert sorted(r.arch_key for r in store.latencies()) == ["p0", "p1", "p2", "p3", "shared"]
        assert store.latency_reference("t", "fp") in (0.0, 1.0, 2.0, 3.0)  # the first one
