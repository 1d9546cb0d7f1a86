"""Check the training-free accuracy proxies against NAS-Bench-201's published accuracies.

A validation script's library, not part of hwfit (``benchmarks/nb201_proxies.py`` runs it;
``tests/integration/test_nb201_check.py`` tests it).

hwfit ships a sample of NAS-Bench-201 cells with the accuracies the benchmark published for
them (``nas/spaces/nb201_published.csv``; source and metric in ``nb201_published.md`` beside
it: seed-averaged test top-1 after the full 200-epoch training, from NATS-Bench's topology
space). :func:`check_proxies` builds each cell as an untrained :class:`NB201Network`, scores it
with the registered proxies on one real mini-batch and reports how well each proxy's ranking
agrees with the published one (Kendall tau, Spearman rho)::

    archs = load_published()
    checks = check_proxies(archs[:50], demo_minibatch(64), proxies=["synflow", "params"])
    checks["synflow"].spearman_rho

This is the check the literature runs (e.g. Abdelfattah et al., ICLR 2021, on all 15,625
cells); on a random sample of the space the coefficients estimate the same quantities.
"""

from __future__ import annotations

import csv
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from scipy import stats
from torch import Tensor

from hwfit.errors import UserError
from hwfit.nas import spaces
from hwfit.nas.proxies import PROXIES, score_all
from hwfit.nas.proxies.base import check_batch
from hwfit.nas.spaces.nb201 import NB201Network, parse_arch_string

__all__ = [
    "ACCURACY_COLUMNS",
    "PUBLISHED_FILE",
    "ProxyCheck",
    "PublishedArch",
    "check_proxies",
    "demo_minibatch",
    "load_published",
    "published_path",
    "rank_correlation",
]

PUBLISHED_FILE = "nb201_published.csv"
ACCURACY_COLUMNS = ("cifar10_test_top1", "cifar100_test_top1", "imagenet16_120_test_top1")
"""The accuracy columns of the published table, in percent."""

_COLUMNS = ("arch", *ACCURACY_COLUMNS, "nb201_index")


@dataclass(frozen=True)
class PublishedArch:
    """One NAS-Bench-201 cell and its published accuracies.

    Attributes:
        arch: The benchmark's arch string.
        ops: The cell's op per edge, in :data:`~hwfit.nas.spaces.nb201.EDGES` order.
        cifar10_test_top1: CIFAR-10 test top-1 (%), 200 epochs, seed-averaged.
        cifar100_test_top1: CIFAR-100 test top-1 (%), same protocol.
        imagenet16_120_test_top1: ImageNet16-120 test top-1 (%), same protocol.
        nb201_index: The cell's index in NAS-Bench-201 / NATS-Bench TSS.
    """

    arch: str
    ops: tuple[str, ...]
    cifar10_test_top1: float
    cifar100_test_top1: float
    imagenet16_120_test_top1: float
    nb201_index: int

    def accuracy(self, column: str) -> float:
        """The published accuracy in ``column`` (one of :data:`ACCURACY_COLUMNS`)."""
        if column not in ACCURACY_COLUMNS:
            raise UserError(
                f"Unknown accuracy column {column!r}.",
                hint=f"Use one of: {', '.join(ACCURACY_COLUMNS)}.",
            )
        value: float = getattr(self, column)
        return value


@dataclass(frozen=True)
class ProxyCheck:
    """How one proxy's ranking of the cells agrees with the published accuracies.

    Attributes:
        proxy: The proxy's registry name.
        kendall_tau: Kendall's tau-b between score and published accuracy (NaN when fewer
            than two cells were scored or either side is constant).
        spearman_rho: Spearman's rank correlation, likewise.
        n_archs: Cells whose score entered the coefficients.
        n_failed: Cells the proxy could not score (NaN, left out of the coefficients).
        seconds: Time spent scoring with this proxy, summed over the cells.
        scores: The score of every cell, in input order (NaN where it failed; ``-inf`` is a
            valid score, e.g. for a cell whose output does not depend on its input).
    """

    proxy: str
    kendall_tau: float
    spearman_rho: float
    n_archs: int
    n_failed: int
    seconds: float
    scores: tuple[float, ...]


