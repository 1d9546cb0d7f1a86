"""Does the paired method agree with plain loops, and what does the pause before each window do?

``hwfit``'s speed-ups come from paired windows (:mod:`hwfit.bench.paired`): both models in one
process, alternating windows of about 50 ms, with a short idle pause before each window so that
the thread pool of the side that just ran stops spinning. This script measures, in one run on
this machine, the same speed-ups (OpenVINO FP32 and ONNX Runtime FP32 over PyTorch eager) by:

1. **paired** windows with the pause swept (``--idle-ms``, default 0, 5, 20, 50, 100 ms), at the
   priority hwfit's timed loops use here and at normal priority;
2. **blocks**: both models still in one process, each timed alone for ``--block-s`` seconds,
   alternating (``A B A B ...``), the ratio of the medians of the blocks' medians;
3. **plain**: each model in its own long-lived process running no hwfit code (PyTorch eager /
   OpenVINO ``compile_model`` on the same IR / an ONNX Runtime session on the same ONNX file),
   alternating 1-s blocks, the median block ratio with its interval
   (``benchmarks/plain_reference.py``, also ``benchmarks/trust.py``'s reference).

For each figure it prints the ratio, its interval where it has one, and the two sides' median
latencies, so a disagreement can be traced to the side that moved. Exit code 0 when the paired
figure at hwfit's pause is within 10% of the plain loops for every runtime.

Run it by hand, alone on the machine (not under pytest)::

    python benchmarks/paired_bias.py
    python benchmarks/paired_bias.py --model timm:resnet50 --idle-ms 0,50 --rounds 7
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from plain_reference import OV_FP32, plain_ratio

TOLERANCE = 0.10


@contextlib.contextmanager
def priority_env(level: str) -> Iterator[None]:
    """Set ``HWFIT_PRIORITY`` for the block ("" leaves hwfit's default)."""
    old = os.environ.get("HWFIT_PRIORITY")
    if level:
        os.environ["HWFIT_PRIORITY"] = level
    else:
        os.environ.pop("HWFIT_PRIORITY", None)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("HWFIT_PRIORITY", None)
        else:
            os.environ["HWFIT_PRIORITY"] = old


def blocks(
    a: Callable[[], None], b: Callable[[], None], block_s: float, rounds: int
) -> tuple[float, float, float]:
    """Each model timed alone for ``block_s``, alternating; (ratio, a ms, b ms)."""
    from hwfit.bench.method import time_ms
    from hwfit.bench.priority import ahead_of_others

    def block(fn: Callable[[], None]) -> float:
        import time

        times: list[float] = []
        end = time.perf_counter() + block_s
        with ahead_of_others():
            while time.perf_counter() < end or len(times) < 10:
                times.append(time_ms(fn))
        return statistics.median(times)

    a_ms, b_ms = [], []
    for i in range(rounds):
        for side in "ab" if i % 2 == 0 else "ba":
            (a_ms if side == "a" else b_ms).append(block(a if side == "a" else b))
    ratios = [x / y for x, y in zip(a_ms, b_ms, strict=True)]
    return statistics.median(ratios), statistics.median(a_ms), statistics.median(b_ms)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="timm:resnet18")
    parser.add_argument("--runtimes", default="openvino,onnxruntime")
    parser.add_argument("--idle-ms", default="0,5,20,50,100")
    parser.add_argument("--rounds", type=int, default=16, help="plain and block rounds")
    parser.add_argument("--block-s", type=float, default=1.0)
    args = parser.parse_args()
    os.environ.setdefault("HWFIT_CACHE_DIR", tempfile.mkdtemp(prefix="hwfit-bias-cache-"))

    from hwfit.bench.method import warm_up
    from hwfit.bench.paired import SWITCH_IDLE_S, paired_windows, ratio_of
    from hwfit.bench.priority import ahead_of_others, can_raise
    from hwfit.hardware import probe
    from hwfit.models import load_model
    from hwfit.models.convert import to_onnx, to_openvino
    from hwfit.records import RunConfig
    from hwfit.runtimes import get_runtime

    cpu = probe(include_runtimes=False).cpu
    threads = max(1, min(cpu.physical_cores, cpu.usable_threads))
    artifact = load_model(args.model)
    spec = artifact.info.input
    shape = list(spec.shape)
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    print(f"CPU: {cpu.brand}, {threads} threads; model {args.model} {shape}")
    print(
        f"priority of timed loops here: {can_raise()}; hwfit's pause: {SWITCH_IDLE_S * 1e3:g} ms"
    )

    compiled: dict[str, Any] = {}
    for name in ("torch", *args.runtimes.split(",")):
        model = get_runtime(name)().compile(artifact, RunConfig(runtime=name, threads=threads))
        model.bind(x)
        warm_up(model.run, 3.0)
        compiled[name] = model
    sources = {
        "torch": args.model,
        "openvino": str(to_openvino(artifact, spec)[0]),
        "onnxruntime": str(to_onnx(artifact, spec)[0]),
    }
    idles = [float(v) / 1e3 for v in args.idle_ms.split(",")]
    ok = True
    for name in args.runtimes.split(","):
        a, b = compiled["torch"].run, compiled[name].run
        print(f"\n{name} fp32 vs torch fp32 (ratio = torch ms / {name} ms)")
        print(f"  {'method':34s} {'ratio':>24s} {'torch ms':>9s} {name + ' ms':>14s}")
        at_default = None
        for level in ("", "normal"):
            with priority_env(level):
                label = "real-time" if not level and can_raise() == "real-time" else "normal"
                for idle in idles:
                    with ahead_of_others():
                        w = paired_windows(a, b, min_time_s=3.0, max_time_s=6.0, idle_s=idle)
                    r = ratio_of(w)
                    if not level and idle == SWITCH_IDLE_S:
                        at_default = r.speedup
                    print(
                        f"  {f'paired, {label}, pause {idle * 1e3:g} ms':34s} {r.text():>24s} "
                        f"{r.a_ms:9.2f} {r.b_ms:14.2f}"
                    )
                ratio, a_ms, b_ms = blocks(a, b, args.block_s, args.rounds)
                print(
                    f"  {f'blocks, {label}, {args.rounds}x{args.block_s:g} s':34s} "
                    f"{f'{ratio:.2f}x':>24s} {a_ms:9.2f} {b_ms:14.2f}"
                )
        ref = plain_ratio(
            ("torch", sources["torch"], None),
            (name, sources[name], OV_FP32 if name == "openvino" else None),
            threads=threads,
            shape=shape,
            rounds=args.rounds,
        )
        plain = ref.ratio
        print(
            f"  {f'plain processes, {ref.rounds} 1-s blocks':34s} {ref.text():>24s} "
            f"{ref.a_ms:9.2f} {ref.b_ms:14.2f}"
        )
        if at_default is not None:
            agree = abs(at_default / plain - 1) <= TOLERANCE
            ok &= agree
            print(
                f"  paired at hwfit's pause / plain = {at_default / plain:.3f}: "
                + ("PASS" if agree else "FAIL")
            )
    for model in compiled.values():
        model.close()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
