"""The records of ``hwfit search``: trials, predictor quality, calibration, cost and the result.

Every record is frozen; ``to_dict`` gives the JSON written to the search's folder
(``search.json``, ``predictor-quality.json``, ``calibration.json``), and ``from_dict`` reads it
back. The field names are those files' keys.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

__all__ = [
    "ArchResult",
    "Calibration",
    "ParamValue",
    "PredictorQuality",
    "ProxyCorrelation",
    "SearchCost",
    "SearchResult",
    "TrialRecord",
]

ParamValue = int | float | str | bool
"""The value of one search-space dimension (``Arch.params``)."""


def _json_float(value: object) -> object:
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _nan(value: object) -> float:
    return float(value) if isinstance(value, int | float) else math.nan


@dataclasses.dataclass(frozen=True)
class ArchResult:
    """One architecture's numbers in the final table."""

    key: str
    role: str  # "baseline", "scaled w0.5 d1.0", "found", "front"
    description: str
    params: dict[str, ParamValue]
    predicted_ms: float | None
    measured_ms: float | None
    estimated_top1: float | None
    trained_top1: float | None
    model_params: int | None
    artifact: str | None = None
    note: str = ""
    screened_top1: float | None = None  # top-1 after the screening's short training
    # 95% CI of measured_ms from the paired measurement against the baseline (the medians of
    # the final re-measurements' interval ends); None when not re-measured paired.
    measured_ci_ms: tuple[float, float] | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ArchResult:
        """Read the form :meth:`SearchResult.to_dict` writes."""
        ci = data.get("measured_ci_ms")
        return cls(**{**data, "measured_ci_ms": None if ci is None else (ci[0], ci[1])})


@dataclasses.dataclass(frozen=True)
class TrialRecord:
    """One completed NSGA-II trial.

    Attributes:
        number: Optuna's trial number.
        key: The architecture's key.
        params: The trial's dimension values.
        predicted_ms: The latency predictor's estimate.
        estimated_top1: The accuracy estimator's estimate (percent).
        feasible: Whether the trial met the latency constraint.
    """

    number: int
    key: str | None
    params: dict[str, ParamValue]
    predicted_ms: float | None
    estimated_top1: float | None
    feasible: bool


@dataclasses.dataclass(frozen=True)
class PredictorQuality:
    """Quality of a latency predictor on measurements it was not fitted on.

    Attributes:
        n_train: Measurements it was fitted on (per fold for cross-validation).
        n_test: Held-out measurements it was scored on (all folds together).
        mape: Mean absolute percentage error, as a fraction (0.05 is 5%).
        within_10: Share of held-out predictions within +-10% of the measurement.
        kendall_tau: Kendall's tau between predicted and measured latencies.
    """

    n_train: int
    n_test: int
    mape: float
    within_10: float
    kendall_tau: float

    def summary(self) -> str:
        """One line: ``MAPE 4.1%, 93% within +-10%, Kendall tau 0.91 (45 train / 15 test)``."""
        return (
            f"MAPE {self.mape:.1%}, {self.within_10:.0%} within +-10%, "
            f"Kendall tau {self.kendall_tau:.2f} ({self.n_train} train / {self.n_test} test)"
        )


@dataclasses.dataclass(frozen=True)
class ProxyCorrelation:
    """How well one estimator ranks the short-trained candidates.

    Attributes:
        proxy: Proxy name, or ``"a+b"`` for the rank-average of proxies a and b.
        kendall_tau: Kendall's tau-b against trained accuracy (NaN: undefined, e.g. constant).
        spearman: Spearman's rho (NaN when undefined).
        p_value: Two-sided p-value of tau (NaN when undefined).
        n: Candidates with a finite score and a finite trained accuracy.
    """

    proxy: str
    kendall_tau: float
    spearman: float
    p_value: float
    n: int

    @property
    def proxies(self) -> tuple[str, ...]:
        """The proxy names this estimator combines (one for a single proxy)."""
        return tuple(self.proxy.split("+"))


