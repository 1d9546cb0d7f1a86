"""A learned latency predictor: a cost model of layers, with gradient-boosted corrections.

The first stage is a linear cost model with non-negative coefficients: latency is a fixed
cost, plus a cost per layer (1x1, depthwise, squeeze-excite), plus a cost per MAC of each layer
kind (1x1, depthwise per kernel, dense, squeeze-excite, linear), plus a cost per byte of
activations moved (1x1 and depthwise outputs, residual additions), plus the work of each
activation type (per layer and per byte, for each of hard-swish, SiLU, ReLU ...: a ReLU6 folds
into the INT8 quantization of its convolution, the others run as extra passes at their own
costs) and of squeeze-excite gates (per channel). On models of a
fraction of a millisecond these per-layer and per-activation overheads are most of the time, so
they are what the terms separate (see :mod:`hwfit.nas.latency.features`).

It is fitted to minimize the *relative* error (every row divided by its latency) with a Huber
loss: a measurement slowed down by another process (noise only ever adds time) pulls the costs
by at most 5% of its latency. A cost model extrapolates sensibly to models larger or smaller
than those measured, which trees alone cannot do with some fifty measurements.

The second stage, gradient-boosted trees (scikit-learn) on the log of the ratio between the
measured latency and the cost model's, learns what the cost model misses (cache effects at some
sizes, kernel choices of the runtime); it needs more measurements than the cost model.

Which of "linear", "linear+gbt" and "gbt" (trees on the log latency alone) is used is chosen
at :meth:`LearnedPredictor.fit` by 5-fold cross-validation on the training data (lowest mean
absolute percentage error; the cost model alone unless another mode is better by more than
:data:`AUTO_MARGIN`), unless fixed by the ``mode`` argument.
"""

from __future__ import annotations

import math
import pickle
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from hwfit.errors import UserError
from hwfit.nas.latency.base import LatencyPredictor, check_training_data, feature_matrix
from hwfit.nas.latency.features import ACT_TYPES, FEATURE_KEYS

if TYPE_CHECKING:
    from sklearn.ensemble import GradientBoostingRegressor

__all__ = ["AUTO_MARGIN", "LINEAR_KEYS", "MODES", "LearnedPredictor"]

#: The cost terms of the linear stage (plus a constant).
LINEAR_KEYS: tuple[str, ...] = (
    "layers",
    "conv1x1_layers",
    "dw_layers",
    "se_layers",
    "conv1x1_macs",
    "dw3_macs",
    "dw5_macs",
    "dw7_macs",
    "dwk_macs",
    "conv_macs",
    "se_macs",
    "linear_macs",
    "conv1x1_out_bytes",
    "dw_out_bytes",
    "residual_bytes",
    "se_gate_bytes",
    # Each activation type its own cost: one lumped "extra activation" term left 11% of
    # held-out predictions outside +-10% on the demo space, per-type terms 2-5%
    # (benchmarks/latency_predictor.py). A ReLU6 layer folds into its convolution; its bytes
    # still count.
    *(f"act_{t}_layers" for t in ACT_TYPES if t != "relu6"),
    *(f"act_{t}_bytes" for t in ACT_TYPES),
)
MODES: tuple[str, ...] = ("auto", "linear", "linear+gbt", "gbt")
_MIN_FIT = 4  # measurements; "auto" needs 10 to cross-validate (fewer: "linear")
_CV_FOLDS = 5
_HUBER = 0.05  # relative error beyond which a measurement's pull stops growing
_HUBER_ROUNDS = 20
_FORMAT = 3  # the linear terms changed: older saved predictors are refused
#: "auto" keeps the cost model alone unless a mode with trees has a cross-validated MAPE lower
#: by more than this share of it (trees on tens of measurements win folds by chance).
AUTO_MARGIN = 0.05


