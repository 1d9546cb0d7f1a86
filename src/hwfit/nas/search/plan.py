"""What a search does, checked before anything runs: :class:`SearchPlan` and :func:`prepare`.

:class:`SearchPlan` is how much work each phase does (the demo and the CLI choose it);
:class:`SearchSetup` is everything a search needs that can be checked or derived up front (the
target, the data, the space, the study storage), built by :func:`prepare`, which fails with a
:class:`~hwfit.errors.UserError` on bad input before anything is measured.
"""

from __future__ import annotations

import dataclasses
import hashlib
import random
import time
from pathlib import Path
from typing import TYPE_CHECKING

from hwfit.errors import UserError, first_line
from hwfit.hardware import probe
from hwfit.nas.demo import demo_path
from hwfit.nas.space import SearchSpace
from hwfit.nas.spaces import space_for
from hwfit.nas.target import Target, default_target, parse_target
from hwfit.records.hardware import HardwareProfile

if TYPE_CHECKING:
    from hwfit.nas.data import TrainData

__all__ = ["DEMO_PLAN", "SearchPlan", "SearchSetup", "open_storage", "prepare", "storage_error"]


@dataclasses.dataclass(frozen=True)
class SearchPlan:
    """How much work each phase does (the demo and the CLI choose these)."""

    measure: int = 120  # architectures measured for the latency predictor (a quarter held out)
    proxy_pool: int = 30  # candidates scored by every proxy
    short_train: int = 9  # of those, candidates short-trained (successive halving)
    short_epochs: float = 1.0  # epochs of the first successive-halving rung
    trials: int = 300  # NSGA-II trials (each: build, features, proxy)
    population: int = 30  # NSGA-II population
    front_measure: int = 8  # front architectures re-measured for real
    top_k: int = 3  # found architectures trained with the full recipe and optimized
    full_epochs: float = 10.0  # the full training recipe's epochs (same for every model)
    speedup_goal: float = 1.5  # without a latency budget: look for this speed-up at equal accuracy
    screen: int = 6  # best-estimated candidates within the budget screened by a short training
    screen_epochs: float = 3.0  # epochs of that screening (the baseline is screened alongside)
    duration_s: float = 3.0  # timed loop of each latency measurement (~30 window pairs)
    scaled: tuple[tuple[float, float], ...] = ((0.5, 1.0), (0.75, 1.0), (1.0, 0.5))


DEMO_PLAN = SearchPlan(
    measure=80,
    proxy_pool=24,
    short_train=9,
    short_epochs=1.0,
    trials=200,
    population=24,
    front_measure=6,
    screen=5,
    top_k=2,
    full_epochs=8.0,
)
"""The plan of ``hwfit search --demo`` (sized to finish within an hour on 2 cores)."""


@dataclasses.dataclass(frozen=True)
class SearchSetup:
    """A checked search: what to search, on which target, with which data, where to keep it.

    Attributes:
        baseline: The baseline as given (``timm:mobilenetv2_100``, ``nb201``).
        data_source: The data's path (the shipped demo set when none was given).
        data: The loaded training and validation data.
        data_id: A short hash of the data, its split and the seed (names the optuna study).
        resolution: The baseline's input resolution.
        space: The search space around the baseline.
        hardware: This machine.
        target: Where latency is measured.
        out: The output folder (resumable).
        storage: The optuna storage URL of the study.
        db: The results database caching the latency measurements (None: the default).
        plan: Work per phase.
        latency_budget_ms: The latency constraint given by the user, if any.
        time_budget_s: Wall-clock budget of the NSGA-II phase.
        optimize_found: Pass the found architectures through ``optimize``.
        seed: Seeds sampling, training and the search.
    """

    baseline: str
    data_source: str
    data: TrainData
    data_id: str
    resolution: int
    space: SearchSpace
    hardware: HardwareProfile
    target: Target
    out: Path
    storage: str
    db: str | None
    plan: SearchPlan
    latency_budget_ms: float | None
    time_budget_s: float | None
    optimize_found: bool
    seed: int

    @property
    def study_name(self) -> str:
        """The optuna study's name: space, target and data (workers sharing it agree on it)."""
        return f"hwfit-{self.space.name}-{self.target}-{self.data_id}"

    def config(self) -> dict[str, object]:
        """What ``search-config.json`` records of this setup."""
        return {
            "baseline": self.baseline,
            "space": self.space.name,
            "target": str(self.target),
            "data": self.data_source,
            "resolution": self.resolution,
            "plan": dataclasses.asdict(self.plan),
            "latency_budget_ms": self.latency_budget_ms,
        }


def prepare(
    baseline: str,
    data: str | None,
    out: Path,
    *,
    plan: SearchPlan,
    target: str | None = None,
    latency_budget_ms: float | None = None,
    time_budget_s: float | None = None,
    storage: str | None = None,
    db: str | None = None,
    resolution: int | None = None,
    train_size: int | None = None,
    val_size: int | None = None,
    optimize_found: bool = True,
    seed: int = 0,
    strict_data: bool = False,
) -> SearchSetup:
    """Check the arguments of :func:`hwfit.nas.search.search`, load the data, open the storage.

    Creates ``out``; the arguments are those of :func:`~hwfit.nas.search.search`.

    Raises:
        UserError: Bad baseline, data, target, budget or storage.
    """
    from hwfit.nas.data import load_train_data  # torch

    if plan.speedup_goal <= 0:
        raise UserError(f"The speed-up goal must be > 0, got {plan.speedup_goal}.")
    if latency_budget_ms is not None and latency_budget_ms <= 0:
        raise UserError(f"--latency-budget must be > 0 ms, got {latency_budget_ms}.")
    hardware = probe()
    parsed = parse_target(target) if target else default_target(hardware)
    source = str(demo_path()) if data is None else data
    res = resolution or 64
    loaded = load_train_data(
        source,
        resolution=res,
        max_train=train_size,
        max_val=val_size,
        seed=seed,
        strict=strict_data,
    )
    data_id = hashlib.sha1(
        f"{source}|{len(loaded.y_train)}|{len(loaded.y_val)}|{seed}".encode()
    ).hexdigest()[:8]
    space = space_for(baseline, num_classes=loaded.num_classes, resolution=res)
    out.mkdir(parents=True, exist_ok=True)
    url = storage or f"sqlite:///{(out / 'study.sqlite').resolve()}"
    open_storage(url)  # a bad URL fails now, not after the measurements
    return SearchSetup(
        baseline=baseline,
        data_source=source,
        data=loaded,
        data_id=data_id,
        resolution=res,
        space=space,
        hardware=hardware,
        target=parsed,
        out=out,
        storage=url,
        db=db,
        plan=plan,
        latency_budget_ms=latency_budget_ms,
        time_budget_s=time_budget_s,
        optimize_found=optimize_found,
        seed=seed,
    )


def open_storage(url: str) -> None:
    """Connect to the study storage once (optuna creates its tables), or fail clearly.

    Raises:
        UserError: The storage cannot be opened (after three tries).
    """
    import optuna

    for attempt in range(3):
        try:
            optuna.storages.get_storage(url)
            return
        except Exception as exc:  # optuna raises several storage errors
            # Workers starting together race to create the tables: try again.
            if attempt == 2:
                raise storage_error(url, exc) from exc
            time.sleep(0.5 + random.random())


def storage_error(storage: str, exc: Exception) -> UserError:
    """The one-line error for a study storage that cannot be opened."""
    return UserError(
        f"Cannot open the search storage {storage!r}: {first_line(exc)}",
        hint="Give a writable SQLite path or a reachable database URL with --storage.",
    )
