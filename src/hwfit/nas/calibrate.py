"""Choose the accuracy estimator of a search by rank correlation with short-trained accuracy.

Training-free proxies are cheap but their quality varies by space and data set, so the search
measures it: a few candidates are short-trained (successive halving), every proxy is scored on
the same candidates, and :func:`calibrate` ranks the proxies by Kendall's tau between proxy
score and trained accuracy (Spearman's rho is reported too). On request (``combine=True``) the
rank-average of the two best proxies competes too, as ``"a+b"``. The best tau wins; ties go to the
simpler estimator (``params`` < ``flops`` < ``grad_norm`` < ``snip`` < ``synflow`` < ``naswot``
< ``zen`` < other names < combinations).

:class:`Estimator` then turns the chosen proxies' scores into an accuracy estimate for the
search: each score becomes its percentile among a reference population of scored candidates,
the percentiles of the chosen proxies are averaged, and a least-squares line through the
trained candidates maps that average to accuracy (clipped to 0-100). The line keeps the order
of the proxy, so the search sees distinct values, and its level says how accurate a candidate
is likely to be after the short recipe.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt
from scipy import stats

from hwfit.errors import UserError
from hwfit.records.search import Calibration, ProxyCorrelation

__all__ = ["MIN_POINTS", "Calibration", "Estimator", "ProxyCorrelation", "calibrate"]

MIN_POINTS = 4
"""Fewest candidates with both a proxy score and a trained accuracy needed to choose a proxy."""

SIMPLICITY = ("params", "flops", "grad_norm", "snip", "synflow", "naswot", "zen")
"""Proxy names from simplest to most involved; ties in tau go to the earlier name."""

_TIE = 1e-9


def calibrate(
    proxy_scores: Mapping[str, Mapping[str, float]],
    trained: Mapping[str, float],
    *,
    fallback: str | None = None,
    combine: bool = False,
) -> Calibration:
    """Rank the proxies by Kendall's tau against short-trained accuracy and choose one.

    Only candidates present in both mappings with finite values count (per proxy), so NaN
    scores and failed trainings are simply left out. With fewer than :data:`MIN_POINTS` such
    candidates, or when no estimator has a finite tau, the correlations are still reported but
    ``chosen`` is ``fallback`` (None by default) and ``reason`` says why.

    Args:
        proxy_scores: Proxy name -> (candidate key -> score, higher meaning better).
        trained: Candidate key -> short-trained top-1 (or any accuracy, higher is better).
        fallback: What to choose when the data cannot decide.
        combine: Also try the rank-average of the two best proxies (named ``"a+b"``); it is
            chosen only when it ranks strictly better than each of them.

    Returns:
        The calibration; ``correlations`` best first (NaN taus last).

    Example:
        >>> acc = {"a": 60.0, "b": 50.0, "c": 40.0, "d": 30.0}
        >>> good = {"a": 4.0, "b": 3.0, "c": 2.0, "d": 1.0}
        >>> bad = {"a": 1.0, "b": 2.0, "c": 4.0, "d": 3.0}
        >>> cal = calibrate({"synflow": good, "params": bad}, acc)
        >>> cal.chosen, cal.get("synflow").kendall_tau, round(cal.get("params").kendall_tau, 3)
        ('synflow', 1.0, -0.667)
    """
    accuracy = {k: float(v) for k, v in trained.items() if _finite(v)}
    singles = [_correlate(name, dict(scores), accuracy) for name, scores in proxy_scores.items()]
    ranked = sorted(singles, key=_order)
    combos: list[ProxyCorrelation] = []
    valid = [c for c in ranked if math.isfinite(c.kendall_tau)]
    if combine and len(valid) >= 2:
        a, b = valid[0].proxy, valid[1].proxy
        combos.append(_correlate(f"{a}+{b}", _rank_average(proxy_scores, (a, b)), accuracy))
    correlations = tuple(sorted(singles + combos, key=_order))
    best = correlations[0] if correlations else None
    n = len(accuracy)
    if best is None:
        reason = "No proxy scores were given."
        chosen = fallback
    elif best.n < MIN_POINTS:
        reason = (
            f"Only {best.n} candidate(s) have both a proxy score and a trained accuracy; "
            f"at least {MIN_POINTS} are needed to rank the proxies."
        )
        chosen = fallback
    elif not math.isfinite(best.kendall_tau):
        reason = "No proxy's rank correlation with trained accuracy is defined (constant scores)."
        chosen = fallback
    else:
        chosen = best.proxy
        reason = (
            f"{best.proxy} ranks the {best.n} short-trained candidates best: Kendall tau "
            f"{best.kendall_tau:.2f}, Spearman {best.spearman:.2f}."
        )
    if chosen is not None and chosen == fallback and (best is None or chosen != best.proxy):
        reason += f" Using {fallback!r} as the fallback."
    return Calibration(correlations=correlations, chosen=chosen, n=n, reason=reason)


class Estimator:
    """Accuracy estimate from proxy scores: percentile among a population, then a fitted line.

    Args:
        proxies: The proxy names to combine (usually :attr:`Calibration.chosen_proxies`).
        population: Proxy name -> (candidate key -> score) of the reference population that
            percentiles are taken in (all candidates scored so far; trained ones included).
        trained: Candidate key -> trained accuracy, for the line. With fewer than two usable
            points the estimate is the average percentile scaled to 0-100 (the ranking is
            the same).

    Raises:
        UserError: No proxies, or a proxy with no finite score in ``population``.

    Example:
        >>> pop = {"synflow": {"a": 1.0, "b": 2.0, "c": 3.0, "d": 4.0}}
        >>> est = Estimator(["synflow"], pop, {"a": 40.0, "d": 70.0})
        >>> round(est.estimate({"synflow": 1.0}), 1), round(est.estimate({"synflow": 4.0}), 1)
        (40.0, 70.0)
        >>> est.estimate({"synflow": 2.5}) > est.estimate({"synflow": 2.0})
        True
    """

    def __init__(
        self,
        proxies: Sequence[str],
        population: Mapping[str, Mapping[str, float]],
        trained: Mapping[str, float],
    ) -> None:
        if not proxies:
            raise UserError("An accuracy estimator needs at least one proxy.")
        self.proxies = tuple(proxies)
        self._sorted: dict[str, npt.NDArray[np.float64]] = {}
        for name in self.proxies:
            values = np.sort(
                np.asarray(
                    [float(v) for v in population.get(name, {}).values() if _finite(v)],
                    dtype=np.float64,
                )
            )
            if values.size == 0:
                raise UserError(
                    f"Proxy {name!r} has no finite score in the reference population.",
                    hint="Score some candidates with it first, or choose another proxy.",
                )
            self._sorted[name] = values
        xs: list[float] = []
        ys: list[float] = []
        for key, acc in trained.items():
            scores = {n: population.get(n, {}).get(key, math.nan) for n in self.proxies}
            if _finite(acc) and all(_finite(s) for s in scores.values()):
                xs.append(self.percentile(scores))
                ys.append(float(acc))
        self.points = len(xs)
        if self.points >= 2 and np.ptp(xs) > 0:
            slope, intercept = np.polyfit(np.asarray(xs), np.asarray(ys), 1)
            self.slope, self.intercept = float(slope), float(intercept)
        elif self.points >= 1:
            self.slope, self.intercept = 0.0, float(np.mean(ys))
        else:
            self.slope, self.intercept = 100.0, 0.0
        if self.points == 1:  # one point gives a level, not a slope: keep the order visible
            self.slope, self.intercept = 1e-6, self.intercept - 1e-6 * xs[0]

    @classmethod
    def fit(
        cls, proxy: str, scores: Mapping[str, float], trained: Mapping[str, float]
    ) -> Estimator:
        """Estimator of one proxy: ``scores`` (key -> score) is the reference population.

        Raises:
            UserError: No finite score.
        """
        return cls([proxy], {proxy: scores}, trained)

    def predict(self, scores: Sequence[float]) -> npt.NDArray[np.float64]:
        """Estimated top-1 (percent) for raw scores of a one-proxy estimator, vectorised.

        Raises:
            UserError: The estimator combines several proxies (use :meth:`estimate`).
        """
        if len(self.proxies) != 1:
            raise UserError(
                f"predict() takes one proxy's scores; this estimator combines "
                f"{'+'.join(self.proxies)}.",
                hint="Call estimate() with a mapping of proxy name -> score.",
            )
        name = self.proxies[0]
        return np.asarray([self.estimate({name: float(s)}) for s in scores], dtype=np.float64)

    def __repr__(self) -> str:
        return (
            f"Estimator({'+'.join(self.proxies)}: top1 = {self.intercept:.1f} + "
            f"{self.slope:.1f} * percentile, {self.points} trained points)"
        )

    def percentile(self, scores: Mapping[str, float]) -> float:
        """Average over the proxies of the score's mid-rank percentile (0-1) in the population.

        Raises:
            UserError: A proxy's score is missing.
        """
        parts = []
        for name in self.proxies:
            if name not in scores:
                raise UserError(f"The estimator needs a {name!r} score; it was not given.")
            value = float(scores[name])
            ref = self._sorted[name]
            if not math.isfinite(value):
                parts.append(0.0)  # a NaN/inf score ranks lowest
                continue
            below = np.searchsorted(ref, value, side="left")
            upto = np.searchsorted(ref, value, side="right")
            parts.append(float((below + upto) / 2.0 / ref.size))
        return float(np.mean(parts))

    def estimate(self, scores: Mapping[str, float]) -> float:
        """Estimated top-1 (percent, clipped to 0-100) of a candidate with these proxy scores."""
        value = self.intercept + self.slope * self.percentile(scores)
        return float(min(100.0, max(0.0, value)))


# --- helpers -------------------------------------------------------------------------------


def _finite(value: object) -> bool:
    try:
        return math.isfinite(float(value))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def _correlate(
    name: str, scores: Mapping[str, float], accuracy: Mapping[str, float]
) -> ProxyCorrelation:
    keys = sorted(k for k in accuracy if k in scores and _finite(scores[k]))
    n = len(keys)
    if n < 2:
        return ProxyCorrelation(name, math.nan, math.nan, math.nan, n)
    x = np.asarray([float(scores[k]) for k in keys])
    y = np.asarray([accuracy[k] for k in keys])
    if np.ptp(x) == 0 or np.ptp(y) == 0:  # a constant side: no ranking to compare
        return ProxyCorrelation(name, math.nan, math.nan, math.nan, n)
    tau = stats.kendalltau(x, y)
    rho = stats.spearmanr(x, y)
    return ProxyCorrelation(name, float(tau.statistic), float(rho.statistic), float(tau.pvalue), n)


def _rank_average(
    proxy_scores: Mapping[str, Mapping[str, float]], names: Sequence[str]
) -> dict[str, float]:
    """Mean over ``names`` of each key's percentile rank (keys scored finitely by all)."""
    keys = set.intersection(
        *({k for k, v in proxy_scores[n].items() if _finite(v)} for n in names)
    )
    ordered = sorted(keys)
    if not ordered:
        return {}
    total = np.zeros(len(ordered))
    for name in names:
        total += stats.rankdata([float(proxy_scores[name][k]) for k in ordered]) / len(ordered)
    return {k: float(v / len(names)) for k, v in zip(ordered, total, strict=True)}


def _simplicity(name: str) -> tuple[int, int, str]:
    if "+" in name:
        return (2, 0, name)
    if name in SIMPLICITY:
        return (0, SIMPLICITY.index(name), name)
    return (1, 0, name)


def _order(c: ProxyCorrelation) -> tuple[int, float, tuple[int, int, str]]:
    """Sort key: finite taus first, higher tau first (ties within 1e-9), then simpler."""
    if not math.isfinite(c.kendall_tau):
        return (1, 0.0, _simplicity(c.proxy))
    return (0, -round(c.kendall_tau / _TIE) * _TIE, _simplicity(c.proxy))