class LearnedPredictor(LatencyPredictor):
    """Linear cost model of the layers with gradient-boosted corrections (module docstring).

    Args:
        mode: "auto" (chosen by cross-validation at fit), "linear", "linear+gbt" or "gbt".
        seed: Seed of the gradient-boosted trees (fits are deterministic for a seed).

    Raises:
        UserError: Unknown ``mode``.

    Example:
        >>> import random
        >>> rows = [{k: random.Random(i * 100 + j).uniform(1, 10)
        ...          for j, k in enumerate(FEATURE_KEYS)} for i in range(30)]
        >>> y = [0.1 + 0.02 * r["layers"] + 0.05 * r["conv1x1_macs"] for r in rows]
        >>> p = LearnedPredictor(mode="linear"); p.fit(rows, y)
        >>> bool(np.allclose(p.predict(rows), y, rtol=1e-3))
        True
    """

    name: ClassVar[str] = "learned"

    def __init__(self, mode: str = "auto", *, seed: int = 0) -> None:
        if mode not in MODES:
            raise UserError(
                f"Unknown latency predictor mode {mode!r}.",
                hint=f"Use one of: {', '.join(MODES)}.",
            )
        self.mode = mode
        self.seed = seed
        self.chosen: str | None = None  # the mode in use after fit
        self.cv_mape: dict[str, float] = {}  # cross-validated MAPE per mode ("auto" only)
        self._coef: np.ndarray | None = None  # linear stage, on scaled columns
        self._scale: np.ndarray | None = None
        self._trees: GradientBoostingRegressor | None = None

    def fit(  # noqa: D102
        self,
        features: Sequence[Mapping[str, float]],
        latencies_ms: Sequence[float] | np.ndarray,
    ) -> None:
        y = check_training_data(features, latencies_ms, _MIN_FIT)
        x = feature_matrix(features, FEATURE_KEYS)
        mode = self.mode
        self.cv_mape = {}
        if mode == "auto":
            mode = "linear"
            if len(y) >= 2 * _CV_FOLDS:
                self.cv_mape = {m: self._cv_mape(m, x, y) for m in MODES[1:]}
                best = min(self.cv_mape, key=self.cv_mape.__getitem__)
                if self.cv_mape[best] < self.cv_mape["linear"] * (1 - AUTO_MARGIN):
                    mode = best
        self._fit(mode, x, y)

    def predict(self, features: Sequence[Mapping[str, float]]) -> np.ndarray:  # noqa: D102
        if self.chosen is None:
            raise UserError(
                "The latency predictor is not fitted.", hint="Call fit() with measurements first."
            )
        return self._predict(feature_matrix(features, FEATURE_KEYS))

    def save(self, path: Path) -> None:
        """Write the predictor as a pickle (how scikit-learn models are persisted).

        Like any pickle, load only files you wrote yourself.
        """
        if self.chosen is None:
            raise UserError("Only a fitted latency predictor can be saved.")
        state = {
            "format": _FORMAT,
            "kind": self.name,
            "mode": self.mode,
            "seed": self.seed,
            "chosen": self.chosen,
            "cv_mape": self.cv_mape,
            "feature_keys": FEATURE_KEYS,
            "coef": self._coef,
            "scale": self._scale,
            "trees": self._trees,
        }
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_bytes(pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL))

    @classmethod
    def load(cls, path: Path) -> LearnedPredictor:  # noqa: D102
        try:
            state = pickle.loads(Path(path).read_bytes())  # the user's own file (see save)
        except FileNotFoundError as exc:
            raise UserError(f"No latency predictor at {str(path)!r}.") from exc
        except Exception as exc:
            raise UserError(f"{str(path)!r} is not a readable latency predictor: {exc}") from exc
        if not isinstance(state, dict) or state.get("kind") != cls.name:
            raise UserError(f"{str(path)!r} is not a saved {cls.name} latency predictor.")
        if state.get("format") != _FORMAT or tuple(state["feature_keys"]) != FEATURE_KEYS:
            raise UserError(
                f"The latency predictor {str(path)!r} was saved by another hwfit version.",
                hint="Fit it again from the cached measurements.",
            )
        predictor = cls(state["mode"], seed=state["seed"])
        predictor.chosen = state["chosen"]
        predictor.cv_mape = dict(state["cv_mape"])
        predictor._coef = state["coef"]
        predictor._scale = state["scale"]
        predictor._trees = state["trees"]
        return predictor

    # The two stages ----------------------------------------------------------------------

    def _fit(self, mode: str, x: np.ndarray, y: np.ndarray) -> None:
        self._coef = self._scale = self._trees = None
        base = np.ones_like(y)
        if mode != "gbt":
            self._fit_linear(x, y)
            base = self._linear(x)
        if mode != "linear":
            self._trees = _trees(self.seed).fit(_tree_inputs(x, base), np.log(y / base))
        self.chosen = mode

    def _predict(self, x: np.ndarray) -> np.ndarray:
        base = self._linear(x) if self._coef is not None else np.ones(len(x))
        if self._trees is not None:
            base = base * np.exp(self._trees.predict(_tree_inputs(x, base)))
        return np.asarray(base, dtype=np.float64)

    def _fit_linear(self, x: np.ndarray, y: np.ndarray) -> None:
        from scipy.optimize import nnls

        a = _linear_terms(x)
        scale = np.abs(a).max(axis=0)
        scale[scale == 0] = 1.0
        # Rows divided by the latency: least squares of the relative error. Then a Huber fit by
        # reweighting: a measurement slowed down by another process (noise only ever adds time)
        # pulls the costs by at most _HUBER of its latency instead of by its whole error.
        rows = a / scale / y[:, None]
        weights = np.ones_like(y)
        coef = np.zeros(a.shape[1])
        for _ in range(_HUBER_ROUNDS):
            coef, _ = nnls(rows * weights[:, None], weights, maxiter=50 * a.shape[1])
            error = np.abs(rows @ coef - 1.0)
            new = np.sqrt(np.minimum(1.0, _HUBER / np.maximum(error, 1e-12)))
            if np.allclose(new, weights, atol=1e-4):
                break
            weights = new
        self._coef, self._scale = coef, scale

    def _linear(self, x: np.ndarray) -> np.ndarray:
        if self._coef is None or self._scale is None:
            raise UserError("The latency predictor is not fitted.")
        # A model with none of the terms the fit used still gets a small positive latency.
        return np.asarray(
            np.maximum(_linear_terms(x) / self._scale @ self._coef, 1e-6), dtype=np.float64
        )

    def _cv_mape(self, mode: str, x: np.ndarray, y: np.ndarray) -> float:
        order = np.random.default_rng(self.seed).permutation(len(y))
        errors = np.empty(len(y))
        probe = LearnedPredictor(mode, seed=self.seed)
        for fold in np.array_split(order, _CV_FOLDS):
            train = np.setdiff1d(order, fold)
            probe._fit(mode, x[train], y[train])
            errors[fold] = np.abs(probe._predict(x[fold]) - y[fold]) / y[fold]
        value = float(errors.mean())
        return value if math.isfinite(value) else math.inf


