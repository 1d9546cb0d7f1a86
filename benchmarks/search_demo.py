"""Reproduce the search demo's claim: the best found architecture vs the baseline, same run.

Runs `hwfit search --demo` (mobilenetv2_100 on the shipped CIFAR-10 subset, target: this
machine's best runtime at INT8 bs1), then prints, from that one run: the baseline's and the found
architectures' latency measured on the target (interleaved, median of rounds), their top-1 under
the same training recipe, the speed-up, the latency predictor's held-out quality (target: at
least 90% within +-10%) and how the front's predictions compare with its re-measurement.

Usage: python benchmarks/search_demo.py [OUT_DIR]   (re-running with the same folder resumes)
"""

from __future__ import annotations

import sys
import time

from hwfit.nas.search import DEMO_PLAN, search


def main() -> None:
    out = sys.argv[1] if len(sys.argv) > 1 else "out/search-demo"
    t0 = time.monotonic()
    result = search("timm:mobilenetv2_100", None, out, plan=DEMO_PLAN)
    wall = time.monotonic() - t0
    base = result.baseline
    print(f"space {result.space}, target {result.target}, wall {wall / 60:.1f} min")
    print(
        f"{'role':<22}{'key':<14}{'measured ms':>12}{'speed-up [95% CI, paired]':>28}{'top-1':>8}"
    )
    for r in [base, *result.scaled, *result.found]:
        ratio = base.measured_ms / r.measured_ms if base.measured_ms and r.measured_ms else None
        ci = r.measured_ci_ms
        interval = (
            f" [{base.measured_ms / ci[1]:.2f}-{base.measured_ms / ci[0]:.2f}]"
            if ci and base.measured_ms and r is not base
            else ""
        )
        print(
            f"{r.role:<22}{r.key:<14}{r.measured_ms or float('nan'):>12.3f}"
            f"{(f'{ratio:.2f}x' if ratio else 'nan') + interval:>28}"
            f"{r.trained_top1 or float('nan'):>8.1f}"
        )
    q = result.predictor_quality
    verdict = "PASS" if q.within_10 >= 0.90 else "FAIL"
    print(
        f"latency predictor (held out {q.n_test} of {q.n_train + q.n_test}): "
        f"within10={q.within_10:.2f} mape={q.mape:.3f} tau={q.kendall_tau:.2f} "
        f"(target >= 0.90 within +-10%: {verdict})"
    )
    # The front was chosen by the predictor and re-measured: more held-out evidence.
    pairs = [
        (r.predicted_ms, r.measured_ms) for r in result.front if r.predicted_ms and r.measured_ms
    ]
    if pairs:
        close = sum(abs(p / m - 1) <= 0.10 for p, m in pairs)
        print(f"front re-measured: {close} of {len(pairs)} predictions within +-10% of it")
    if result.best is not None and result.speedup is not None:
        verdict = "PASS" if result.speedup >= 1.5 else "below 1.5x"
        ci = result.speedup_ci
        interval = f" [{ci[0]:.2f}-{ci[1]:.2f}]" if ci else ""
        print(
            f"best found {result.best.key}: {result.speedup:.2f}x{interval} faster than the "
            "baseline (measured paired with it) at "
            f"top-1 {result.best.trained_top1:.1f} vs {base.trained_top1:.1f} -> {verdict}"
        )
    else:
        print("no found architecture reached the baseline's accuracy at a lower latency")


if __name__ == "__main__":
    main()
