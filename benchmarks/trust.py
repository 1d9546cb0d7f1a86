"""Do hwfit's speed-ups hold on a busy machine? (acceptance of the measurement-engine issue)

In one run, on this machine:

1. **quiet**: ``hwfit bench MODEL`` (torch, openvino) and ``hwfit optimize MODEL`` (winner vs
   torch), through the Python API, nothing else running;
2. **loaded**: the same two again while this script keeps one core busy with a CPU-bound
   process for the whole measurement;
3. **plain**: an independent plain loop of the same files, quiet: PyTorch eager on the same
   model and OpenVINO's ``compile_model`` on the IR bench ran and on the artifact optimize
   wrote (with the manifest's runtime options), each in its own process, alternating rounds,
   the median of the rounds (``benchmarks/agreement.py``'s method).

It prints each figure with its interval and says, per figure, whether the loaded one is within
+-10% of the quiet one, or is marked noisy with an interval that contains the quiet value, and
whether the quiet one is within 10% of the plain loop. Exit code 0 when every check passes.

Run it by hand, alone on the machine (not under pytest)::

    python benchmarks/trust.py
    python benchmarks/trust.py --model timm:resnet18 --data /tmp/cifar200 --duration 6
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from optimize_speedup import cifar_subset  # the same 200 images the other benchmark uses

TOLERANCE = 0.10
ROUNDS = 5

PLAIN_TORCH = r"""
import json, sys, time, statistics, torch, timm
torch.set_num_threads(int(sys.argv[2]))
torch.manual_seed(0)
module = timm.create_model(sys.argv[1].split(":", 1)[1], pretrained=False).eval()
x = torch.randn(*json.loads(sys.argv[3]))
with torch.inference_mode():
    for _ in range(20):
        module(x)
    ahead()
    times, end = [], time.perf_counter() + float(sys.argv[4])
    while time.perf_counter() < end or len(times) < 20:
        t = time.perf_counter(); module(x); times.append((time.perf_counter() - t) * 1e3)
print(json.dumps(statistics.median(times)))
"""

PLAIN_OPENVINO = r"""
import json, sys, time, statistics
import numpy as np, openvino as ov
config = json.loads(sys.argv[2])
compiled = ov.Core().compile_model(sys.argv[1], "CPU", config)
request = compiled.create_infer_request()
x = np.random.default_rng(0).standard_normal(json.loads(sys.argv[3])).astype(np.float32)
request.set_input_tensor(ov.Tensor(x))
for _ in range(20):
    request.infer()
ahead()
times, end = [], time.perf_counter() + float(sys.argv[4])
while time.perf_counter() < end or len(times) < 20:
    t = time.perf_counter(); request.infer(); times.append((time.perf_counter() - t) * 1e3)
print(json.dumps(statistics.median(times)))
"""


@contextlib.contextmanager
def one_core_busy() -> Iterator[None]:
    """Keep one core busy with a CPU-bound process while the block runs."""
    proc = subprocess.Popen([sys.executable, "-c", "while True:\n    pass"])
    try:
        time.sleep(0.5)
        yield
    finally:
        proc.kill()
        proc.wait()


def bench_figure(model: str, duration: float) -> tuple[Any, str]:
    """OpenVINO's paired speed-up over torch from ``hwfit.bench``, and the IR it ran."""
    from hwfit.bench import bench
    from hwfit.models import load_model
    from hwfit.models.convert import to_openvino

    report = bench(model, runtimes=["torch", "openvino"], duration_s=duration, save=False)
    row = next(r for r in report.results if r.config.runtime == "openvino")
    if row.speedup is None:
        raise SystemExit(f"bench gave no paired speed-up: {row.reason or row.speedup_reason}")
    artifact = load_model(model)
    ir, _ = to_openvino(artifact, artifact.info.input)
    return row.speedup, str(ir)


def optimize_figure(model: str, data: str, out: Path, duration: float, drop: str) -> Any:
    """The winner's paired speed-up over torch from ``hwfit.optimize``."""
    from hwfit.tune import optimize

    result = optimize(
        model,
        data,
        out=out,
        runtimes=["openvino"],
        precisions=["fp32", "bf16", "int8"],
        max_accuracy_drop=drop,
        duration_s=duration,
        save=False,
    )
    if result.speedup is None:
        raise SystemExit(f"optimize gave no paired speed-up: {list(result.notes)}")
    return result


# The plain loops take the same precaution as hwfit's timed loops (every thread at real-time
# priority while timing, where the system allows it), written out here so that the reference
# shares no hwfit code.
AHEAD = r"""
import os
def ahead():
    try:
        for tid in os.listdir("/proc/self/task"):
            os.sched_setscheduler(int(tid), os.SCHED_FIFO, os.sched_param(1))
    except (OSError, AttributeError):
        pass
"""


def plain(script: str, *args: str) -> float:
    out = subprocess.run(
        [sys.executable, "-c", AHEAD + script, *args],
        capture_output=True,
        text=True,
        check=True,
        start_new_session=True,
    )
    return float(json.loads(out.stdout.strip().splitlines()[-1]))


