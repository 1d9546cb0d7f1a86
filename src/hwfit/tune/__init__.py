"""Auto-tuning: the candidate space, search strategies, selection and ``optimize()``."""

from __future__ import annotations

from hwfit.tune.optimize import OptimizeResult, optimize

__all__ = ["OptimizeResult", "optimize"]
