"""How good a latency predictor is on held-out measurements.

Three numbers, as the search reports them: the mean absolute percentage error (MAPE), the share
of predictions within +-10% of the measurement, and Kendall's tau between predicted and measured
latencies (what matters to a search: does the predictor order candidates correctly), in a
:class:`~hwfit.records.search.PredictorQuality` record.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from hwfit.errors import UserError
from hwfit.nas.latency.base import LatencyPredictor
from hwfit.records.search import PredictorQuality

__all__ = ["PredictorQuality", "cross_validate", "evaluate", "score"]


def score(
    predicted_ms: Sequence[float] | np.ndarray,
    measured_ms: Sequence[float] | np.ndarray,
    *,
    n_train: int = 0,
) -> PredictorQuality:
    """Score predictions against measurements.

    Example:
        >>> q = score([1.0, 2.2, 2.9], [1.0, 2.0, 3.0])
        >>> round(q.mape, 3), round(q.within_10, 2), q.kendall_tau
        (0.044, 0.67, 1.0)
    """
    from scipy.stats import kendalltau

    p = np.asarray(predicted_ms, dtype=np.float64)
    m = np.asarray(measured_ms, dtype=np.float64)
    if len(p) != len(m) or len(m) == 0:
        raise UserError(f"Cannot score {len(p)} predictions against {len(m)} measurements.")
    error = np.abs(p - m) / m
    tau = float(kendalltau(p, m).statistic) if len(m) > 1 else math.nan
    return PredictorQuality(
        n_train=n_train,
        n_test=len(m),
        mape=float(error.mean()),
        within_10=float(np.mean(error <= 0.10)),
        kendall_tau=tau,
    )


def evaluate(
    predictor: LatencyPredictor,
    features: Sequence[Mapping[str, float]],
    latencies_ms: Sequence[float],
    *,
    test_fraction: float = 0.25,
    seed: int = 0,
) -> PredictorQuality:
    """Fit ``predictor`` on a random part of the measurements and score it on the rest.

    The predictor is left fitted on the training part.

    Args:
        predictor: The predictor to fit and score.
        features: One feature dict per measured model.
        latencies_ms: Their measured latencies.
        test_fraction: Share held out for scoring (at least one model).
        seed: Seed of the random split.

    Raises:
        UserError: ``test_fraction`` outside (0, 1), or too few measurements to split.
    """
    n = len(latencies_ms)
    if not 0 < test_fraction < 1:
        raise UserError(f"test_fraction must be in (0, 1), got {test_fraction}.")
    n_test = max(1, round(n * test_fraction))
    if n - n_test < 2:
        raise UserError(f"{n} measurements are too few to hold {n_test} out.")
    order = np.random.default_rng(seed).permutation(n)
    test, train = order[:n_test], order[n_test:]
    y = np.asarray(latencies_ms, dtype=np.float64)
    predictor.fit([features[i] for i in train], y[train])
    predicted = predictor.predict([features[i] for i in test])
    return score(predicted, y[test], n_train=len(train))


def cross_validate(
    make: Callable[[], LatencyPredictor],
    features: Sequence[Mapping[str, float]],
    latencies_ms: Sequence[float],
    *,
    folds: int = 5,
    seed: int = 0,
) -> PredictorQuality:
    """K-fold cross-validation: every measurement is predicted once by a model not fitted on it.

    Args:
        make: Returns a fresh, unfitted predictor (one per fold).
        features: One feature dict per measured model.
        latencies_ms: Their measured latencies.
        folds: Number of folds (at most one per measurement).
        seed: Seed of the random fold assignment.

    Returns:
        The pooled quality over all held-out predictions; ``n_train`` is the smallest fold's
        training size.

    Raises:
        UserError: Fewer than two folds, or fewer measurements than folds.
    """
    n = len(latencies_ms)
    if folds < 2 or n < folds:
        raise UserError(f"Cannot make {folds} folds of {n} measurements (need 2 <= folds <= n).")
    y = np.asarray(latencies_ms, dtype=np.float64)
    order = np.random.default_rng(seed).permutation(n)
    predicted = np.empty(n)
    n_train = n
    for fold in np.array_split(order, folds):
        held = set(fold.tolist())
        train = [i for i in order if i not in held]
        predictor = make()
        predictor.fit([features[i] for i in train], y[train])
        predicted[fold] = predictor.predict([features[i] for i in fold])
        n_train = min(n_train, len(train))
    return score(predicted, y, n_train=n_train)
