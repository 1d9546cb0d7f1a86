"""``search()``: hardware-aware architecture search from a baseline, on this machine.

The search runs in phases; each one writes its results into the output folder as it goes, so an
interrupted search resumes where it stopped and nothing measured or trained is lost:

1. **Latency**: the baseline, its width/depth-scaled variants and a sample of the space are
   measured for real on the target (export -> convert -> quantize -> compile -> bench); a learned
   predictor is fitted on per-layer features and its held-out quality is reported.
2. **Accuracy estimator**: training-free proxies are scored on a mini-batch of the user's data
   for a pool of candidates, a subset is short-trained with successive halving, and the proxy that
   ranks the short-trained candidates best (Kendall tau) becomes the search's accuracy estimate.
3. **Search**: NSGA-II (optuna) over the space, estimated accuracy up and predicted latency down,
   the latency budget as a constraint (without one: the baseline's measured latency divided by
   the speed-up goal, 1.5x by default, so that every trial is spent where the goal is); the
   optuna study lives in ``--storage`` (SQLite in the
   output folder by default, or a shared URL several machines can work on together).
4. **Verification**: the Pareto front is re-measured for real; the best-estimated of it (and of
   the other trials within the budget) are screened by a short training next to the baseline
   with the same recipe, because a training-free estimate cannot be trusted to tell which of
   them keeps the baseline's accuracy; the finalists are the best screened of those at the
   latency goal. The finalists (top-k), the baseline and its scaled variants are trained with
   the same full recipe (and initialisation seed) and measured on the target in this run;
   the top-k go through :func:`hwfit.optimize` restricted to the target and become deployable
   artifacts; ``search.html`` shows it all with the search's cost.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import random
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hwfit.errors import UserError
from hwfit.nas.space import Arch, SearchSpace

#: Measured within this share above the latency goal counts as at the goal when the finalists
#: are chosen: paired latency ratios of the same model repeat within about +-5% (median).
GOAL_TOLERANCE = 0.05

__all__ = ["DEMO_PLAN", "ArchResult", "SearchPlan", "SearchProgress", "SearchResult", "search"]

SearchProgress = Callable[[str, int, int, str], None]
"""progress(phase, done, total, note): called as the search advances."""


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
class ArchResult:
    """One architecture's numbers in the final table."""

    key: str
    role: str  # "baseline", "scaled w0.5 d1.0", "found", "front"
    description: str
    params: dict[str, Any]
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
    trials: list[dict[str, Any]]  # every trial: key, predicted ms, estimated top-1, feasible
    predictor_quality: dict[str, Any]
    calibration: dict[str, Any]
    cost: dict[str, Any]
    best: ArchResult | None  # fastest found arch with trained top-1 >= the baseline's
    speedup: float | None  # baseline measured ms / best measured ms
    notes: list[str]
    # The speed-up's 95% CI: the baseline's latency over the ends of the best's paired CI.
    speedup_ci: tuple[float, float] | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-friendly dict."""
        return dataclasses.asdict(self)


class _Folder:
    """The output folder: each phase's results as JSON files written atomically."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def read(self, name: str) -> Any:
        path = self.root / name
        if not path.exists():
            return None
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            return None

    def write(self, name: str, data: Any) -> None:
        path = self.root / name
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(data, indent=1, default=_json_default))
        tmp.replace(path)


def _json_default(value: object) -> object:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def search(
    baseline: str,
    data: str | None,
    out: str | os.PathLike[str],
    *,
    target: str | None = None,
    latency_budget_ms: float | None = None,
    time_budget_s: float | None = None,
    storage: str | None = None,
    db: str | None = None,
    resolution: int | None = None,
    plan: SearchPlan | None = None,
    train_size: int | None = None,
    val_size: int | None = None,
    optimize_found: bool = True,
    seed: int = 0,
    strict_data: bool = False,
    progress: SearchProgress | None = None,
) -> SearchResult:
    """Search architectures around ``baseline`` that are faster on ``target`` at equal accuracy.

    Args:
        baseline: A timm model (``timm:mobilenetv2_100``) or ``nb201``.
        data: Image folder (a sub-folder per class) or ``.npz``; None = the shipped demo set.
        out: Output folder; re-running with the same folder resumes the search.
        target: ``runtime:precision:bsN:device`` (default: this machine's best at INT8 bs1).
        latency_budget_ms: Architectures predicted slower than this are infeasible.
        time_budget_s: Wall-clock budget of the search phase (the NSGA-II trials).
        storage: Optuna storage URL for the study (default: SQLite in ``out``).
        db: Results database URL or SQLite path that caches the latency measurements
            (default: :func:`hwfit.db.default_db_url`).
        resolution: Baseline input resolution (default: the data's, at least 32).
        plan: Work per phase.
        train_size: Training images to use (default: all).
        val_size: Validation images (default: 20% of the data, at most 2000).
        optimize_found: Pass the found architectures through :func:`hwfit.optimize`.
        seed: Seeds sampling, training and the search.
        strict_data: Fail on the first image that cannot be decoded instead of skipping it
            (skipped images are named in the notes).
        progress: Progress callback.

    Returns:
        The search result; ``search.json`` and ``search.html`` are written to ``out``.

    Raises:
        UserError: Bad baseline, data, target or storage, before anything is measured.
    """
    run = _Search(
        baseline=baseline,
        data=data,
        out=Path(out),
        target=target,
        latency_budget_ms=latency_budget_ms,
        time_budget_s=time_budget_s,
        storage=storage,
        db=db,
        resolution=resolution,
        plan=plan or SearchPlan(),
        train_size=train_size,
        val_size=val_size,
        optimize_found=optimize_found,
        seed=seed,
        strict_data=strict_data,
        progress=progress,
    )
    return run.run()


