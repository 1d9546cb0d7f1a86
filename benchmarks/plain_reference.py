"""An independent reference for hwfit's speed-ups: plain loops in their own processes.

Each model runs in its own long-lived process (PyTorch eager on the timm model, OpenVINO's
``compile_model`` on an IR, or an ONNX Runtime session on an ONNX file), written out here
with nothing from hwfit. The processes wait on a pipe; the parent asks one, then the other, for
a block of timed runs (``A B``, then ``B A``, ... so that neither side always goes first), and
each block's median is one sample. The ratio of each round's two medians is one ratio; the
reference is the median ratio over the rounds with a distribution-free 95% interval (order
statistics of the binomial), and the median latency of each side.

Short blocks alternating many times follow a machine whose speed drifts (a shared host, a
frequency change) much better than one long loop per side: each ratio compares two blocks a
second apart. Used by ``benchmarks/trust.py`` and ``benchmarks/paired_bias.py``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import statistics
import subprocess
import sys
import time
from typing import Any

# A server: load the model, warm up, then answer "<seconds>" lines with the median ms of a
# block of runs timed at real-time priority where allowed (as hwfit's timed loops are).
_SERVER_HEAD = r"""
import json, os, statistics, sys, time

def ahead(on):
    if os.environ.get("HWFIT_PRIORITY", "").lower() == "normal":
        return
    policy, prio = (os.SCHED_FIFO, 1) if on else (os.SCHED_OTHER, 0)
    try:
        for tid in os.listdir("/proc/self/task"):
            os.sched_setscheduler(int(tid), policy, os.sched_param(prio))
    except (OSError, AttributeError):
        pass

def serve(run):
    for _ in range(20):
        run()
    print("ready", flush=True)
    for line in sys.stdin:
        seconds = float(line)
        times = []
        ahead(True)
        end = time.perf_counter() + seconds
        while time.perf_counter() < end or len(times) < 5:
            t = time.perf_counter(); run(); times.append((time.perf_counter() - t) * 1e3)
        ahead(False)
        print(json.dumps(statistics.median(times)), flush=True)
"""

_SERVERS = {
    "torch": r"""
import torch, timm
torch.set_num_threads(int(sys.argv[2]))
torch.manual_seed(0)
module = timm.create_model(sys.argv[1].split(":", 1)[1], pretrained=False).eval()
x = torch.randn(*json.loads(sys.argv[3]))
def run():
    with torch.inference_mode():
        module(x)
serve(run)
""",
    "openvino": r"""
import numpy as np, openvino as ov
config = json.loads(sys.argv[4])
config["INFERENCE_NUM_THREADS"] = int(sys.argv[2])
request = ov.Core().compile_model(sys.argv[1], "CPU", config).create_infer_request()
x = np.random.default_rng(0).standard_normal(json.loads(sys.argv[3])).astype(np.float32)
request.set_input_tensor(ov.Tensor(x))
serve(request.infer)
""",
    "onnxruntime": r"""
import numpy as np, onnxruntime as ort
opts = ort.SessionOptions()
opts.intra_op_num_threads = int(sys.argv[2])
session = ort.InferenceSession(sys.argv[1], opts, providers=["CPUExecutionProvider"])
feed = {session.get_inputs()[0].name:
        np.random.default_rng(0).standard_normal(json.loads(sys.argv[3])).astype(np.float32)}
serve(lambda: session.run(None, feed))
""",
}

#: OpenVINO settings of hwfit's FP32 row (the IR is run with these unless told otherwise).
OV_FP32 = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32"}


@dataclasses.dataclass(frozen=True)
class Reference:
    """The plain loops' ratio (A's latency / B's) with its interval and the two sides' medians."""

    ratio: float
    low: float
    high: float
    rounds: int
    a_ms: float
    b_ms: float

    def text(self) -> str:
        """``1.58x [1.55-1.61]``."""
        return f"{self.ratio:.2f}x [{self.low:.2f}-{self.high:.2f}]"


class _Server:
    """A plain loop in its own process: ``block(seconds)`` -> its median ms (peers.py too)."""

    def __init__(self, runtime: str, source: str, threads: int, shape: list[int],
                 options: dict[str, Any] | None) -> None:  # fmt: skip
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _SERVER_HEAD + _SERVERS[runtime], source, str(threads),
             json.dumps(shape), json.dumps(options or {})],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, start_new_session=True,
        )  # fmt: skip

    def ready(self) -> None:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        if line != "ready":
            raise RuntimeError(f"plain loop did not start (exit {self.proc.wait()})")

    def block(self, seconds: float) -> float:
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write(f"{seconds}\n")
        self.proc.stdin.flush()
        return float(json.loads(self.proc.stdout.readline()))

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def median_interval(values: list[float], confidence: float = 0.95) -> tuple[float, float]:
    """Distribution-free interval of the median: order statistics of Binomial(n, 1/2)."""
    xs = sorted(values)
    n = len(xs)
    if n < 6:
        return xs[0], xs[-1]
    cdf, k = 0.0, 0
    tail = (1 - confidence) / 2
    while True:  # the largest k with P(Bin(n, 1/2) < k) <= tail
        p = math.comb(n, k) / 2**n
        if cdf + p > tail:
            break
        cdf += p
        k += 1
    return xs[max(k - 1, 0)], xs[min(n - k, n - 1)]


def plain_ratio(
    a: tuple[str, str, dict[str, Any] | None],
    b: tuple[str, str, dict[str, Any] | None],
    *,
    threads: int,
    shape: list[int],
    rounds: int = 16,
    block_s: float = 1.0,
    pause_s: float = 0.1,
) -> Reference:
    """A's plain latency over B's: ``a`` and ``b`` are (runtime, model source, options)."""
    servers = [_Server(rt, src, threads, shape, opts) for rt, src, opts in (a, b)]
    try:
        for server in servers:
            server.ready()
        a_ms, b_ms = [], []
        for i in range(rounds):
            order = (0, 1) if i % 2 == 0 else (1, 0)
            ms = {}
            for side in order:
                time.sleep(pause_s)  # the other side's threads stop spinning first
                ms[side] = servers[side].block(block_s)
            a_ms.append(ms[0])
            b_ms.append(ms[1])
    finally:
        for server in servers:
            server.close()
    ratios = [x / y for x, y in zip(a_ms, b_ms, strict=True)]
    low, high = median_interval(ratios)
    return Reference(
        statistics.median(ratios), low, high, rounds, statistics.median(a_ms),
        statistics.median(b_ms),
    )  # fmt: skip