_LINEAR_COLUMNS = [FEATURE_KEYS.index(k) for k in LINEAR_KEYS]
_TREE_KEYS = (*LINEAR_KEYS, "resolution", "macs", "out_bytes", "params", "blocks")
_TREE_COLUMNS = [FEATURE_KEYS.index(k) for k in _TREE_KEYS]


def _linear_terms(x: np.ndarray) -> np.ndarray:
    return np.column_stack([np.ones(len(x)), x[:, _LINEAR_COLUMNS]])


def _tree_inputs(x: np.ndarray, base: np.ndarray) -> np.ndarray:
    # Log scale: sizes span orders of magnitude; the cost model's estimate is a feature too.
    # Only the cost terms and the overall sizes: with tens of measurements, every extra column
    # is one more chance for a tree to split on noise.
    return np.column_stack([np.log1p(np.maximum(x[:, _TREE_COLUMNS], 0)), np.log(base)])


def _trees(seed: int) -> GradientBoostingRegressor:
    from sklearn.ensemble import GradientBoostingRegressor

    # Small data (tens of models): few shallow trees, strong shrinkage, subsampling, and the
    # Huber loss (a measurement slowed down by another process must not grow a branch).
    return GradientBoostingRegressor(
        loss="huber",
        alpha=0.8,
        n_estimators=80,
        learning_rate=0.05,
        max_depth=2,
        min_samples_leaf=5,
        subsample=0.8,
        random_state=seed,
    )
