"""Do hwfit's speed-ups hold on a busy machine? (acceptance of the measurement-engine issue)

In one run, on this machine:

1. **quiet**: ``hwfit bench MODEL`` (torch, openvino) and ``hwfit optimize MODEL`` (winner vs
   torch), through the Python API, nothing else running;
2. **loaded**: the same two again while this script keeps one core busy with a CPU-bound
   process for the whole measurement;
3. **plain**: an independent plain loop of the same files, quiet, right after each quiet figure:
   PyTorch eager on the same model and OpenVINO's ``compile_model`` on the IR bench ran and on
   the artifact optimize wrote (with the manifest's runtime options), each in its own
   long-lived process with no hwfit code, 16 alternating 1-s blocks, the median block ratio
   with its 95% interval (``benchmarks/plain_reference.py``).

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
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from optimize_speedup import cifar_subset  # the same 200 images the other benchmark uses
from plain_reference import OV_FP32, Reference, plain_ratio

TOLERANCE = 0.10


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


def plain_figure(model: str, xml: str, ov_options: dict[str, Any], threads: int) -> Reference:
    """The independent reference: torch eager / OpenVINO on ``xml``, plain loops, alternating."""
    from hwfit.models import load_model

    shape = list(load_model(model).info.input.shape)
    return plain_ratio(
        ("torch", model, None), ("openvino", xml, ov_options), threads=threads, shape=shape
    )


def verdict(name: str, quiet: Any, loaded: Any, ref: Reference) -> bool:
    near = abs(loaded.speedup / quiet.speedup - 1) <= TOLERANCE
    covered = loaded.noisy and loaded.ci_low <= quiet.speedup <= loaded.ci_high
    reference = ref.ratio
    agrees = abs(quiet.speedup / reference - 1) <= TOLERANCE
    ok_load = near or covered
    print(f"\n{name}")
    print(f"  quiet   {quiet.text():24s} contention {_pct(quiet.contention)}")
    print(
        f"  loaded  {loaded.text():24s} contention {_pct(loaded.contention)}  noise: "
        f"{'; '.join(loaded.noise) or '-'}"
    )
    print(
        f"  plain   {ref.text():24s} independent processes, {ref.rounds} alternating 1-s blocks "
        f"(torch {ref.a_ms:.2f} ms, openvino {ref.b_ms:.2f} ms; hwfit paired: {quiet.a_ms:.2f}, "
        f"{quiet.b_ms:.2f})"
    )
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
    # Each plain reference runs right after the quiet figure it checks: on a shared host the
    # speed-up itself moves with the host's load, so the two are compared a minute apart.
    print("quiet: bench ...", flush=True)
    bench_quiet, ir = bench_figure(args.model, args.duration)
    print("plain loops of the same files (quiet) ...", flush=True)
    bench_plain = plain_figure(args.model, ir, OV_FP32, threads)
    print("quiet: optimize ...", flush=True)
    opt_quiet = optimize_figure(
        args.model, data, work / "opt-quiet", args.duration, args.max_accuracy_drop
    )
    manifest = json.loads((work / "opt-quiet" / "hwfit.json").read_text())
    ov_options = {
        k: v
        for k, v in manifest["runtime_options"].items()
        if k in ("INFERENCE_PRECISION_HINT", "PERFORMANCE_HINT", "NUM_STREAMS")
    }
    print("plain loops of the artifact (quiet) ...", flush=True)
    opt_plain = plain_figure(
        args.model, str(work / "opt-quiet" / manifest["model_file"]), ov_options, threads
    )
    with one_core_busy():
        print("loaded (one core busy): bench ...", flush=True)
        bench_loaded, _ = bench_figure(args.model, args.duration)
        print("loaded (one core busy): optimize ...", flush=True)
        opt_loaded = optimize_figure(
            args.model, data, work / "opt-loaded", args.duration, args.max_accuracy_drop
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
