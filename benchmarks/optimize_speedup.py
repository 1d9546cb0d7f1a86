"""Does ``hwfit optimize`` make models fast on this CPU?

Acceptance: resnet50 >= 5x and efficientnet_b2 >= 3x faster than PyTorch eager FP32.

For each model, one ``hwfit.optimize`` run measures PyTorch eager FP32 at batch 1 (the
baseline) and every candidate in the same run, on a small labelled data set (CIFAR-10 test
images, resized by the model's own preprocessing). It prints:

* the winner's speed-up over the baseline, against the target;
* the winner against the best single-runtime defaults measured in the same run: ONNX Runtime
  FP32 with its default settings, and OpenVINO with its default precision on this CPU (BF16
  where the CPU has AVX512-BF16 or AMX, FP32 otherwise);
* every candidate's latency, executed precision, accuracy drop and fate.

Models have random weights (nothing is downloaded), so top-1 on CIFAR labels is chance level;
optimize then guards on top-1 agreement with the FP32 reference and says so. A random network's
logits are nearly tied, so its argmax flips under INT8 far more than a trained network's does
(resnet50 INT8: about 8 points of agreement lost on 100 images). This benchmark is about speed,
so its default budget is 10 points of agreement; every candidate's drop is printed, and
``--max-accuracy-drop 1`` shows what a strict budget picks on random weights.

Run it by hand, not under pytest::

    python benchmarks/optimize_speedup.py                     # both models, ~10-15 min
    python benchmarks/optimize_speedup.py --models timm:resnet50 --data /path/to/images
"""

from __future__ import annotations

import argparse
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import hwfit
from hwfit.records import RowState

ROW = "{:40} {:9} {:26} {:>8} {:>7} {:>6}"
TARGETS = {"timm:resnet50": 5.0, "timm:efficientnet_b2": 3.0}
SHARED_CIFAR = (
    Path(__file__).resolve().parents[1].parent / "shared" / "data" / "cifar10-test-jpeg.tar.gz"
)


def cifar_subset(folder: Path, per_class: int, split: str = "test") -> Path:
    """Extract ``per_class`` images of each CIFAR-10 class from the shared archive."""
    taken: dict[str, int] = {}
    with tarfile.open(SHARED_CIFAR.with_name(f"cifar10-{split}-jpeg.tar.gz")) as tar:
        for member in tar:
            parts = Path(member.name).parts
            if not member.isfile() or len(parts) < 3:
                continue
            cls = parts[-2]
            if taken.get(cls, 0) >= per_class:
                continue
            taken[cls] = taken.get(cls, 0) + 1
            target = folder / cls / parts[-1]
            target.parent.mkdir(parents=True, exist_ok=True)
            extracted = tar.extractfile(member)
            assert extracted is not None
            target.write_bytes(extracted.read())
    return folder


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", default=",".join(TARGETS))
    parser.add_argument("--data", help="labelled image folder (default: CIFAR-10 test images)")
    parser.add_argument("--per-class", type=int, default=20)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--out", help="keep the optimize outputs here")
    parser.add_argument("--max-accuracy-drop", default="10")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="hwfit-optimize-bench-"))
    data = Path(args.data) if args.data else cifar_subset(tmp / "data", args.per_class)
    ok = True
    summary = []
    for model in args.models.split(","):
        start = time.monotonic()
        out = Path(args.out or tmp) / model.replace(":", "_")
        result = hwfit.optimize(
            model,
            str(data),
            out=out,
            duration_s=args.duration,
            max_accuracy_drop=args.max_accuracy_drop,
            save=False,
        )
        wall = time.monotonic() - start
        base = result.baseline
        print(f"\n== {model}  (one optimize run, {wall / 60:.1f} min; out: {out})")
        print(f"baseline {base.candidate.runtime} fp32 batch 1: p50 {base.p50_ms:.2f} ms")
        header = ("candidate", "state", "executed", "p50 ms", "x base", "drop")
        print(ROW.format(*header) + "  why")
        for o in sorted(result.outcomes, key=lambda o: o.p50_ms or 1e9):
            executed = o.bench.executed.precision if o.bench and o.bench.executed else "-"
            figure = o.bench.speedup if o.bench else None  # measured paired with the baseline
            speed = figure.text() if figure else "-"
            p50 = f"{o.p50_ms:.2f}" if o.p50_ms else "-"
            drop = f"{o.drop:+.2f}" if o.drop is not None else "-"
            state = "WINNER" if o is result.winner else o.state.value
            row = ROW.format(o.candidate.label, state, executed[:26], p50, speed, drop)
            print(f"{row}  {o.reason or ''}")
        for note in result.notes:
            print(f"note: {note}")
        winner = result.winner
        if winner is None or result.speedup is None:
            print("FAIL: no winner")
            ok = False
            continue
        target = TARGETS.get(model)
        by_label = {(o.candidate.runtime, o.candidate.precision): o for o in result.outcomes}
        ov_default = (
            "bf16"
            if hwfit.probe_hardware(include_runtimes=False).cpu.has("avx512_bf16")
            else "fp32"
        )
        defaults = {
            "onnxruntime default (fp32)": by_label.get(("onnxruntime", "fp32")),
            f"openvino default ({ov_default})": by_label.get(("openvino", ov_default)),
        }
        claim = result.speedup  # re-measured paired at the end of the run
        line = (
            f"{model}: winner {winner.candidate.runtime} {winner.candidate.precision} "
            f"{winner.p50_ms:.2f} ms, {claim.text()} vs PyTorch eager FP32 (paired)"
        )
        if target:
            passed = claim.speedup >= target
            ok &= passed
            line += f" (target {target:.0f}x: {'PASS' if passed else 'FAIL'})"
        summary.append(line)
        for name, o in defaults.items():
            if o is None or o.p50_ms is None or o.state is not RowState.COMPLETE:
                summary.append(f"  vs {name}: not measured")
                continue
            if o is winner:
                summary.append(f"  vs {name}: the winner itself (PASS)")
                continue
            if o is result.runner_up and result.vs_runner_up is not None:
                versus = result.vs_runner_up  # measured paired at the end
            elif o.bench and o.bench.speedup and winner.bench and winner.bench.speedup:
                versus = None  # both paired against the same baseline: their quotient
            else:
                summary.append(f"  vs {name}: no paired figure")
                continue
            if versus is not None:
                ratio, text = versus.speedup, versus.text()
                never_slower = versus.ci_high >= 1.0
            else:
                ratio = winner.bench.speedup.speedup / o.bench.speedup.speedup
                text = f"{ratio:.2f}x (quotient of the two paired figures)"
                never_slower = ratio >= 0.98
            ok &= never_slower
            verdict = "PASS" if never_slower else "FAIL"
            summary.append(f"  vs {name}: winner {text} ({verdict})")
    print("\n" + "\n".join(summary))
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
