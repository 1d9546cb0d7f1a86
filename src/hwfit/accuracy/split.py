"""Seeded, class-proportional sampling: subsets of a dataset and disjoint splits of it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeVar

import numpy as np
import numpy.typing as npt

from hwfit.errors import UserError

__all__ = ["Splittable", "choose", "sample_order", "split"]

_D = TypeVar("_D", bound="Splittable")


class Splittable(Protocol):
    """What :func:`split` needs of a dataset (:class:`hwfit.accuracy.Dataset` is one)."""

    @property
    def y(self) -> npt.NDArray[np.int64] | None:
        """Class indices ``(N,)``, or None for unlabelled samples."""

    @property
    def source(self) -> str:
        """Where the samples came from (named in errors)."""

    def __len__(self) -> int:
        """The number of samples."""

    def subset(self: _D, indices: Sequence[int] | npt.NDArray[np.int64]) -> _D:
        """The samples at ``indices``, in that order."""


def split(dataset: _D, calib_size: int, val_size: int, seed: int = 0) -> tuple[_D, _D]:
    """Draw disjoint calibration and validation subsets (seeded, class-proportional).

    Args:
        dataset: The samples to draw from.
        calib_size: Samples for calibration (may be 0).
        val_size: Samples for validation (may be 0).
        seed: Seed of the draw; the same seed gives the same subsets.

    Returns:
        ``(calibration, validation)``, each in dataset order, sharing no sample.

    Raises:
        UserError: A negative size, or more samples asked for than the dataset holds.

    Example:
        >>> from hwfit.accuracy import Dataset
        >>> ds = Dataset(x=np.zeros((10, 1, 2, 2), np.float32), y=np.arange(10) % 2)
        >>> calib, val = split(ds, 4, 6)
        >>> len(calib), len(val), sorted(np.bincount(calib.y).tolist())
        (4, 6, [2, 2])
    """
    if calib_size < 0 or val_size < 0:
        raise UserError(f"Subset sizes must not be negative, got {calib_size} and {val_size}.")
    n = len(dataset)
    if calib_size + val_size > n:
        raise UserError(
            f"Cannot draw {calib_size} calibration + {val_size} validation samples from "
            f"dataset {dataset.source!r}: it holds {n}.",
            hint=f"Ask for at most {n} samples in all, or give a bigger dataset.",
        )
    order = sample_order(n, dataset.y, seed)
    calib = np.sort(order[:calib_size])
    val = np.sort(order[calib_size : calib_size + val_size])
    return dataset.subset(calib), dataset.subset(val)


def choose(
    n: int, y: npt.NDArray[np.int64] | None, limit: int | None, seed: int
) -> npt.NDArray[np.int64]:
    """Indices of the samples to keep, sorted: all, or a seeded class-proportional subset."""
    if limit is None or limit >= n:
        return np.arange(n, dtype=np.int64)
    return np.sort(sample_order(n, y, seed)[:limit])


def sample_order(n: int, y: npt.NDArray[np.int64] | None, seed: int) -> npt.NDArray[np.int64]:
    """A seeded order of ``range(n)`` whose every prefix holds each class in proportion."""
    rng = np.random.default_rng(seed)
    perm = rng.permutation(n).astype(np.int64)
    if y is None or n == 0:
        return perm
    _, inverse, counts = np.unique(y[perm], return_inverse=True, return_counts=True)
    inverse = inverse.reshape(-1)
    by_class = np.argsort(inverse, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.empty(n, dtype=np.float64)
    rank[by_class] = np.arange(n) - np.repeat(starts, counts)
    key = (rank + rng.random(n)) / counts[inverse]
    return perm[np.argsort(key, kind="stable")]
