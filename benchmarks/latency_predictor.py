"""How well does the learned latency predictor predict real latency on this machine?

Acceptance: at least 90% of held-out predictions within +-10% of the measured latency.

The architectures are the search demo's (``hwfit search --demo``): the space of
``timm:mobilenetv2_100`` at 64 px for 10 classes, its baseline and scaled variants
(``DEMO_PLAN.scaled``), then ``space.sample(random.Random(seed))`` until ``--count`` distinct
ones, as the search's latency phase draws them; ``--extra`` more come from
``random.Random(seed + 1)``. Latencies come from the latency cache in the results database
(``--db``, default: the one the search uses, ``$HWFIT_DB`` or the user's data folder); what is
missing is measured on the target (default ``openvino:int8:bs1:cpu``: export, NNCF INT8,
compile, timed loop) and added to the cache, at most ``--measure-budget`` seconds of it.
The latency is what the search uses: each model is timed in 50-ms windows alternating with the
baseline's (``hwfit.bench.paired``), and its latency is the baseline's own latency divided by
the median speed-up;
measurements taken while other processes used over 10% of the CPU (``contended``) are left
out, as the search leaves them out of its predictor. Keep the machine otherwise idle.

For every mode of :class:`LearnedPredictor` (and "auto", what the search uses) it prints the
quality on a held-out 25% (fitted on the other 75%; ``--seed``'s split, which is the search's
split, and the mean over ``--splits`` random splits) and of 5-fold cross-validation: MAPE, the
share within +-10%, Kendall's tau and the counts; next to a MACs-proportional baseline.

Run it by hand, not under pytest::

    python benchmarks/latency_predictor.py                                      # the demo's 40
    python benchmarks/latency_predictor.py --extra 100
    python benchmarks/latency_predictor.py --no-measure      # only what is cached
    python benchmarks/latency_predictor.py --extra 100 --measure-only --measure-budget 300
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch

from hwfit.nas.latency.features import layer_features
from hwfit.nas.latency.learned import MODES, LearnedPredictor
from hwfit.nas.latency.measure import LatencyCache, LatencyMeasurer, Reference
from hwfit.nas.latency.quality import PredictorQuality, cross_validate, evaluate, score
from hwfit.nas.search import DEMO_PLAN
from hwfit.nas.space import Arch, SearchSpace
from hwfit.nas.spaces import space_for
from hwfit.nas.target import Target, parse_target


def demo_archs(space: SearchSpace, count: int, extra: int, seed: int) -> list[Arch]:
    """The search's latency sample (baseline, scaled, then sampled), then ``extra`` more."""
    archs = [space.baseline()]
    for width, depth in DEMO_PLAN.scaled:
        arch = space.scaled(width, depth)
        if all(arch.key != a.key for a in archs):
            archs.append(arch)
    seen = {a.key for a in archs}
    for rng, total in ((random.Random(seed), count), (random.Random(seed + 1), count + extra)):
        attempts = 0
        while len(archs) < total and attempts < total * 20:
            attempts += 1
            arch = space.sample(rng)
            if arch.key not in seen:
                seen.add(arch.key)
                archs.append(arch)
    return archs