class _Search:
    """One search run: the phases over shared state."""

    def __init__(
        self,
        *,
        baseline: str,
        data: str | None,
        out: Path,
        target: str | None,
        latency_budget_ms: float | None,
        time_budget_s: float | None,
        storage: str | None,
        db: str | None,
        resolution: int | None,
        plan: SearchPlan,
        train_size: int | None,
        val_size: int | None,
        optimize_found: bool,
        seed: int,
        progress: SearchProgress | None,
        strict_data: bool = False,
    ) -> None:
        from hwfit.hardware import probe
        from hwfit.nas.data import load_train_data
        from hwfit.nas.space import space_for
        from hwfit.nas.target import default_target, parse_target

        self.started = time.monotonic()
        self.cpu_started = time.process_time()
        self.plan = plan
        self.seed = seed
        self.progress = progress
        self.latency_budget_ms = latency_budget_ms
        self.time_budget_s = time_budget_s
        self.optimize_found = optimize_found
        self.db = db
        if plan.speedup_goal <= 0:
            raise UserError(f"The speed-up goal must be > 0, got {plan.speedup_goal}.")
        if latency_budget_ms is not None and latency_budget_ms <= 0:
            raise UserError(f"--latency-budget must be > 0 ms, got {latency_budget_ms}.")
        self.hardware = probe()
        self.target = parse_target(target) if target else default_target(self.hardware)
        self.data_path = data
        if data is None:
            from hwfit.nas.demo import demo_path

            data_source: str = str(demo_path())
        else:
            data_source = data
        self.data = load_train_data(
            data_source,
            resolution=resolution or 64,
            max_train=train_size,
            max_val=val_size,
            seed=seed,
            strict=strict_data,
        )
        self.data_id = hashlib.sha1(
            f"{data_source}|{len(self.data.y_train)}|{len(self.data.y_val)}|{seed}".encode()
        ).hexdigest()[:8]
        self.space: SearchSpace = space_for(
            baseline, num_classes=self.data.num_classes, resolution=resolution or 64
        )
        self.folder = _Folder(out)
        self.out = out
        self.storage = storage or f"sqlite:///{(out / 'study.sqlite').resolve()}"
        self._open_storage()  # a bad URL fails now, not after the measurements
        self.notes: list[str] = []
        self.counts = {"measured": 0, "trained": 0, "trials": 0}
        self._features: dict[str, dict[str, float]] = {}
        self._latency: dict[str, float] = {}
        self._archs: dict[str, Arch] = {}
        self.folder.write(
            "search-config.json",
            {
                "baseline": baseline,
                "space": self.space.name,
                "target": str(self.target),
                "data": data_source,
                "resolution": resolution or 64,
                "plan": dataclasses.asdict(plan),
                "latency_budget_ms": latency_budget_ms,
            },
        )

    # -- helpers -----------------------------------------------------------------------------

    def _tick(self, phase: str, done: int, total: int, note: str = "") -> None:
        if self.progress is not None:
            self.progress(phase, done, total, note)

    def _remember(self, arch: Arch) -> Arch:
        self._archs[arch.key] = arch
        return arch

    def features(self, arch: Arch) -> dict[str, float]:
        """Per-layer features of ``arch`` (cached)."""
        from hwfit.nas.latency.features import layer_features

        if arch.key not in self._features:
            model = self.space.build(arch)
            self._features[arch.key] = layer_features(model, self.space.input_shape(arch))
        return self._features[arch.key]

    def _calibration(self, shape: Sequence[int]) -> np.ndarray:
        """INT8 calibration inputs at the shape's resolution (the same samples for all)."""
        return self.data.at_resolution(shape[-1]).minibatch(8, seed=self.seed)[0].numpy()

    def measure(self, archs: Sequence[Arch], phase: str, *, again: bool = False) -> None:
        """Measure ``archs`` on the target for real (cached by arch key unless ``again``)."""
        for i, arch in enumerate(archs):
            self._remember(arch)
            self._tick(phase, i, len(archs), arch.key)
            if arch.key in self._latency and not again:
                continue
            shape = self.space.input_shape(arch, self.target.batch)
            m = self.measurer.measure(
                self.space.build(arch),
                shape,
                key=arch.key,
                calibration=self._calibration(shape),
                refresh=again,
            )
            if not m.cached:
                self.counts["measured"] += 1
            if m.failed:
                self.notes.append(f"latency of {arch.key} not measured: {m.reason}")
                continue
            if m.contended:
                self._contended.add(arch.key)
            if again:
                self._remeasured.setdefault(arch.key, []).append(m.latency_ms)
                # The paired interval of the same measurement, in ms (ratio CI x scale).
                self._remeasured_ci.setdefault(arch.key, []).append(
                    (m.ratio_ci_low * m.reference_ms, m.ratio_ci_high * m.reference_ms)
                )
            else:
                self._latency[arch.key] = m.latency_ms
        self._tick(phase, len(archs), len(archs), "")

    # -- phases ------------------------------------------------------------------------------

    def run(self) -> SearchResult:
        """Run (or resume) every phase and write the result."""
        from hwfit.nas.latency.measure import LatencyMeasurer, Reference

        self._remeasured: dict[str, list[float]] = {}
        self._remeasured_ci: dict[str, list[tuple[float, float]]] = {}
        self._contended: set[str] = set()
        base = self.space.baseline()
        shape = self.space.input_shape(base, self.target.batch)
        # Every measurement is paired with the baseline.
        reference = Reference(self.space.build(base), shape, base.key, self._calibration(shape))
        with LatencyMeasurer(
            self.target,
            self.out,
            db=self.db,
            duration_s=self.plan.duration_s,
            reference=reference,
        ) as measurer:
            self.measurer = measurer
            predictor, quality = self.latency_phase()
            self.budget_ms = self._budget()
            estimator, calibration = self.accuracy_phase()
            study = self.search_phase(predictor, estimator)
            return self.verify_phase(study, predictor, quality, calibration)

    def _budget(self) -> float | None:
        """The search's latency constraint: --latency-budget, else the speed-up goal's."""
        if self.latency_budget_ms is not None:
            return self.latency_budget_ms
        base_ms = self._latency.get(self.space.baseline().key)
        if base_ms is None:
            return None
        goal = self.plan.speedup_goal
        self.notes.append(
            f"No latency budget given: the search looked for architectures at least {goal:g}x "
            f"faster than the baseline (predicted <= {base_ms / goal:.3f} ms, the baseline's "
            f"measured {base_ms:.3f} ms / {goal:g}); give --latency-budget to set another."
        )
        return base_ms / goal

    def reference_archs(self) -> list[tuple[str, Arch]]:
        """The baseline and its scaled variants, with their roles."""
        refs = [("baseline", self._remember(self.space.baseline()))]
        for width, depth in self.plan.scaled:
            arch = self._remember(self.space.scaled(width, depth))
            if all(arch.key != a.key for _, a in refs):
                refs.append((f"scaled w{width:g} d{depth:g}", arch))
        return refs

    def latency_phase(self) -> tuple[Any, dict[str, Any]]:
        """Measure a sample for real and fit the latency predictor."""
        from hwfit.nas.latency.learned import LearnedPredictor
        from hwfit.nas.latency.measure import MAX_CONTENTION
        from hwfit.nas.latency.quality import evaluate

        rng = random.Random(self.seed)
        archs = [a for _, a in self.reference_archs()]
        seen = {a.key for a in archs}
        attempts = 0
        while len(archs) < self.plan.measure and attempts < self.plan.measure * 20:
            attempts += 1
            arch = self.space.sample(rng)
            if arch.key not in seen:
                seen.add(arch.key)
                archs.append(arch)
        self.measure(archs, "latency: measure on target")
        self.notes.append(
            "Latencies are paired with the baseline (alternating 50-ms windows in one worker): "
            f"ratio to it x its own {self.measurer.reference_ms:.3f} ms, so that the host's "
            "drift cancels out."
        )
        keys = [a.key for a in archs if a.key in self._latency]
        if len(keys) < 8:
            raise UserError(
                f"Only {len(keys)} architectures could be measured on {self.target}"
                + (f"; first failure: {self.notes[0]}" if self.notes else "."),
                hint="Try another --target, or run with -v to see each measurement.",
            )
        busy = [k for k in keys if k in self._contended]
        if busy and len(keys) - len(busy) >= 8:
            keys = [k for k in keys if k not in self._contended]
            self.notes.append(
                f"{len(busy)} of {len(busy) + len(keys)} latency measurements were taken while "
                f"other processes used over {MAX_CONTENTION:.0%} of the CPU; the predictor "
                "was fitted without them."
            )
        elif busy:
            self.notes.append(
                f"{len(busy)} of {len(keys)} latency measurements were taken while other "
                f"processes used over {MAX_CONTENTION:.0%} of the CPU; they are inflated."
            )
        feats = [self.features(self._archs[k]) for k in keys]
        lats = [self._latency[k] for k in keys]
        q = evaluate(LearnedPredictor(), feats, lats, test_fraction=0.25, seed=self.seed)
        predictor = LearnedPredictor()
        predictor.fit(feats, lats)
        quality = dataclasses.asdict(q)
        self.folder.write("predictor-quality.json", quality)
        return predictor, quality

    def accuracy_phase(self) -> tuple[Any, dict[str, Any]]:
        """Score proxies on a pool, short-train a subset, choose and calibrate the estimator."""
        from hwfit.nas.calibrate import Estimator, calibrate
        from hwfit.nas.proxies import score_all
        from hwfit.nas.train import TrainRecipe, successive_halving

        rng = random.Random(self.seed + 1)
        pool = [a for _, a in self.reference_archs()]
        seen = {a.key for a in pool}
        while len(pool) < self.plan.proxy_pool:
            arch = self.space.sample(rng)
            if arch.key not in seen:
                seen.add(arch.key)
                pool.append(self._remember(arch))
        scores: dict[str, dict[str, float]] = self.folder.read("proxy-scores.json") or {}
        for i, arch in enumerate(pool):
            self._tick("accuracy: proxies", i, len(pool), arch.key)
            if arch.key not in scores:
                x, y = self._minibatch(arch)
                scores[arch.key] = score_all(self.space.build(arch), x, y)
                self.folder.write("proxy-scores.json", scores)
        self._tick("accuracy: proxies", len(pool), len(pool), "")

        short: dict[str, Any] = self.folder.read("short-train.json") or {}
        if "rungs" not in short:
            subset = pool[: self.plan.short_train]
            recipe = TrainRecipe(epochs=self.plan.short_epochs, seed=self.seed)
            rungs = successive_halving(
                {a.key: _builder(self.space, a) for a in subset},
                self.data,
                resolutions={a.key: self.space.resolution(a) for a in subset},
                min_epochs=self.plan.short_epochs,
                eta=3,
                rungs=2,
                recipe=recipe,
                progress=lambda done, total, note: self._tick(
                    "accuracy: short training", done, total, note
                ),
            )
            self.counts["trained"] += sum(len(r.results) for r in rungs)
            short = {"rungs": [dataclasses.asdict(r) for r in rungs]}
            self.folder.write("short-train.json", short)
        first = short["rungs"][0]["results"]
        trained = {k: float(v["top1"]) for k, v in first.items() if v.get("error") is None}
        names = sorted({name for s in scores.values() for name in s})
        population = {
            name: {k: s[name] for k, s in scores.items() if _finite(s.get(name))} for name in names
        }
        cal = calibrate(population, trained, fallback="params")
        proxies = cal.chosen_proxies or ("params",)
        if cal.chosen is None:
            self.notes.append(f"No proxy could be calibrated ({cal.reason}); params used.")
        estimator = Estimator(proxies, population, trained)
        calibration = {
            **cal.to_dict(),
            "kendall_tau": {c.proxy: _nan_none(c.kendall_tau) for c in cal.correlations},
            "short_epochs": self.plan.short_epochs,
            "estimator": repr(estimator),
        }
        self.folder.write("calibration.json", calibration)
        return estimator, calibration

    def _minibatch(self, arch: Arch) -> tuple[Any, Any]:
        """The proxies' mini-batch at the architecture's resolution (same samples for all)."""
        return self.data.at_resolution(self.space.resolution(arch)).minibatch(32, seed=self.seed)

    def _open_storage(self) -> None:
        """Connect to the study storage once (optuna creates its tables), or fail clearly."""
        import optuna

        for attempt in range(3):
            try:
                optuna.storages.get_storage(self.storage)
                return
            except Exception as exc:  # optuna raises several storage errors
                # Workers starting together race to create the tables: try again.
                if attempt == 2:
                    raise _storage_error(self.storage, exc) from exc
                time.sleep(0.5 + random.random())

    def search_phase(self, predictor: Any, estimator: Any) -> Any:
        """NSGA-II over the space; the study lives in the storage URL."""
        import optuna

        from hwfit.nas.proxies import score_all

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        proxies = list(estimator.proxies)
        budget = self.budget_ms

        # NSGA-II reads each trial's constraint (set in the objective): feasible first.
        sampler = optuna.samplers.NSGAIISampler(
            population_size=self.plan.population, seed=self.seed
        )
        name = f"hwfit-{self.space.name}-{self.target}-{self.data_id}"
        try:
            study = optuna.create_study(
                study_name=name,
                storage=self.storage,
                directions=["maximize", "minimize"],
                sampler=sampler,
                load_if_exists=True,
            )
        except Exception as exc:  # optuna raises several storage errors
            raise _storage_error(self.storage, exc) from exc
        done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
        if not done:
            # The first generations start from the baseline's neighbourhood.
            cap = max(self.plan.population, self.plan.trials // 4)
            for _, arch in _seeds(self.space, self.reference_archs())[:cap]:
                study.enqueue_trial(dict(arch.params), skip_if_exists=True)
        remaining = max(0, self.plan.trials - len(done))
        worker = f"{socket.gethostname()}:{os.getpid()}"  # who ran a trial, when several do

        def objective(trial: optuna.trial.Trial) -> tuple[float, float]:
            params = {
                d.name: trial.suggest_categorical(d.name, list(d.choices))
                for d in self.space.dimensions()
            }
            arch = self._remember(self.space.decode(params))
            feats = self.features(arch)
            predicted = float(predictor.predict([feats])[0])
            x, y = self._minibatch(arch)
            scores = score_all(self.space.build(arch), x, y, names=proxies, seed=self.seed)
            estimated = estimator.estimate(scores)
            trial.set_user_attr("key", arch.key)
            trial.set_user_attr("predicted_ms", predicted)
            trial.set_user_attr("estimated_top1", estimated)
            trial.set_user_attr("proxies", {k: _nan_none(v) for k, v in scores.items()})
            trial.set_user_attr("worker", worker)
            if budget is not None:
                trial.set_constraint("latency", predicted - budget)
            self.counts["trials"] += 1
            front = _front_note(study)
            self._tick(
                "search: NSGA-II", len(done) + self.counts["trials"], self.plan.trials, front
            )
            return estimated, predicted

        if remaining:
            # Workers sharing the study stop together once it holds plan.trials trials.
            enough = optuna.study.MaxTrialsCallback(
                self.plan.trials, states=(optuna.trial.TrialState.COMPLETE,)
            )
            study.optimize(
                objective,
                n_trials=remaining,
                timeout=self.time_budget_s,
                catch=(RuntimeError, ValueError),
                callbacks=[enough],
            )
        return study

    def verify_phase(
        self,
        study: Any,
        predictor: Any,
        quality: dict[str, Any],
        calibration: dict[str, Any],
    ) -> SearchResult:
        """Re-measure the front, train the finalists and references, optimize, report."""
        import optuna

        complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
        trials = [
            {
                "number": t.number,
                "key": t.user_attrs.get("key"),
                "params": dict(t.params),
                "predicted_ms": t.user_attrs.get("predicted_ms"),
                "estimated_top1": t.user_attrs.get("estimated_top1"),
                "feasible": all(c <= 0.0 for c in t.constraints.values()),
            }
            for t in complete
        ]
        by_key: dict[str, dict[str, Any]] = {}
        for t in trials:
            arch = self._remember(self.space.decode(t["params"]))
            by_key.setdefault(arch.key, t)
        refs = self.reference_archs()
        base = refs[0][1]
        base_ms = self._latency.get(base.key)
        goal_ms = self.budget_ms
        front_trials = _pareto([t for t in trials if t["feasible"]])
        if not front_trials:
            # Nothing predicted within the budget: the trade-off among the faster ones instead.
            front_trials = _pareto(
                [t for t in trials if base_ms is None or float(t["predicted_ms"]) < base_ms]
            )
            self.notes.append(
                "No trial was predicted within the latency budget"
                + (f" ({goal_ms:.3f} ms)" if goal_ms is not None else "")
                + "; the front shown is of the trials predicted faster than the baseline."
            )
        front_archs = _spread(
            [self._remember(self.space.decode(t["params"])) for t in front_trials],
            key=lambda a: float(by_key[a.key]["predicted_ms"]),
            n=self.plan.front_measure,
        )
        self.measure(front_archs, "verify: measure the front")

        ref_keys = {a.key for _, a in refs}
        estimated = {k: float(v["estimated_top1"]) for k, v in by_key.items()}
        # The front's best estimates and the other trials' best within the budget.
        within = [
            self._archs[k]
            for k, t in by_key.items()
            if t["feasible"] and (goal_ms is None or float(t["predicted_ms"]) <= goal_ms)
        ]
        candidates = _screen_candidates(
            [a for a in front_archs if a.key not in ref_keys],
            [a for a in within if a.key not in ref_keys],
            estimated=estimated,
            n=self.plan.screen,
        )
        self.measure(candidates, "verify: measure the candidates")
        faster = [
            a
            for a in candidates
            if a.key in self._latency and (base_ms is None or self._latency[a.key] < base_ms)
        ]
        screened = self.screen([base, *faster])
        base_screen = screened.get(base.key)
        finalists = _finalists(
            faster, measured=self._latency, screened=screened, goal_ms=goal_ms, k=self.plan.top_k
        )
        if finalists and base_screen is not None:
            best_screen = max(screened.get(a.key, -math.inf) for a in finalists)
            if best_screen < base_screen:
                self.notes.append(
                    f"No finalist reached the baseline's screening top-1 ({base_screen:.1f}% "
                    f"after {self.plan.screen_epochs:g} epochs); they were trained anyway."
                )
        trained = self.full_training([a for _, a in refs] + finalists)
        # Same run, same machine state: measure references and finalists again, interleaved.
        final = [a for _, a in refs] + finalists
        for _ in range(2):
            self.measure(final, "verify: final latency", again=True)
            final = list(reversed(final))
        final_ms = {k: float(np.median(v)) for k, v in self._remeasured.items()}
        final_ci = {
            k: (float(np.median([lo for lo, _ in v])), float(np.median([hi for _, hi in v])))
            for k, v in self._remeasured_ci.items()
            if all(math.isfinite(lo) and math.isfinite(hi) for lo, hi in v)
        }
        self.folder.write("final-latency.json", self._remeasured)

        # Which results started as the baseline compound-scaled, and how much the EA added.
        origins = {a.key: label for label, a in _seeds(self.space, refs)}
        front_keys = {str(t["key"]) for t in front_trials}
        from_seeds = len(front_keys & set(origins))
        if front_keys:
            self.notes.append(
                f"{from_seeds} of the {len(front_keys)} architectures on the front are "
                "starting points (the baseline compound-scaled in width, depth and resolution); "
                f"{len(front_keys) - from_seeds} came from NSGA-II's own trials."
            )

        def result(arch: Arch, role: str) -> ArchResult:
            t = by_key.get(arch.key, {})
            feats = self.features(arch)
            return ArchResult(
                key=arch.key,
                role=role,
                description=self.space.describe(arch),
                params=dict(arch.params),
                predicted_ms=float(predictor.predict([feats])[0]),
                measured_ms=final_ms.get(arch.key, self._latency.get(arch.key)),
                measured_ci_ms=final_ci.get(arch.key),
                estimated_top1=t.get("estimated_top1"),
                trained_top1=(trained.get(arch.key) or {}).get("top1"),
                model_params=int(feats.get("params", 0)) or None,
                screened_top1=screened.get(arch.key),
                note=(
                    f"starting point: {origins[arch.key]}"
                    if role in ("found", "front") and arch.key in origins
                    else ""
                ),
            )

        baseline = result(refs[0][1], "baseline")
        scaled = [result(a, role) for role, a in refs[1:]]
        found = [result(a, "found") for a in finalists]
        if self.optimize_found:
            found = [self.ship(r) for r in found]
        front = [result(a, "front") for a in front_archs]
        best = _best(found, baseline)
        speedup = (
            baseline.measured_ms / best.measured_ms
            if best is not None and best.measured_ms and baseline.measured_ms
            else None
        )
        speedup_ci = (
            (
                baseline.measured_ms / best.measured_ci_ms[1],
                baseline.measured_ms / best.measured_ci_ms[0],
            )
            if best is not None and best.measured_ci_ms and baseline.measured_ms
            else None
        )
        if best is None:
            self.notes.append(
                "No found architecture reached the baseline's trained top-1 at a lower latency."
            )
        # The cost of the whole search, over every run that resumed it (cost.json keeps it).
        wall = time.monotonic() - self.started
        this_run = {
            "wall_s": round(wall, 1),
            "process_cpu_s": round(time.process_time() - self.cpu_started, 1),
            "measured": self.counts["measured"],
            "trained": self.counts["trained"],
        }
        runs = [*(self.folder.read("cost-runs.json") or []), this_run]
        self.folder.write("cost-runs.json", runs)
        total_wall = sum(float(r["wall_s"]) for r in runs)
        cost = {
            "wall_s": round(total_wall, 1),
            "cpu_hours": round(total_wall * (os.cpu_count() or 1) / 3600, 3),
            "measured": sum(int(r["measured"]) for r in runs),
            "trained": sum(int(r["trained"]) for r in runs),
            "trials": len(trials),
            "runs": len(runs),
            "this_run_wall_s": round(wall, 1),
        }
        res = SearchResult(
            out=str(self.out),
            space=self.space.name,
            target=str(self.target),
            baseline=baseline,
            scaled=scaled,
            found=found,
            front=front,
            trials=trials,
            predictor_quality=quality,
            calibration=calibration,
            cost=cost,
            best=best,
            speedup=speedup,
            speedup_ci=speedup_ci,
            notes=[*self.notes, *self.data.notes()],
        )
        self.folder.write("search.json", res.to_dict())
        from hwfit.report.search_page import write_search_report

        write_search_report(self.out / "search.html", res, self.hardware)
        return res

    def screen(self, archs: Sequence[Arch]) -> dict[str, float]:
        """Short-train ``archs`` with the same recipe (resumable): key -> top-1."""
        from hwfit.nas.train import TrainRecipe, successive_halving

        done: dict[str, Any] = self.folder.read("screen.json") or {}
        todo = [a for a in archs if a.key not in done]
        phase = f"verify: screen ({self.plan.screen_epochs:g} epochs)"

        def keep(_rung: int, key: str, result: Any) -> None:
            done[key] = dataclasses.asdict(result)
            self.folder.write("screen.json", done)
            self.counts["trained"] += 1

        if todo:
            successive_halving(
                {a.key: _builder(self.space, a) for a in todo},
                self.data,
                resolutions={a.key: self.space.resolution(a) for a in todo},
                min_epochs=self.plan.screen_epochs,
                rungs=1,
                recipe=TrainRecipe(epochs=self.plan.screen_epochs, seed=self.seed),
                on_result=keep,
                progress=lambda i, total, note: self._tick(phase, i, total, note),
            )
        return {
            a.key: float(done[a.key]["top1"])
            for a in archs
            if a.key in done and _finite(done[a.key].get("top1"))
        }

    def full_training(self, archs: Sequence[Arch]) -> dict[str, dict[str, Any]]:
        """Train each architecture with the same full recipe (resumable per architecture)."""
        import torch

        from hwfit.nas.train import TrainRecipe, train_and_evaluate

        done: dict[str, dict[str, Any]] = self.folder.read("full-train.json") or {}
        recipe = TrainRecipe(epochs=self.plan.full_epochs, seed=self.seed)
        for i, arch in enumerate(archs):
            self._tick("verify: full training", i, len(archs), arch.key)
            if arch.key in done:
                continue
            torch.manual_seed(self.seed)  # the same initialisation seed for every model
            model = self.space.build(arch)
            data = self.data.at_resolution(self.space.resolution(arch))
            r = train_and_evaluate(model, data, recipe)
            self.counts["trained"] += 1
            weights = self.out / "models" / arch.key / "weights.pt"
            weights.parent.mkdir(parents=True, exist_ok=True)
            torch.save(model.state_dict(), weights)
            done[arch.key] = {**dataclasses.asdict(r), "weights": str(weights)}
            self.folder.write("full-train.json", done)
        self._tick("verify: full training", len(archs), len(archs), "")
        self._trained = done
        return done

    def ship(self, found: ArchResult) -> ArchResult:
        """Export a trained found architecture and pass it through optimize on the target."""
        import torch

        from hwfit.nas.latency.measure import export_onnx
        from hwfit.tune import optimize

        folder = self.out / "models" / found.key
        info = self._trained.get(found.key)
        if info is None:
            return found
        arch = self._archs[found.key]
        model = self.space.build(arch)
        model.load_state_dict(torch.load(info["weights"], weights_only=True))
        model.eval()
        shape = self.space.input_shape(arch, 1)
        onnx_path = folder / "model.onnx"
        export_onnx(model, shape, onnx_path)
        val = self.data.at_resolution(shape[-1])
        npz = folder / "val.npz"
        np.savez(npz, x=val.x_val.numpy(), y=val.y_val.numpy())
        try:
            opt = optimize(
                str(onnx_path),
                str(npz),
                out=folder / "artifact",
                runtimes=[self.target.runtime],
                precisions=sorted({self.target.precision, "fp32"}),
                batch=self.target.batch,
                max_accuracy_drop="1",
                save=False,
            )
        except Exception as exc:  # a failed optimize must not lose the search
            return dataclasses.replace(found, note=_join(found.note, f"optimize failed: {exc}"))
        if opt.winner is None:
            note = "optimize: no configuration met the budget"
            return dataclasses.replace(found, note=_join(found.note, note))
        return dataclasses.replace(found, artifact=str(folder / "artifact"))


def _join(*notes: str) -> str:
    return "; ".join(n for n in notes if n)


def _finite(value: object) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def _nan_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _builder(space: SearchSpace, arch: Arch) -> Callable[[], Any]:
    return lambda: space.build(arch)


def _front_note(study: Any) -> str:
    try:
        best = study.best_trials
    except Exception:
        return ""
    pts = sorted(
        (float(t.user_attrs.get("predicted_ms", math.nan)), t.values[0]) for t in best if t.values
    )
    return "front: " + ", ".join(f"{ms:.2f}ms/{acc:.1f}%" for ms, acc in pts[:4])


def _seeds(space: SearchSpace, refs: Sequence[tuple[str, Arch]]) -> list[tuple[str, Arch]]:
    """The search's starting points, labelled: ``refs``, then the baseline compound-scaled.

    Width and depth multipliers 1, 0.75 and 0.5 at each input resolution up to the
    baseline's, highest resolution first (unique): the baseline's own neighbourhood, where
    the search looks for the same accuracy at a lower latency.
    """
    dims = {d.name: d for d in space.dimensions()}
    base_res = space.resolution(space.baseline())
    resolutions: Sequence[int | None] = [None]
    if "resolution" in dims:
        choices = [c for c in dims["resolution"].choices if isinstance(c, int)]
        resolutions = sorted((r for r in choices if r <= base_res), reverse=True)
    seeds = {a.key: (role, a) for role, a in refs}
    for res in resolutions:
        for width in (1.0, 0.75, 0.5):
            for depth in (1.0, 0.75, 0.5):
                arch = space.scaled(width, depth, res)
                at = "" if res is None else f" at {res} px"
                seeds.setdefault(arch.key, (f"baseline scaled w{width:g} d{depth:g}{at}", arch))
    return list(seeds.values())


def _pareto(trials: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The trials no other trial beats on both estimated top-1 (up) and predicted ms (down)."""
    points = [
        (float(t["estimated_top1"]), float(t["predicted_ms"]), t)
        for t in trials
        if _finite(t.get("estimated_top1")) and _finite(t.get("predicted_ms"))
    ]
    return [
        t
        for acc, ms, t in points
        if not any(a >= acc and m <= ms and (a > acc or m < ms) for a, m, _ in points)
    ]


def _spread(archs: Sequence[Arch], key: Callable[[Arch], float], n: int) -> list[Arch]:
    """At most ``n`` architectures spread evenly along ``key`` (unique by arch key)."""
    unique = {a.key: a for a in archs}
    ordered = sorted(unique.values(), key=key)
    if len(ordered) <= n:
        return ordered
    idx = sorted({round(i * (len(ordered) - 1) / (n - 1)) for i in range(n)})
    return [ordered[i] for i in idx]


def _storage_error(storage: str, exc: Exception) -> UserError:
    from hwfit.errors import first_line

    return UserError(
        f"Cannot open the search storage {storage!r}: {first_line(exc)}",
        hint="Give a writable SQLite path or a reachable database URL with --storage.",
    )


def _screen_candidates(
    front: Sequence[Arch],
    within: Sequence[Arch],
    *,
    estimated: Mapping[str, float],
    n: int,
) -> list[Arch]:
    """Up to ``n`` to screen: the front's best estimates, then the other trials' (unique)."""
    chosen: dict[str, Arch] = {}
    for pool in (front, within):
        for a in sorted(pool, key=lambda a: -estimated.get(a.key, -math.inf)):
            if len(chosen) < n:
                chosen.setdefault(a.key, a)
    return list(chosen.values())


def _finalists(
    candidates: Sequence[Arch],
    *,
    measured: Mapping[str, float],
    screened: Mapping[str, float],
    goal_ms: float | None,
    k: int,
) -> list[Arch]:
    """The candidates worth full training, best first.

    Those measured at the latency goal (within :data:`GOAL_TOLERANCE`, the measurement's own
    repeatability) come first, the rest after; each group by screening top-1 (unscreened
    last), then by latency. The baseline's screening top-1 is no gate: after a short training
    small models lead large ones that overtake them later, so the screening ranks candidates
    against each other, not against the baseline.
    """
    slack = None if goal_ms is None else goal_ms * (1 + GOAL_TOLERANCE)

    def key(a: Arch) -> tuple[bool, float, float]:
        misses = slack is not None and measured[a.key] > slack
        return (misses, -screened.get(a.key, -math.inf), measured[a.key])

    return sorted((a for a in candidates if a.key in measured), key=key)[:k]


def _best(found: Sequence[ArchResult], baseline: ArchResult) -> ArchResult | None:
    """The fastest found architecture whose trained top-1 is at least the baseline's."""
    if baseline.trained_top1 is None:
        return None
    ok = [
        r
        for r in found
        if r.trained_top1 is not None
        and r.measured_ms is not None
        and r.trained_top1 >= baseline.trained_top1
    ]
    return min(ok, key=lambda r: r.measured_ms or math.inf) if ok else None
