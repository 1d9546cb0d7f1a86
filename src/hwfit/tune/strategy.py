"""Search strategies: one ask/tell interface for ``optimize`` and, later, ``search``.

Strategies are looked up by name in :data:`STRATEGIES` (``optimize(strategy="optuna")``);
every one is built as ``cls(candidates, n_trials)``.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import TYPE_CHECKING

from hwfit.records import Candidate, Outcome, RowState
from hwfit.registry import Registry

if TYPE_CHECKING:
    import optuna

__all__ = ["STRATEGIES", "GridStrategy", "OptunaStrategy", "SearchStrategy"]


class SearchStrategy(abc.ABC):
    """Proposes candidates and learns from their outcomes.

    Contract: :meth:`ask` returns None once the space or the strategy's budget is exhausted;
    every candidate handed out is told back, failed and rejected ones included.

    Args:
        candidates: The space, in a stable order.
        n_trials: Distinct candidates to evaluate at most (None: as the strategy sees fit).
    """

    @abc.abstractmethod
    def __init__(self, candidates: Sequence[Candidate], n_trials: int | None = None) -> None:
        """Take the space and the budget of trials."""

    @abc.abstractmethod
    def ask(self) -> Candidate | None:
        """Next candidate to evaluate, or None when the space or budget is exhausted."""

    @abc.abstractmethod
    def tell(self, candidate: Candidate, outcome: Outcome) -> None:
        """Record a finished candidate; failed and rejected ones are told too."""


class GridStrategy(SearchStrategy):
    """Every candidate once, in order: the default for optimize's small spaces."""

    def __init__(self, candidates: Sequence[Candidate], n_trials: int | None = None) -> None:
        self._todo = list(candidates)  # every candidate: n_trials does not cut a grid

    def ask(self) -> Candidate | None:  # noqa: D102
        return self._todo.pop(0) if self._todo else None

    def tell(self, candidate: Candidate, outcome: Outcome) -> None:  # noqa: D102
        return None


class OptunaStrategy(SearchStrategy):
    """An Optuna sampler over the candidates' fields (TPE by default), minimizing latency.

    Candidates that fail or break the accuracy budget are told as failed trials. A candidate
    proposed twice is answered from memory without measuring it again.

    Args:
        candidates: The space (each field becomes a categorical parameter).
        n_trials: Distinct candidates to evaluate at most (None: every candidate).
        sampler: The Optuna sampler (default TPE, seeded).
    """

    def __init__(
        self,
        candidates: Sequence[Candidate],
        n_trials: int | None = None,
        sampler: optuna.samplers.BaseSampler | None = None,
    ) -> None:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self._space = {c: i for i, c in enumerate(candidates)}
        self._choices = list(candidates)
        self._n_trials = n_trials or len(self._choices)
        self._study = optuna.create_study(
            direction="minimize", sampler=sampler or optuna.samplers.TPESampler(seed=0)
        )
        self._pending: dict[Candidate, list[optuna.Trial]] = {}
        self._seen: dict[Candidate, Outcome] = {}

    def ask(self) -> Candidate | None:  # noqa: D102
        for _ in range(10 * len(self._choices)):
            if len(self._seen) >= min(self._n_trials, len(self._choices)):
                return None
            trial = self._study.ask()
            index = trial.suggest_categorical("candidate", list(range(len(self._choices))))
            candidate = self._choices[index]
            if candidate in self._seen:
                self._finish(trial, self._seen[candidate])
                continue
            self._pending.setdefault(candidate, []).append(trial)
            return candidate
        return None

    def tell(self, candidate: Candidate, outcome: Outcome) -> None:  # noqa: D102
        self._seen[candidate] = outcome
        for trial in self._pending.pop(candidate, []):
            self._finish(trial, outcome)

    def _finish(self, trial: optuna.Trial, outcome: Outcome) -> None:
        import optuna

        if outcome.state is RowState.COMPLETE and outcome.p50_ms is not None:
            self._study.tell(trial, outcome.p50_ms)
        else:
            self._study.tell(trial, state=optuna.trial.TrialState.FAIL)


#: Search strategies by name; third-party ones register with ``STRATEGIES.register``.
STRATEGIES: Registry[SearchStrategy] = Registry(
    kind="search strategy",
    builtins={
        "grid": "hwfit.tune.strategy:GridStrategy",
        "optuna": "hwfit.tune.strategy:OptunaStrategy",
    },
)
