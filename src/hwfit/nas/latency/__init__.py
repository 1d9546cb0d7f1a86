"""Latency on the target: real measurement, per-layer features and learned predictors.

* :func:`measure` / :class:`LatencyMeasurer`: export -> convert -> quantize -> compile -> bench
  on a :class:`~hwfit.nas.target.Target`, cached by architecture (:class:`LatencyCache`).
* :func:`layer_features`: what a predictor learns from (fixed keys, :data:`FEATURE_KEYS`).
* :class:`LatencyPredictor` (the contract), :class:`LearnedPredictor`, registered in
  :data:`PREDICTORS`; :func:`evaluate` / :func:`cross_validate` give a
  :class:`PredictorQuality` (MAPE, share within +-10%, Kendall's tau).
"""

from __future__ import annotations

from hwfit.nas.latency.base import LatencyPredictor, feature_matrix
from hwfit.nas.latency.features import FEATURE_KEYS, layer_features
from hwfit.nas.latency.learned import LearnedPredictor
from hwfit.nas.latency.measure import (
    LatencyCache,
    LatencyMeasurement,
    LatencyMeasurer,
    Reference,
    measure,
)
from hwfit.nas.latency.quality import PredictorQuality, cross_validate, evaluate, score
from hwfit.registry import Registry

__all__ = [
    "FEATURE_KEYS",
    "PREDICTORS",
    "LatencyCache",
    "LatencyMeasurement",
    "LatencyMeasurer",
    "LatencyPredictor",
    "LearnedPredictor",
    "PredictorQuality",
    "Reference",
    "cross_validate",
    "evaluate",
    "feature_matrix",
    "layer_features",
    "measure",
    "score",
]

#: Latency predictors by name (third parties: ``PREDICTORS.register("mine", MyPredictor)``).
PREDICTORS: Registry[LatencyPredictor] = Registry(
    kind="latency predictor",
    builtins={"learned": "hwfit.nas.latency.learned:LearnedPredictor"},
)
