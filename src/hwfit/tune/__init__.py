"""Auto-tuning: the candidate space, search strategies, selection and ``optimize()``."""

from __future__ import annotations

from hwfit.records import OptimizeResult
from hwfit.tune.optimize import optimize
from hwfit.tune.strategy import STRATEGIES

__all__ = ["STRATEGIES", "OptimizeResult", "optimize"]