def published_path() -> Path:
    """The location of the shipped table (``nb201_published.csv``)."""
    return Path(spaces.__file__).resolve().parent / PUBLISHED_FILE


def load_published(path: str | Path | None = None) -> list[PublishedArch]:
    """Read the published NAS-Bench-201 accuracies, validating every row.

    Args:
        path: A CSV with the shipped table's columns; the shipped table by default.

    Returns:
        One entry per row, in file order.

    Raises:
        UserError: The file is missing, lacks a column, or has a bad arch string, a
            non-numeric or out-of-range accuracy, or a repeated arch (the message names the
            line).
    """
    where = Path(path) if path is not None else published_path()
    if not where.is_file():
        raise UserError(
            f"Published NAS-Bench-201 table {str(where)!r} not found.",
            hint="Give a CSV with columns " + ", ".join(_COLUMNS) + ".",
        )
    with where.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [column for column in _COLUMNS if column not in (reader.fieldnames or [])]
        if missing:
            raise UserError(
                f"{where.name} lacks the column(s) {', '.join(missing)}.",
                hint="Columns needed: " + ", ".join(_COLUMNS) + ".",
            )
        rows = list(reader)
    archs: list[PublishedArch] = []
    seen: dict[tuple[str, ...], int] = {}
    for line, row in enumerate(rows, start=2):
        archs.append(_parse_row(where.name, line, row, seen))
    if not archs:
        raise UserError(f"{where.name} has no rows.", hint="Add at least one architecture.")
    return archs


def _parse_row(
    name: str, line: int, row: dict[str, str], seen: dict[tuple[str, ...], int]
) -> PublishedArch:
    where = f"{name} line {line}"
    try:
        ops = parse_arch_string(row["arch"])
    except UserError as exc:
        raise UserError(f"{where}: {exc.message}", hint=exc.hint) from None
    if ops in seen:
        raise UserError(
            f"{where}: arch {row['arch']!r} repeats line {seen[ops]}.",
            hint="List each architecture once.",
        )
    seen[ops] = line
    values: list[float] = []
    for column in ACCURACY_COLUMNS:
        try:
            value = float(row[column])
        except ValueError:
            raise UserError(
                f"{where}: {column} {row[column]!r} is not a number.",
                hint="Give accuracies in percent, e.g. 93.66.",
            ) from None
        if not 0.0 <= value <= 100.0:
            raise UserError(
                f"{where}: {column} {value} is not a percentage.",
                hint="Give accuracies in percent (0 to 100).",
            )
        values.append(value)
    try:
        index = int(row["nb201_index"])
    except ValueError:
        raise UserError(
            f"{where}: nb201_index {row['nb201_index']!r} is not an integer.",
            hint="Give the benchmark index (0 to 15624).",
        ) from None
    return PublishedArch(row["arch"], ops, values[0], values[1], values[2], index)


def demo_minibatch(n: int = 64, seed: int = 0) -> tuple[Tensor, Tensor]:
    """A class-balanced mini-batch of real CIFAR-10 images from the shipped demo set.

    Args:
        n: Batch size (at most 5,000).
        seed: Seed of the draw.

    Returns:
        ``(inputs, targets)``: ``(n, 3, 32, 32)`` normalised float32 and ``(n,)`` int64.
    """
    from hwfit.nas.data import load_demo

    return load_demo(max_train=max(n, 1), max_val=10, seed=seed).minibatch(n, seed=seed)


