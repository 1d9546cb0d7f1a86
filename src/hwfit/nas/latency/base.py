"""The latency-predictor contract: :class:`LatencyPredictor`.

Predictors work on feature dicts (:func:`hwfit.nas.latency.features.layer_features` of a built
model), not on architectures, so one predictor serves every search space: the search passes
``layer_features(space.build(arch), space.input_shape(arch))``.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import ClassVar

import numpy as np

from hwfit.errors import UserError

__all__ = ["LatencyPredictor", "check_training_data", "feature_matrix"]


class LatencyPredictor(abc.ABC):
    """Predicts the latency (ms) of models on one target from their features.

    Contract:
        * :meth:`fit` may be called again with more measurements; it replaces what was learned.
        * :meth:`predict` returns one positive latency in milliseconds per feature dict, in
          order, and never changes the predictor; it raises before :meth:`fit`.
        * Feature dicts passed to :meth:`predict` have (at least) the keys seen by :meth:`fit`.
        * :meth:`save` then :meth:`load` gives a predictor whose predictions are identical.
    """

    name: ClassVar[str]

    @abc.abstractmethod
    def fit(
        self,
        features: Sequence[Mapping[str, float]],
        latencies_ms: Sequence[float] | np.ndarray,
    ) -> None:
        """Learn latency from measured models.

        Args:
            features: One feature dict per measured model.
            latencies_ms: Their measured median latencies, same order, all > 0.

        Raises:
            UserError: Too few measurements, mismatched lengths, or non-positive latencies.
        """

    @abc.abstractmethod
    def predict(self, features: Sequence[Mapping[str, float]]) -> np.ndarray:
        """Predict latencies (ms), one per feature dict.

        Raises:
            UserError: The predictor is not fitted, or a feature it needs is missing.
        """

    @abc.abstractmethod
    def save(self, path: Path) -> None:
        """Write the fitted predictor to ``path``."""

    @classmethod
    @abc.abstractmethod
    def load(cls, path: Path) -> LatencyPredictor:
        """Read a predictor written by :meth:`save`.

        Raises:
            UserError: The file is missing or not a predictor of this kind.
        """

    def predict_one(self, features: Mapping[str, float]) -> float:
        """Predict the latency (ms) of one model."""
        return float(self.predict([features])[0])


def feature_matrix(features: Sequence[Mapping[str, float]], keys: Sequence[str]) -> np.ndarray:
    """Stack feature dicts into a float matrix with one column per key, in ``keys`` order.

    Raises:
        UserError: A dict lacks one of ``keys`` (the message names it).

    Example:
        >>> feature_matrix([{"a": 1.0, "b": 2.0}], ["b", "a"]).tolist()
        [[2.0, 1.0]]
    """
    rows = np.empty((len(features), len(keys)), dtype=np.float64)
    for i, row in enumerate(features):
        try:
            rows[i] = [float(row[k]) for k in keys]
        except KeyError as exc:
            raise UserError(
                f"Feature {exc.args[0]!r} is missing from model {i} given to the predictor.",
                hint="Compute features with hwfit.nas.latency.layer_features for every model.",
            ) from exc
    return rows


def check_training_data(
    features: Sequence[Mapping[str, float]],
    latencies_ms: Sequence[float] | np.ndarray,
    minimum: int,
) -> np.ndarray:
    """Return the latencies as an array after checking them against ``features``.

    Raises:
        UserError: Lengths differ, fewer than ``minimum`` models, or a latency is not > 0.
    """
    y = np.asarray(latencies_ms, dtype=np.float64)
    if len(features) != len(y):
        raise UserError(f"{len(features)} feature dicts but {len(y)} latencies.")
    if len(y) < minimum:
        raise UserError(
            f"A latency predictor needs at least {minimum} measured models, got {len(y)}.",
            hint="Measure more architectures first.",
        )
    if not np.all(np.isfinite(y)) or np.any(y <= 0):
        raise UserError("Latencies must be finite and > 0 ms (leave failed measurements out).")
    return y