def measure_missing(
    space: SearchSpace,
    archs: list[Arch],
    target: Target,
    workdir: Path,
    db: str | None,
    duration_s: float,
    budget_s: float,
) -> dict[str, float]:
    """Cached latencies of ``archs``; the missing ones measured while ``budget_s`` lasts."""
    start = time.monotonic()
    latencies: dict[str, float] = {}
    with LatencyMeasurer(
        target, workdir, db=db, duration_s=duration_s, reference=reference(space)
    ) as measurer:
        cache = measurer.cache
        missing = []
        for arch in archs:
            hit = cache.get(arch.key) if cache is not None else None
            if hit is None:
                missing.append(arch)
            elif hit.ok and not hit.contended:
                latencies[arch.key] = hit.latency_ms
        print(f"{len(archs) - len(missing)} cached, {len(missing)} to measure", flush=True)
        for i, arch in enumerate(missing):
            if time.monotonic() - start > budget_s:
                print(f"measure budget spent: {len(missing) - i} left unmeasured")
                break
            m = measurer.measure(space.build(arch), space.input_shape(arch), key=arch.key)
            state = (
                f"{m.latency_ms:7.3f} ms ({m.ratio:5.3f}x baseline "
                f"[{m.ratio_ci_low:5.3f}-{m.ratio_ci_high:5.3f}]), "
                f"median {m.p50_ms:7.3f}, "
                f"others took {m.contention:4.0%} of the CPU"
                + (" (contended: left out)" if m.contended else "")
                if m.ok
                else f"FAILED {m.reason}"
            )
            print(f"{i + 1:3}/{len(missing)} {arch.key} {state}", flush=True)
            if m.ok and not m.contended:
                latencies[arch.key] = m.latency_ms
    return latencies


def reference(space: SearchSpace) -> Reference:
    """The search's reference: the baseline, paired with every measurement."""
    base = space.baseline()
    return Reference(space.build(base), space.input_shape(base), base.key)


def cached_only(
    space: SearchSpace, archs: list[Arch], target: Target, db: str | None
) -> dict[str, float]:
    """Cached latencies of ``archs`` (nothing measured)."""
    latencies = {}
    with LatencyCache(db, target=target, reference=space.baseline().key) as cache:
        for arch in archs:
            hit = cache.get(arch.key)
            if hit is not None and hit.ok and not hit.contended:
                latencies[arch.key] = hit.latency_ms
    return latencies


def repeatability(
    space: SearchSpace,
    archs: list[Arch],
    latencies: dict[str, float],
    target: Target,
    workdir: Path,
    args: argparse.Namespace,
) -> None:
    """Measure ``archs`` again (cache untouched) and print how far each method moved.

    The ground truth of the predictor's score is itself a measurement: no predictor can be
    more often within +-10% than two measurements of the same model are.
    """
    with LatencyCache(args.db, target=target, reference=space.baseline().key) as cache:
        first = {a.key: cache.get(a.key) for a in archs}
    paired, median = [], []
    with LatencyMeasurer(
        target, workdir, duration_s=args.duration, use_cache=False, reference=reference(space)
    ) as again:
        for arch in archs:
            old = first[arch.key]
            m = again.measure(space.build(arch), space.input_shape(arch), key=arch.key)
            if old is None or not (m.ok and old.ok) or m.contended or old.contended:
                continue
            paired.append(m.ratio / old.ratio - 1)
            median.append(m.p50_ms / old.p50_ms - 1)
    for name, devs in (
        ("ratio to the baseline (what the search uses)", paired),
        ("the model's median window, not divided by the baseline's", median),
    ):
        d = np.abs(np.array(devs))
        print(
            f"repeatability, {name}: {np.mean(d <= 0.10):.0%} of {len(d)} within +-10% of "
            f"the first measurement (median |change| {np.median(d):.1%}, max {d.max():.0%})"
        )


def line(name: str, q: PredictorQuality) -> str:
    """One table row: MAPE, within +-10%, Kendall's tau, train/test counts."""
    return (
        f"{name:<34}{q.mape:>7.1%}{q.within_10:>8.0%}{q.kendall_tau:>7.2f}"
        f"{q.n_train:>7}{q.n_test:>6}"
    )