def plain_ratio(
    model: str, xml: str, ov_config: dict[str, Any], threads: int, seconds: float
) -> float:
    """Plain torch loop median / plain OpenVINO loop median, alternating rounds (quiet)."""
    from hwfit.models import load_model

    shape = json.dumps(list(load_model(model).info.input.shape))
    ratios = []
    for i in range(ROUNDS):
        order = ("torch", "ov") if i % 2 == 0 else ("ov", "torch")
        ms = {}
        for side in order:
            if side == "torch":
                ms[side] = plain(PLAIN_TORCH, model, str(threads), shape, str(seconds))
            else:
                ms[side] = plain(PLAIN_OPENVINO, xml, json.dumps(ov_config), shape, str(seconds))
        ratios.append(ms["torch"] / ms["ov"])
    return statistics.median(ratios)


def verdict(name: str, quiet: Any, loaded: Any, reference: float) -> bool:
    near = abs(loaded.speedup / quiet.speedup - 1) <= TOLERANCE
    covered = loaded.noisy and loaded.ci_low <= quiet.speedup <= loaded.ci_high
    agrees = abs(quiet.speedup / reference - 1) <= TOLERANCE
    ok_load = near or covered
    print(f"\n{name}")
    print(f"  quiet   {quiet.text():24s} contention {_pct(quiet.contention)}")
    print(
        f"  loaded  {loaded.text():24s} contention {_pct(loaded.contention)}  noise: "
        f"{'; '.join(loaded.noise) or '-'}"
    )
    print(f"  plain   {reference:.2f}x (independent loops, median of {ROUNDS} alternating rounds)")
    print(
        f"  loaded/quiet {loaded.speedup / quiet.speedup:.3f}: "
        + ("PASS" if ok_load else "FAIL")
        + (
            " (within 10%)"
            if near
            else " (noisy, interval holds the quiet value)"
            if covered
            else ""
        )
    )
    print(f"  quiet/plain  {quiet.speedup / reference:.3f}: " + ("PASS" if agrees else "FAIL"))
    return ok_load and agrees


def _pct(value: float | None) -> str:
    return "unknown" if value is None or math.isnan(value) else f"{value:.0%}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="timm:resnet18")
    parser.add_argument("--data", help="image folder for optimize (default: 200 CIFAR images)")
    parser.add_argument("--duration", type=float, default=6.0)
    parser.add_argument("--max-accuracy-drop", default="10")
    args = parser.parse_args()
    os.environ.setdefault("HWFIT_CACHE_DIR", tempfile.mkdtemp(prefix="hwfit-trust-cache-"))
    work = Path(tempfile.mkdtemp(prefix="hwfit-trust-"))
    data = args.data or str(cifar_subset(work / "data", 20))  # 200 CIFAR-10 test images
    from hwfit.hardware import probe

    profile = probe(include_runtimes=False)
    threads = max(1, min(profile.cpu.physical_cores, profile.cpu.usable_threads))
    print(f"CPU: {profile.cpu.brand}, {threads} cores used; model {args.model}")

    started = time.monotonic()
    print("quiet: bench ...", flush=True)
    bench_quiet, ir = bench_figure(args.model, args.duration)
    print("quiet: optimize ...", flush=True)
    opt_quiet = optimize_figure(
        args.model, data, work / "opt-quiet", args.duration, args.max_accuracy_drop
    )
    with one_core_busy():
        print("loaded (one core busy): bench ...", flush=True)
        bench_loaded, _ = bench_figure(args.model, args.duration)
        print("loaded (one core busy): optimize ...", flush=True)
        opt_loaded = optimize_figure(
            args.model, data, work / "opt-loaded", args.duration, args.max_accuracy_drop
        )
    print("plain loops (quiet) ...", flush=True)
    bench_plain = plain_ratio(
        args.model,
        ir,
        {
            "INFERENCE_NUM_THREADS": threads,
            "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_PRECISION_HINT": "f32",
        },
        threads,
        args.duration / 2,
    )
    manifest = json.loads((work / "opt-quiet" / "hwfit.json").read_text())
    ov_config = {
        k: v
        for k, v in manifest["runtime_options"].items()
        if k.isupper() and k in ("INFERENCE_PRECISION_HINT", "PERFORMANCE_HINT", "NUM_STREAMS")
    }
    ov_config["INFERENCE_NUM_THREADS"] = threads
    opt_plain = plain_ratio(
        args.model,
        str(work / "opt-quiet" / manifest["model_file"]),
        ov_config,
        threads,
        args.duration / 2,
    )
    w = opt_quiet.winner.candidate
    ok = verdict(
        "hwfit bench: openvino fp32 vs torch fp32", bench_quiet, bench_loaded, bench_plain
    )
    ok &= verdict(
        f"hwfit optimize: winner ({w.runtime} {w.precision}; loaded run's winner "
        f"{opt_loaded.winner.candidate.precision}) vs torch fp32",
        opt_quiet.speedup,
        opt_loaded.speedup,
        opt_plain,
    )
    print(f"\n{'ALL PASS' if ok else 'SOME FAIL'} in {(time.monotonic() - started) / 60:.1f} min")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
