"""``hwfit.bench.contention``: the share of the CPU other processes take while we measure."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from hwfit.bench.contention import ContentionProbe, cpu_ticks

pytestmark = pytest.mark.skipif(
    not Path("/proc/stat").exists(), reason="contention is read from Linux's /proc/stat"
)


def _spin(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def test_a_busy_neighbour_process_shows_and_our_own_work_does_not():
    # Our own busy loop is our time, not contention.
    own = ContentionProbe().start()
    _spin(1.0)
    own_share = own.stop()
    # Another process spinning on one core is contention: ~1/cpus of the machine.
    neighbour = subprocess.Popen(
        [sys.executable, "-c", "import time\nt=time.time()\nwhile time.time()-t<5: pass"]
    )
    try:
        time.sleep(0.5)  # let it start
        probe = ContentionProbe().start()
        _spin(1.5)
        busy_share = probe.stop()
    finally:
        neighbour.kill()
        neighbour.wait()
    cpus = probe.cpus
    assert busy_share >= 0.6 / cpus  # one busy core of `cpus`, give or take the scheduler
    assert busy_share > own_share
    assert 0.0 <= own_share <= 1.0


def test_cpu_ticks_count_up():
    first = cpu_ticks()
    _spin(0.3)
    second = cpu_ticks()
    assert first is not None
    assert second is not None
    assert second[0] > first[0]  # busy seconds grew with our spin
    assert second[1] >= first[1]