def mean_quality(qualities: list[PredictorQuality]) -> PredictorQuality:
    """The mean of each number over several splits (counts of the first)."""
    return PredictorQuality(
        n_train=qualities[0].n_train,
        n_test=qualities[0].n_test,
        mape=float(np.mean([q.mape for q in qualities])),
        within_10=float(np.mean([q.within_10 for q in qualities])),
        kendall_tau=float(np.mean([q.kendall_tau for q in qualities])),
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--baseline", default="timm:mobilenetv2_100")
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--target", default="openvino:int8:bs1:cpu")
    parser.add_argument("--count", type=int, default=DEMO_PLAN.measure)
    parser.add_argument("--extra", type=int, default=0, help="more sampled architectures")
    parser.add_argument("--seed", type=int, default=0, help="the search's seed")
    parser.add_argument("--splits", type=int, default=10, help="random 75/25 splits averaged")
    parser.add_argument(
        "--duration", type=float, default=DEMO_PLAN.duration_s, help="timed loop, s"
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=0,
        help="measure this many of the architectures again (not cached): the noise floor",
    )
    parser.add_argument(
        "--workdir", type=Path, default=Path("out/latency-predictor"), help="temporary files"
    )
    parser.add_argument("--db", default=None, help="results database (default: the search's)")
    parser.add_argument("--measure-budget", type=float, default=3600.0, help="seconds")
    parser.add_argument("--no-measure", action="store_true", help="use cached latencies only")
    parser.add_argument("--measure-only", action="store_true", help="measure, do not score")
    args = parser.parse_args(argv)

    torch.set_num_threads(1)
    target = parse_target(args.target)
    space = space_for(args.baseline, num_classes=10, resolution=args.resolution)
    archs = demo_archs(space, args.count, args.extra, args.seed)
    if args.no_measure:
        latencies = cached_only(space, archs, target, args.db)
    else:
        latencies = measure_missing(
            space, archs, target, args.workdir, args.db, args.duration, args.measure_budget
        )
    measured = [a for a in archs if a.key in latencies]
    if args.repeat:
        repeatability(space, measured[: args.repeat], latencies, target, args.workdir, args)
    if args.measure_only:
        print(f"{len(measured)} of {len(archs)} architectures measured")
        return 0
    if len(measured) < 10:
        print(f"only {len(measured)} measured architectures: too few to score a predictor")
        return 1
    rows = [layer_features(space.build(a), space.input_shape(a)) for a in measured]
    y = np.array([latencies[a.key] for a in measured])
    print(
        f"{len(measured)} of {len(archs)} architectures measured on {target}: "
        f"{y.min():.3f} .. {y.max():.3f} ms (median {np.median(y):.3f})"
    )

    print(f"{'':<34}{'MAPE':>7}{'+-10%':>8}{'tau':>7}{'train':>7}{'test':>6}")
    n_test = max(1, round(len(y) * 0.25))
    macs = np.array([r["macs"] for r in rows])
    ratios = []
    for s in range(args.splits):
        order = np.random.default_rng(s).permutation(len(y))
        test, train = order[:n_test], order[n_test:]
        ratio = np.median(y[train] / macs[train])
        ratios.append(score(macs[test] * ratio, y[test], n_train=len(train)))
    print(line(f"MACs-proportional, {args.splits} splits", mean_quality(ratios)))
    results: dict[str, PredictorQuality] = {}
    for mode in (*MODES[1:], MODES[0]):
        held = evaluate(LearnedPredictor(mode), rows, y, test_fraction=0.25, seed=args.seed)
        splits = [
            evaluate(LearnedPredictor(mode), rows, y, test_fraction=0.25, seed=s)
            for s in range(args.splits)
        ]
        cv = cross_validate(lambda m=mode: LearnedPredictor(m), rows, y, folds=5, seed=args.seed)
        print(line(f"{mode}, held-out 25% (seed {args.seed})", held))
        print(line(f"{mode}, held-out, {args.splits} splits", mean_quality(splits)))
        print(line(f"{mode}, 5-fold CV", cv))
        results[mode] = held
    full = LearnedPredictor()
    full.fit(rows, y)
    cv_text = ", ".join(f"{k} {v:.1%}" for k, v in full.cv_mape.items())
    print(f"auto picks {full.chosen!r} on all {len(y)} (cross-validated MAPE: {cv_text})")
    ok = results["auto"].within_10 >= 0.90
    print(
        f"acceptance (auto: >= 90% within +-10% held out): {'PASS' if ok else 'FAIL'} "
        f"({results['auto'].within_10:.0%})"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
