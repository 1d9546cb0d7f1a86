"""The knob tuner: the winner's runtime settings, tried, and kept only where measured faster.

Once the winner is chosen, its runtime says which settings may be tuned on this machine
(:meth:`~hwfit.runtimes.base.Runtime.tunables`: threads, streams, pinning, the thread pool's
partitioning). Every setting tried is measured paired against the same model with the
runtime's defaults, a round of trials in one worker (:func:`hwfit.bench.sweep_rows`). A space
no larger than the trials allowed is tried whole; a larger one is sampled by Optuna's TPE,
which is told each round's ratios before it proposes the next round.

The best of several noisy figures is biased upwards, so the best trial faster beyond the noise
is measured once more, on its own; it ships only when that figure is faster beyond the noise
too. Every trial stays in the result with its figure and its verdict, so the report can say
what was tried and why it lost.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Callable
from typing import TYPE_CHECKING

from hwfit.records import Executed, KnobTrial, KnobTuning, PairedRatio, RunConfig
from hwfit.runtimes import RUNTIMES
from hwfit.tune._run import sweep

if TYPE_CHECKING:
    import optuna

    from hwfit.bench.jobs import SweepFigure
    from hwfit.tune._run import RunSetup, Side

__all__ = ["DEFAULT_TRIALS", "ROUND", "tune_knobs"]

#: Settings measured at most unless told (``--tune-trials``); 0 turns the tuner off.
DEFAULT_TRIALS = 8
#: Trials measured in one worker, between two proposals of the sampler.
ROUND = 4

Settings = tuple[tuple[str, str], ...]


def tune_knobs(
    setup: RunSetup,
    side: Side,
    *,
    trials: int,
    remaining_s: Callable[[], float | None],
) -> tuple[KnobTuning | None, Executed | None]:
    """Tune the runtime settings of ``side`` (the winner) by measurement.

    Args:
        setup: The run's setup (hardware, objective, timing limits).
        side: The winner's model and run configuration; its own options are kept as they are.
        trials: Settings to measure at most.
        remaining_s: Seconds left of the run's time budget (None: no budget).

    Returns:
        What was tried and kept (None when the runtime has nothing to tune here), and what
        the kept settings ran, read back from the runtime (None when nothing was kept).
    """
    config = side[1]
    preset = {key for key, _ in config.options}  # the objective's own (PERFORMANCE_HINT)
    space = {
        key: values
        for key, values in RUNTIMES.load(config.runtime)
        .tunables(setup.hardware, setup.objective)
        .items()
        if key not in preset
    }
    if not space or trials <= 0:
        return None, None
    tuner = _Tuner(setup, side, space, trials, remaining_s)
    tuner.run()
    return tuner.finish()


class _Tuner:
    """One tuning: the proposals, the measured trials, the confirmation."""

    def __init__(
        self,
        setup: RunSetup,
        side: Side,
        space: dict[str, tuple[str, ...]],
        trials: int,
        remaining_s: Callable[[], float | None],
    ) -> None:
        self.setup = setup
        self.side = side
        self.space = space
        self.trials = trials
        self.remaining_s = remaining_s
        size = math.prod(len(values) for values in space.values())
        self.sampler = "grid" if size <= trials else "tpe"
        self.measured: dict[Settings, KnobTrial] = {}
        self.note: str | None = None

    def _config(self, settings: Settings) -> RunConfig:
        config = self.side[1]
        return dataclasses.replace(config, options=config.options + settings)

    def _out_of_time(self) -> bool:
        left = self.remaining_s()
        if left is not None and left <= 0:
            self.note = "The time budget ran out while tuning; the settings measured so far count."
            return True
        return False

    def _sweep(self, batch: list[Settings], timeout_s: float) -> tuple[SweepFigure, ...] | str:
        variants = [(self.side[0], self._config(s)) for s in batch]
        return sweep(self.setup, self.side, variants, timeout_s)

    def run(self) -> None:
        """Measure rounds of settings until the trials, the space or the time run out."""
        if self.sampler == "grid":
            order = [tuple(zip(self.space, values, strict=True))
                     for values in itertools.product(*self.space.values())]  # fmt: skip
            for start in range(0, len(order), ROUND):
                if self._out_of_time() or not self._round(order[start : start + ROUND]):
                    return
            return
        study = _study()
        while len(self.measured) < self.trials and not self._out_of_time():
            asked = self._ask(study, min(ROUND, self.trials - len(self.measured)))
            fresh = list(dict.fromkeys(s for _, s in asked if s not in self.measured))
            if not fresh or not self._round(fresh):
                return
            for trial, settings in asked:
                _tell(study, trial, self.measured[settings])

    def _ask(self, study: optuna.Study, n: int) -> list[tuple[optuna.trial.Trial, Settings]]:
        """Up to ``n`` new settings from the sampler; repeats are told their known figure."""
        asked: list[tuple[optuna.trial.Trial, Settings]] = []
        for _ in range(20 * n):
            if len({s for _, s in asked}) >= n:
                break
            trial = study.ask()
            settings = tuple(
                (key, str(trial.suggest_categorical(key, list(values))))
                for key, values in self.space.items()
            )
            if settings in self.measured:
                _tell(study, trial, self.measured[settings])
                continue
            asked.append((trial, settings))
        return asked

    def _round(self, batch: list[Settings]) -> bool:
        """Measure ``batch`` in one worker; False when the worker itself failed."""
        figures = self._sweep(batch, self.setup.timeout(self.remaining_s()) * len(batch))
        if isinstance(figures, str):
            self.note = f"Tuning stopped: {figures}"
            for settings in batch:
                self.measured[settings] = KnobTrial(settings, None, f"not measured: {figures}")
            return False
        for settings, figure in zip(batch, figures, strict=True):
            self.measured[settings] = KnobTrial(settings, figure.ratio, _verdict(figure))
        return True

    def finish(self) -> tuple[KnobTuning, Executed | None]:
        """Confirm the best trial faster beyond the noise; it ships only if that holds."""
        trials = list(self.measured.values())
        faster = [t for t in trials if t.verdict == _FASTER]
        chosen: Settings = ()
        confirmed: PairedRatio | None = None
        executed: Executed | None = None
        if not faster:
            self.note = self.note or (
                "No setting ran faster than the runtime's defaults beyond the noise; the "
                "defaults were kept."
            )
        else:
            best = max(faster, key=lambda t: t.ratio.speedup if t.ratio else 0.0)
            for other in faster:  # faster too, but not the fastest: not measured again
                if other is not best:
                    trials[trials.index(other)] = dataclasses.replace(
                        other, verdict=f"{_FASTER}, but less than {best.label}"
                    )
            again = self._sweep([best.settings], self.setup.timeout(None))
            figure = None if isinstance(again, str) else again[0]
            if figure is not None and figure.ratio is not None and _verdict(figure) == _FASTER:
                chosen, confirmed, executed = best.settings, figure.ratio, figure.executed
                verdict = f"kept: {figure.ratio.text()} when measured again"
            else:
                if figure is None:
                    why = str(again)
                elif figure.ratio is None:
                    why = _verdict(figure)
                else:
                    why = f"{figure.ratio.text()}, {_verdict(figure)}"
                verdict = f"faster at first, not when measured again: {why}"
                self.note = (
                    "The fastest setting did not hold when measured again; the runtime's "
                    "defaults were kept."
                )
            trials[trials.index(best)] = dataclasses.replace(best, verdict=verdict)
        tuning = KnobTuning(
            runtime=self.side[1].runtime,
            space=tuple(self.space.items()),
            sampler=self.sampler,
            trials=tuple(trials),
            chosen=chosen,
            confirmed=confirmed,
            note=self.note,
        )
        return tuning, executed


_FASTER = "faster than the defaults"


#: How far the interval must clear 1.00 for a verdict: half the last digit printed (``1.00x
#: [0.99-1.00]`` is not called slower, and nothing shown as ``[1.00-...]`` is called faster).
_CLEAR = 0.005


def _verdict(figure: SweepFigure) -> str:
    ratio = figure.ratio
    if ratio is None:
        return f"failed: {figure.error}"
    if ratio.noisy:
        return f"noisy: {'; '.join(ratio.noise)}"
    if ratio.ci_low > 1.0 + _CLEAR:
        return _FASTER
    if ratio.ci_high < 1.0 - _CLEAR:
        return "slower than the defaults"
    return "tied with the defaults"


def _study() -> optuna.Study:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(seed=0, n_startup_trials=ROUND)
    return optuna.create_study(direction="maximize", sampler=sampler)


def _tell(study: optuna.Study, trial: optuna.trial.Trial, measured: KnobTrial) -> None:
    import optuna

    if measured.ratio is None:
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
    else:
        study.tell(trial, measured.ratio.speedup)