@dataclasses.dataclass(frozen=True)
class Calibration:
    """How the search's accuracy estimate was chosen (``calibration.json``).

    Attributes:
        correlations: One entry per proxy (and the top-2 combination), best first.
        chosen: Name of the chosen estimator (a proxy or ``"a+b"``), or None.
        n: Candidates with a finite short-trained accuracy.
        reason: Why ``chosen`` was chosen, or why none could be.
        short_epochs: Epochs of the short training the proxies were ranked against.
        estimator: The estimator built from the chosen proxies, as its ``repr``.
    """

    correlations: tuple[ProxyCorrelation, ...]
    chosen: str | None
    n: int
    reason: str
    short_epochs: float | None = None
    estimator: str = ""

    @property
    def chosen_proxies(self) -> tuple[str, ...]:
        """The proxy names behind ``chosen`` (empty when none was chosen)."""
        return tuple(self.chosen.split("+")) if self.chosen else ()

    def get(self, proxy: str) -> ProxyCorrelation | None:
        """The correlation of ``proxy`` (or ``"a+b"``), or None when it was not scored."""
        return next((c for c in self.correlations if c.proxy == proxy), None)

    @property
    def kendall_tau(self) -> dict[str, float | None]:
        """Proxy -> Kendall's tau (None where undefined)."""
        return {
            c.proxy: c.kendall_tau if math.isfinite(c.kendall_tau) else None
            for c in self.correlations
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (NaN becomes None), as ``calibration.json`` holds it."""
        return {
            "chosen": self.chosen,
            "n": self.n,
            "reason": self.reason,
            "correlations": [
                {k: _json_float(v) for k, v in dataclasses.asdict(c).items()}
                for c in self.correlations
            ],
            "kendall_tau": self.kendall_tau,
            "short_epochs": self.short_epochs,
            "estimator": self.estimator,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Calibration:
        """Read the form :meth:`to_dict` writes."""
        correlations = tuple(
            ProxyCorrelation(
                proxy=str(c["proxy"]),
                kendall_tau=_nan(c.get("kendall_tau")),
                spearman=_nan(c.get("spearman")),
                p_value=_nan(c.get("p_value")),
                n=int(c.get("n", 0)),
            )
            for c in data.get("correlations", ())
        )
        epochs = data.get("short_epochs")
        return cls(
            correlations=correlations,
            chosen=data.get("chosen"),
            n=int(data.get("n", 0)),
            reason=str(data.get("reason", "")),
            short_epochs=None if epochs is None else float(epochs),
            estimator=str(data.get("estimator", "")),
        )


@dataclasses.dataclass(frozen=True)
class SearchCost:
    """What the search cost, over every run that resumed it (``cost-runs.json`` keeps them).

    Attributes:
        wall_s: Wall-clock seconds of all runs together.
        cpu_hours: ``wall_s`` times this machine's cores, in hours.
        measured: Latency measurements taken.
        trained: Trainings run (short, screening and full).
        trials: NSGA-II trials in the study.
        runs: Runs that worked on this search folder.
        this_run_wall_s: Wall-clock seconds of the last run.
    """

    wall_s: float
    cpu_hours: float
    measured: int
    trained: int
    trials: int
    runs: int = 1
    this_run_wall_s: float = 0.0


@dataclasses.dataclass(frozen=True)
class SearchResult:
    """Everything ``search()`` found, measured and trained, and what it cost."""

    out: str
    space: str
    target: str
    baseline: ArchResult
    scaled: list[ArchResult]
    found: list[ArchResult]
    front: list[ArchResult]
    trials: list[TrialRecord]  # every trial: key, predicted ms, estimated top-1, feasible
    predictor_quality: PredictorQuality
    calibration: Calibration
    cost: SearchCost
    best: ArchResult | None  # fastest found arch with trained top-1 >= the baseline's
    speedup: float | None  # baseline measured ms / best measured ms
    notes: list[str]
    # The speed-up's 95% CI: the baseline's latency over the ends of the best's paired CI.
    speedup_ci: tuple[float, float] | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-friendly dict (the form of ``search.json``)."""
        data = dataclasses.asdict(self)
        data["calibration"] = self.calibration.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SearchResult:
        """Read ``search.json`` (the form :meth:`to_dict` writes)."""
        best = data.get("best")
        ci = data.get("speedup_ci")
        return cls(
            out=str(data["out"]),
            space=str(data["space"]),
            target=str(data["target"]),
            baseline=ArchResult.from_dict(data["baseline"]),
            scaled=[ArchResult.from_dict(r) for r in data["scaled"]],
            found=[ArchResult.from_dict(r) for r in data["found"]],
            front=[ArchResult.from_dict(r) for r in data["front"]],
            trials=[TrialRecord(**t) for t in data["trials"]],
            predictor_quality=PredictorQuality(**data["predictor_quality"]),
            calibration=Calibration.from_dict(data["calibration"]),
            cost=SearchCost(**data["cost"]),
            best=None if best is None else ArchResult.from_dict(best),
            speedup=data.get("speedup"),
            notes=list(data.get("notes", [])),
            speedup_ci=None if ci is None else (ci[0], ci[1]),
        )
