"""How well do hwfit's training-free proxies rank NAS-Bench-201 cells? (vs published accuracy)

Every shipped cell (``nas/spaces/nb201_published.csv``: a random sample of the 15,625 cells
with the benchmark's seed-averaged 200-epoch test top-1) is built untrained as an
``NB201Network`` and scored by each proxy on one class-balanced mini-batch of real CIFAR-10
images (the package's demo set). The table gives each proxy's Kendall tau and Spearman rho
against the published CIFAR-10 accuracy, its rho on the cells every proxy scored (so that
proxies run on different subsets compare like for like), and the Spearman rho the literature
reports for NAS-Bench-201 CIFAR-10 over all 15,625 cells.

The gradient-based proxies cost several seconds per cell on a CPU core, so by default they
run on the first ``--costly-limit`` cells (the table's order is the benchmark's index order,
unrelated to accuracy, so any prefix is a random sample); the others run on every cell.
Run it by hand, not under pytest::

    OMP_NUM_THREADS=1 python benchmarks/nb201_proxies.py
    OMP_NUM_THREADS=1 python benchmarks/nb201_proxies.py --costly-limit 326   # everything
    python benchmarks/nb201_proxies.py --proxies synflow params --limit 100
"""

from __future__ import annotations

import argparse
import math
import sys
import time

import torch
from nb201_check import (
    ProxyCheck,
    check_proxies,
    demo_minibatch,
    load_published,
    published_path,
    rank_correlation,
)

from hwfit.nas.proxies import PROXIES

COSTLY = ("grad_norm", "snip", "zen")
"""Proxies that backpropagate (or run many forward passes): seconds per cell on one core."""

# Spearman rho on NAS-Bench-201 CIFAR-10 (all 15,625 cells) as published. Abdelfattah et al.,
# "Zero-Cost Proxies for Lightweight NAS", ICLR 2021 (their NAS-Bench-201 table); params and
# flops as reported by Akhauri et al., "EZNAS", NeurIPS 2022. Both were read from a secondary
# summary of the EZNAS results, not from the papers themselves. NASWOT (Mellor et al., ICML
# 2021) and Zen-NAS (Lin et al., ICCV 2021): see the papers (EZNAS reports NASWOT's Kendall tau
# on NAS-Bench-201 CIFAR-10 as 0.57).
LITERATURE_RHO: dict[str, tuple[float | None, str]] = {
    "synflow": (0.74, "Abdelfattah 2021"),
    "grad_norm": (0.58, "Abdelfattah 2021"),
    "snip": (0.58, "Abdelfattah 2021"),
    "params": (0.75, "Akhauri 2022"),
    "flops": (0.75, "Akhauri 2022"),
    "naswot": (None, "see Mellor 2021 (tau 0.57 in Akhauri 2022)"),
    "zen": (None, "see Lin 2021"),
}


def main(argv: list[str] | None = None) -> int:
    """Run the check and print the table; exit code 0."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--proxies", nargs="+", default=PROXIES.names())
    parser.add_argument("--limit", type=int, default=None, help="cells for cheap proxies")
    parser.add_argument(
        "--costly-limit", type=int, default=40, help="cells for " + "/".join(COSTLY)
    )
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    start = time.perf_counter()
    archs = load_published()
    data = demo_minibatch(args.batch_size, seed=args.seed)
    print(
        f"{len(archs)} published cells ({published_path().name}); CIFAR-10 demo batch "
        f"{args.batch_size}; torch threads {torch.get_num_threads()}"
    )
    cheap = [name for name in args.proxies if name not in COSTLY]
    costly = [name for name in args.proxies if name in COSTLY]
    results: dict[str, ProxyCheck] = {}
    for names, limit in ((cheap, args.limit), (costly, args.costly_limit)):
        if not names:
            continue
        subset = archs[:limit] if limit is not None else archs
        print(f"scoring {len(subset)} cells with {', '.join(names)} ...", flush=True)
        results.update(check_proxies(subset, data, names, seed=args.seed, progress=_progress))
        print(file=sys.stderr)

    common = min(len(check.scores) for check in results.values())
    same = f"rho@{common}"
    header = (
        f"{'proxy':<10} {'cells':>5} {'fail':>4} {'tau':>6} {'rho':>6} {same:>8}  "
        f"{'lit. rho':<46} {'s/cell':>6}"
    )
    print(header)
    accuracies = [arch.cifar10_test_top1 for arch in archs[:common]]
    print("-" * len(header))
    for name in args.proxies:
        check = results[name]
        lit, source = LITERATURE_RHO.get(name, (None, "n/a"))
        lit_text = f"{lit:.2f} ({source})" if lit is not None else source
        per_cell = check.seconds / max(1, check.n_archs + check.n_failed)
        same_rho = rank_correlation(check.scores[:common], accuracies)[1]
        print(
            f"{name:<10} {check.n_archs:>5} {check.n_failed:>4} {_fmt(check.kendall_tau):>6} "
            f"{_fmt(check.spearman_rho):>6} {_fmt(same_rho):>8}  {lit_text:<46} {per_cell:>6.2f}"
        )
    print(f"total {time.perf_counter() - start:.0f} s")
    return 0


def _fmt(value: float) -> str:
    return "nan" if math.isnan(value) else f"{value:+.3f}"


def _progress(done: int, total: int) -> None:
    if done % 10 == 0 or done == total:
        print(f"\r  {done}/{total}", end="", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