def check_proxies(
    archs: Sequence[PublishedArch],
    data: tuple[Tensor, Tensor],
    proxies: Sequence[str] | None = None,
    *,
    seed: int = 0,
    accuracy: str = "cifar10_test_top1",
    num_classes: int = 10,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, ProxyCheck]:
    """Score every cell with each proxy and correlate the scores with published accuracy.

    Each cell is built once as an untrained :class:`NB201Network` (weights drawn under
    ``seed``, the same for every cell, without touching torch's global generator) and scored
    by every proxy on the same mini-batch. A proxy that fails on a cell scores NaN there
    (see :func:`~hwfit.nas.proxies.score_all`) and that cell is left out of its coefficients.

    Args:
        archs: The cells, e.g. from :func:`load_published`.
        data: One mini-batch ``(inputs, targets)`` of real images (:func:`demo_minibatch`).
        proxies: Proxy names; default: every registered proxy.
        seed: Seed of the weight initialisation and of each proxy's randomness.
        accuracy: The published column to correlate with (:data:`ACCURACY_COLUMNS`).
        num_classes: Classifier outputs of the built networks.
        progress: Called with ``(done, total)`` after each cell.

    Returns:
        Proxy name -> its :class:`ProxyCheck`, in ``proxies`` order.

    Raises:
        UserError: No cells, an unknown accuracy column, or an unknown proxy name.
        InputShapeError: ``data`` is not a mini-batch.
    """
    if not archs:
        raise UserError("No architectures to check.", hint="Pass at least two cells.")
    names = PROXIES.names() if proxies is None else list(proxies)
    for name in names:
        PROXIES.load(name)  # unknown names fail here, before any work
    published = np.array([arch.accuracy(accuracy) for arch in archs], dtype=np.float64)
    inputs, targets = data
    check_batch(inputs, targets)
    scores = {name: np.full(len(archs), math.nan) for name in names}
    seconds = dict.fromkeys(names, 0.0)
    for i, arch in enumerate(archs):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = NB201Network(arch.ops, num_classes).eval()
        for name in names:
            start = time.perf_counter()
            scores[name][i] = score_all(model, inputs, targets, [name], seed=seed)[name]
            seconds[name] += time.perf_counter() - start
        if progress is not None:
            progress(i + 1, len(archs))
    return {name: _correlate(name, scores[name], published, seconds[name]) for name in names}


def rank_correlation(scores: Sequence[float], accuracies: Sequence[float]) -> tuple[float, float]:
    """Kendall's tau-b and Spearman's rho between scores and accuracies, NaN scores left out.

    ``-inf`` scores rank lowest. Either coefficient is NaN when fewer than two pairs remain
    or one side is constant.

    Example:
        >>> rank_correlation([1.0, float("-inf"), 3.0, float("nan")], [50.0, 10.0, 90.0, 80.0])
        (1.0, 1.0)
    """
    score_array = np.asarray(scores, dtype=np.float64)
    acc_array = np.asarray(accuracies, dtype=np.float64)
    ok = ~np.isnan(score_array)
    if int(ok.sum()) < 2:
        return math.nan, math.nan
    # Rank first: ranks are finite even where a score is -inf, and rank correlations of ranks
    # equal those of the values (ties stay ties).
    score_ranks = stats.rankdata(score_array[ok])
    acc_ranks = stats.rankdata(acc_array[ok])
    if np.ptp(score_ranks) == 0 or np.ptp(acc_ranks) == 0:
        return math.nan, math.nan
    tau = float(stats.kendalltau(score_ranks, acc_ranks).statistic)
    rho = float(stats.spearmanr(score_ranks, acc_ranks).statistic)
    return tau, rho


def _correlate(name: str, scores: np.ndarray, published: np.ndarray, seconds: float) -> ProxyCheck:
    tau, rho = rank_correlation(scores.tolist(), published.tolist())
    n = int((~np.isnan(scores)).sum())
    return ProxyCheck(
        proxy=name,
        kendall_tau=tau,
        spearman_rho=rho,
        n_archs=n,
        n_failed=len(scores) - n,
        seconds=seconds,
        scores=tuple(float(value) for value in scores),
    )
