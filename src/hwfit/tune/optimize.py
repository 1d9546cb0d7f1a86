"""``optimize()``: the fastest configuration of a model on this machine within an accuracy budget.

For every candidate (runtime x precision x threads x batch) the run prepares the model
(export, quantize), measures it with the bench method in a worker process, evaluates it on
the user's validation data, and checks the accuracy budget against the PyTorch-eager FP32
reference measured in the same run. Every candidate ends COMPLETE, REJECTED, FAILED or
SKIPPED with its reason; the best so far is written to the output folder after each one, so
an interrupted or time-boxed run still leaves a deployable result.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hwfit._version import __version__, tool_versions
from hwfit.errors import HwfitError, RuntimeFailure, UserError
from hwfit.records import (
    BenchResult,
    Candidate,
    ModelInfo,
    Outcome,
    PairedRatio,
    RowState,
    RunConfig,
)

if TYPE_CHECKING:
    from hwfit.accuracy.data import Dataset, Preprocess
    from hwfit.accuracy.guard import AccuracyBudget
    from hwfit.hardware import HardwareProfile
    from hwfit.models.artifact import ModelArtifact
    from hwfit.precisions.base import PreparedModel

__all__ = ["OptimizeProgress", "OptimizeResult", "optimize"]

logger = logging.getLogger(__name__)

#: Called as ``progress(done, total, candidate, outcome_or_None)``; the baseline is candidate 0.
OptimizeProgress = Callable[[int, int, Candidate, Outcome | None], None]

OBJECTIVES = ("latency", "throughput")
CHECK_SAMPLES = 8  # validation inputs and the winner's outputs shipped for a self-check
CHECK_FILE = "check.npz"


@dataclasses.dataclass(frozen=True)
class OptimizeResult:
    """What ``optimize`` measured and chose, and where it wrote the artifact."""

    out_dir: Path
    model: ModelInfo
    baseline: Outcome
    outcomes: tuple[Outcome, ...]
    winner: Outcome | None
    metric: str  # "top1" (labelled data) or "agreement" (fidelity to the FP32 reference)
    budget_text: str
    allowed_drop: float
    labelled: bool
    manifest_path: Path | None
    report_path: Path | None
    notes: tuple[str, ...] = ()
    interrupted: bool = False
    time_budget_hit: bool = False
    claim: PairedRatio | None = None  # winner vs baseline, re-measured paired at the end
    runner_up: Outcome | None = None
    vs_runner_up: PairedRatio | None = None  # winner vs runner-up, measured paired
    preprocess: Preprocess | None = None  # how images became inputs, and where that came from
    skipped_images: tuple[str, ...] = ()  # data files that could not be decoded, left out
    calibration_samples: int = 0
    validation_samples: int = 0  # accuracy is over these samples

    @property
    def speedup(self) -> PairedRatio | None:
        """The winner's speed-up over the FP32 baseline (same batch), measured paired at the end.

        None when there is no winner or the final paired measurement failed (a note says why).
        """
        return self.claim


def optimize(
    model: str,
    data: str,
    *,
    out: str | Path,
    runtimes: Sequence[str] | None = None,
    precisions: Sequence[str] | None = None,
    threads: Sequence[int | None] = (None,),
    batch: int = 1,
    objective: str = "latency",
    max_accuracy_drop: str = "1",
    calib_size: int | None = None,
    val_size: int | None = None,
    time_budget_s: float | None = None,
    force: bool = False,
    strategy: str = "grid",
    n_trials: int | None = None,
    duration_s: float = 5.0,
    min_time_s: float = 1.0,
    input_shape: str | Sequence[int] | None = None,
    weights: str | None = None,
    trust_model: bool = False,
    preprocess: str | None = None,
    strict_data: bool = False,
    db: str | None = None,
    save: bool = True,
    timeout_s: float = 900.0,
    progress: OptimizeProgress | None = None,
) -> OptimizeResult:
    """Find the fastest configuration of ``model`` within an accuracy budget and ship it.

    Args:
        model: A model spec (see :func:`hwfit.models.load_model`).
        data: An image folder (one sub-folder per class, or flat for unlabelled data) or an
            ``.npz`` with ``x`` (and ``y``).
        out: Output folder: the artifact, ``hwfit.json`` and ``report.html``.
        runtimes: Runtimes to try (default: onnxruntime, openvino).
        precisions: Precisions to try (default: every one with a recipe).
        threads: Thread counts to try (None: the runtime's default).
        batch: Batch size the latency objective is measured at.
        objective: ``latency`` (p50 at ``batch``) or ``throughput`` (samples/s).
        max_accuracy_drop: ``"1"`` = 1 point absolute, ``"0.5%"`` = relative to the reference.
        calib_size: Calibration samples (default: up to 300).
        val_size: Validation samples, disjoint from calibration (default: up to 500).
        time_budget_s: Stop starting candidates after this many seconds; the best so far wins.
        force: Also measure precisions the hardware verdict says will not pay off.
        strategy: ``grid`` (every candidate) or ``optuna`` (TPE over the space, ``n_trials``).
        n_trials: Candidates the optuna strategy may evaluate.
        duration_s: Time limit of each candidate's timed loop.
        min_time_s: Each candidate's timed loop runs at least this long.
        input_shape: Input shape, batch first, when the model does not say.
        weights: State-dict file for PyTorch sources.
        trust_model: Load a model file that runs code when loaded (TorchScript, pickles); see
            :func:`hwfit.models.load_model`. Only for files you trust.
        preprocess: Overrides of the model's preprocessing (``"mean=..;std=..;crop_pct=.."``).
        strict_data: Fail on the first image that cannot be decoded instead of skipping it
            (skipped images are named in the notes and in ``skipped_images``).
        db: Results database URL or SQLite path.
        save: Store measurements in the database.
        timeout_s: Seconds one candidate's worker may take.
        progress: Progress callback.

    Returns:
        The result; ``winner`` is None when no candidate met the budget.

    Raises:
        UserError: Bad model, data, option or database, before anything is measured.
        RuntimeFailure: The FP32 reference itself could not be measured.
    """
    from hwfit.accuracy.data import check_dataset_path
    from hwfit.accuracy.guard import AccuracyBudget
    from hwfit.hardware import probe
    from hwfit.models import load_model
    from hwfit.tune.space import DEFAULT_RUNTIMES, candidate_space

    if objective not in OBJECTIVES:
        raise UserError(f"Unknown objective {objective!r}.", hint="Use latency or throughput.")
    if batch < 1:
        raise UserError(f"--batch must be >= 1, got {batch}.")
    budget = AccuracyBudget.parse(max_accuracy_drop)
    check_dataset_path(data)  # a mistyped path fails before the model is built
    candidates = candidate_space(list(runtimes or DEFAULT_RUNTIMES), precisions, threads, [batch])
    out_dir = _prepare_out_dir(Path(out))
    store = _open_store(db) if save else None

    started = time.monotonic()
    hardware = probe(include_runtimes=False)
    artifact = load_model(model, input_shape=input_shape, weights=weights, trust_model=trust_model)
    pre = _preprocess(artifact, preprocess)
    calib, val = _load_data(data, pre, calib_size, val_size, strict_data)
    run = _Run(
        artifact=artifact,
        hardware=hardware,
        out_dir=out_dir,
        work=out_dir / ".work",
        calib=calib,
        val=val,
        budget=budget,
        objective=objective,
        duration_s=duration_s,
        min_time_s=min_time_s,
        timeout_s=timeout_s,
        store=store,
        preprocess=pre,
        budget_text=max_accuracy_drop,
        db=db,
    )
    total = len(candidates) + 1
    baseline_candidate = Candidate(
        "torch" if artifact.is_torch else "onnxruntime", "fp32", None, batch
    )
    if progress:
        progress(0, total, baseline_candidate, None)
    baseline = run.reference(baseline_candidate)
    if progress:
        progress(1, total, baseline_candidate, baseline)

    strat = _strategy(strategy, candidates, n_trials)
    outcomes: list[Outcome] = []
    interrupted = budget_hit = False
    try:
        while (candidate := strat.ask()) is not None:
            remaining = (
                None if time_budget_s is None else time_budget_s - (time.monotonic() - started)
            )
            if remaining is not None and remaining <= 0:
                budget_hit = True
                outcome = Outcome(
                    candidate, RowState.SKIPPED, "time budget reached before it started"
                )
            else:
                if progress:
                    progress(len(outcomes) + 1, total, candidate, None)
                outcome = run.evaluate(candidate, force=force, remaining_s=remaining)
            strat.tell(candidate, outcome)
            outcomes.append(outcome)
            run.write_best(baseline, outcomes)
            if progress:
                progress(len(outcomes) + 1, total, candidate, outcome)
    except KeyboardInterrupt:
        interrupted = True
    return run.finish(baseline, outcomes, interrupted=interrupted, budget_hit=budget_hit)


def _prepare_out_dir(out: Path) -> Path:
    from hwfit.artifacts.manifest import MANIFEST_NAME

    markers = (MANIFEST_NAME, ".work", "report.html", "candidates")
    foreign = not any((out / m).exists() for m in markers)
    if out.exists() and any(out.iterdir()) and foreign:
        raise UserError(
            f"Output folder {str(out)!r} exists and is not an hwfit output.",
            hint="Pass an empty or new folder with --out.",
        )
    out.mkdir(parents=True, exist_ok=True)
    return out


def _open_store(db: str | None) -> Any:
    from hwfit.db import ResultStore

    return ResultStore(db, writable=True)  # a read-only database fails before measuring


def _preprocess(artifact: ModelArtifact, overrides: str | None) -> Preprocess:
    from hwfit.accuracy.data import Preprocess, preprocess_for

    pre = preprocess_for(artifact, artifact.info.input.shape)
    if overrides:
        pre = Preprocess.parse(overrides, base=pre)
    return pre


def _load_data(
    data: str, pre: Preprocess, calib_size: int | None, val_size: int | None, strict: bool
) -> tuple[Dataset, Dataset]:
    from hwfit.accuracy.data import count_samples, load_dataset, split

    def sizes(available: int) -> tuple[int, int]:
        val = val_size if val_size is not None else min(500, max(1, available // 2))
        calib = calib_size if calib_size is not None else min(300, max(1, available - val))
        return calib, val

    calib, val = sizes(count_samples(data))
    dataset = load_dataset(data, pre, limit=calib + val, strict=strict)
    if len(dataset) < calib + val:  # unreadable images were skipped: share what is left
        calib, val = sizes(len(dataset))
    return split(dataset, calib, val)


def _strategy(name: str, candidates: list[Candidate], n_trials: int | None) -> Any:
    from hwfit.tune.strategy import GridStrategy, OptunaStrategy

    if name == "grid":
        return GridStrategy(candidates)
    if name == "optuna":
        return OptunaStrategy(candidates, n_trials or len(candidates))
    raise UserError(f"Unknown strategy {name!r}.", hint="Use grid or optuna.")


@dataclasses.dataclass
class _Run:
    """The state of one optimize run (private): data, reference, and what was written."""

    artifact: ModelArtifact
    hardware: HardwareProfile
    out_dir: Path
    work: Path
    calib: Dataset
    val: Dataset
    budget: AccuracyBudget
    objective: str
    duration_s: float
    min_time_s: float
    timeout_s: float
    store: Any
    preprocess: Preprocess
    budget_text: str
    db: str | None = None  # as the user gave it: the fallback file's import command names it
    fallback: Any = None  # hwfit.db.fallback.FallbackFile once the database stopped taking rows
    reference_logits: np.ndarray | None = None
    reference_accuracy: dict[str, float] = dataclasses.field(default_factory=dict)
    metric: str = "top1"
    allowed: float = 0.0
    prepared: dict[tuple[str, str, int], tuple[PreparedModel, ModelInfo]] = dataclasses.field(
        default_factory=dict
    )
    written: Outcome | None = None
    notes: list[str] = dataclasses.field(default_factory=list)
    logits: dict[Candidate, np.ndarray] = dataclasses.field(default_factory=dict)
    forced: set[Candidate] = dataclasses.field(default_factory=set)
    outcomes_by_candidate: dict[Candidate, Outcome] = dataclasses.field(default_factory=dict)
    baseline_row: BenchResult | None = None

    def __post_init__(self) -> None:
        from hwfit.accuracy.data import skipped_text

        self.work.mkdir(parents=True, exist_ok=True)
        self.val_path = self.work / "validation.npz"
        np.savez(self.val_path, x=self.val.x)
        if self.val.skipped:
            self.notes.append(
                f"Skipped {skipped_text(self.val.skipped)} in {self.val.source!r} "
                f"(--strict-data fails instead); accuracy is over the {len(self.val)} "
                f"validation images used."
            )

    # --- measuring -----------------------------------------------------------------------

    def _config(self, candidate: Candidate) -> RunConfig:
        return RunConfig(
            runtime=candidate.runtime,
            batch=candidate.batch,
            threads=candidate.threads,
            precision=candidate.precision,
            duration_s=self.duration_s,
            min_time_s=self.min_time_s,
            async_throughput=self.objective == "throughput",
        )

    def _measure(
        self, info: ModelInfo, candidate: Candidate, remaining_s: float | None
    ) -> tuple[BenchResult, np.ndarray | None]:
        from hwfit.bench import run_row

        logits_path = self.work / "logits.npz"
        logits_path.unlink(missing_ok=True)
        timeout = (
            self.timeout_s if remaining_s is None else max(30.0, min(self.timeout_s, remaining_s))
        )
        result = run_row(
            info,
            self._config(candidate),
            timeout_s=timeout,
            evaluate=(self.val_path, logits_path),
            trust_model=self.artifact.trust_model,
        )
        result = dataclasses.replace(
            result,
            fingerprint=self.hardware.fingerprint,
            hwfit_version=__version__,
            created_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        )
        if self.store is not None:
            try:
                self.store.save(result, self.hardware.to_dict())
            except HwfitError as exc:  # measuring goes on; the rows go to a file import reads
                from hwfit.db.fallback import FallbackFile

                self.notes.append(f"Database write failed: {exc.message}")
                self.fallback = FallbackFile.for_store(self.store, self.db)
                self.store = None
        if self.fallback is not None:
            self.fallback.add(result, self.hardware.to_dict())
        logits = np.load(logits_path)["logits"] if logits_path.exists() else None
        return result, logits

    def _paired(self, info: ModelInfo, candidate: Candidate, result: BenchResult) -> BenchResult:
        """``result`` with its speed-up over the baseline, measured paired (both in one worker)."""
        if result.state is not RowState.COMPLETE or self.baseline_row is None:
            return result
        figure = self.pair((info, self._config(candidate)))
        if isinstance(figure, str):
            return dataclasses.replace(result, speedup_reason=figure)
        return dataclasses.replace(result, speedup=figure)

    def pair(
        self, b: tuple[ModelInfo, RunConfig], a: tuple[ModelInfo, RunConfig] | None = None
    ) -> PairedRatio | str:
        """B's speed-up over A (default: the baseline), measured paired; str: why there is none."""
        from hwfit.bench import pair_rows

        if a is None:
            if self.baseline_row is None:
                return "the baseline was not measured"
            a = (self.baseline_row.model, self.baseline_row.config)
        return pair_rows(
            a,
            b,
            timeout_s=self.timeout_s,
            min_time_s=min(self.min_time_s, self.duration_s),
            max_time_s=max(self.min_time_s, self.duration_s),
            trust_model=self.artifact.trust_model,
        )

    def side(self, outcome: Outcome) -> tuple[ModelInfo, RunConfig]:
        """The model and run configuration a measured outcome ran."""
        c = outcome.candidate
        _, info = self.prepared[(c.runtime, c.precision, c.batch)]
        return info, self._config(c)

    def reference(self, candidate: Candidate) -> Outcome:
        """Measure the FP32 reference: its latency is the baseline, its outputs the yardstick."""
        from hwfit.accuracy.metrics import topk_accuracy

        info = self.artifact.info
        if candidate.runtime != "torch":
            self.notes.append(
                "The model is not a PyTorch model: the FP32 reference is ONNX Runtime FP32."
            )
        result, logits = self._measure(info, candidate, None)
        if result.state is not RowState.COMPLETE or logits is None:
            raise RuntimeFailure(
                f"The FP32 reference ({candidate.runtime}) could not be measured: {result.reason}"
            )
        self.reference_logits = logits
        self.baseline_row = result
        labels = self.val.y
        if labels is not None:
            n_out = logits.shape[1]
            if int(labels.max()) >= n_out:
                raise UserError(
                    f"The data has labels up to {int(labels.max())}, but the model has only "
                    f"{n_out} outputs.",
                    hint="Use a model whose classifier matches the data's classes (--weights), "
                    "or unlabelled data (a flat folder) to measure fidelity instead.",
                )
            self.metric = "top1"
            self.reference_accuracy = topk_accuracy(logits, labels)
            chance = 100.0 / max(2, len(np.unique(labels)))
            if self.reference_accuracy["top1"] <= chance:
                # Labels a model was not trained for say nothing about what quantization
                # costs; agreement with the FP32 reference still does.
                self.notes.append(
                    f"The FP32 reference scores {self.reference_accuracy['top1']:.1f}% top-1 on "
                    f"this data, no better than chance ({chance:.1f}%): the model was not "
                    "trained for these labels (random weights? pass --weights). The budget "
                    "is applied to top-1 agreement with the FP32 reference instead."
                )
                self.metric = "agreement"
                self.reference_accuracy = {
                    **self.reference_accuracy,
                    "agreement": 100.0,
                    "cosine": 1.0,
                    "max_abs_error": 0.0,
                }
        else:
            self.metric = "agreement"
            self.reference_accuracy = {"agreement": 100.0, "cosine": 1.0, "max_abs_error": 0.0}
            self.notes.append(
                "The data has no labels: accuracy is fidelity to the FP32 reference (top-1 "
                "agreement, cosine similarity, max abs error), not correctness."
            )
        self.allowed = self.budget.allowed_drop(self.reference_accuracy[self.metric])
        return Outcome(
            candidate,
            RowState.COMPLETE,
            bench=result,
            accuracy=self.reference_accuracy,
            metric=self.metric,
            drop=0.0,
            artifact_size_bytes=result.artifact_size_bytes,
        )

    def _accuracy(self, logits: np.ndarray) -> dict[str, float]:
        from hwfit.accuracy.metrics import fidelity, topk_accuracy

        assert self.reference_logits is not None
        fid = fidelity(self.reference_logits, logits)
        acc = {
            "agreement": fid.top1_agreement,
            "cosine": fid.cosine,
            "max_abs_error": fid.max_abs_error,
        }
        if self.val.y is not None:
            acc.update(topk_accuracy(logits, self.val.y))
        return acc

    def _quant_data_path(self) -> Path:
        """The arrays a quantizer may need, written once for the prepare workers."""
        from hwfit.precisions.job import write_quant_data

        path = self.work / "quant_data.npz"
        if not path.exists():
            write_quant_data(
                path,
                calibration=self.calib.x,
                validation=self.val.x,
                labels=self.val.y,
                reference=self.reference_logits,
            )
        return path

    def _run_recipe(
        self, recipe: Any, candidate: Candidate, folder: Path, remaining_s: float | None
    ) -> PreparedModel | str:
        """Prepare in-process (float recipes) or in a worker (quantizers); str = failure."""
        from hwfit.bench import spawn_worker
        from hwfit.precisions import RECIPES, recipe_key
        from hwfit.precisions.base import PreparedModel
        from hwfit.records import to_dict

        spec = self.artifact.info.input.with_batch(candidate.batch)
        if not recipe.needs_calibration:  # conversions only: cached, in-process
            try:
                return recipe.prepare(self.artifact, spec, folder, None)  # type: ignore[no-any-return]
            except HwfitError as exc:
                return exc.message
        job = {
            "task": "prepare",
            "recipe_path": RECIPES.path(recipe_key(candidate.runtime, candidate.precision)),
            "model": to_dict(self.artifact.info),
            "trust_model": self.artifact.trust_model,
            "runtime": candidate.runtime,
            "precision": candidate.precision,
            "spec": to_dict(spec),
            "out_dir": str(folder),
            "data": str(self._quant_data_path()),
            "metric": self.metric,
            "max_drop": self.allowed,
        }
        timeout = (
            self.timeout_s if remaining_s is None else max(30.0, min(self.timeout_s, remaining_s))
        )
        result, why = spawn_worker(job, timeout)
        if result is None:
            return why
        if not result["ok"]:
            return str(result["error"])
        return PreparedModel(
            path=Path(result["path"]) if result["path"] else None,
            kind=result["kind"],
            seconds=float(result["seconds"]),
            details=dict(result["details"]),
        )

    def _prepare(
        self, candidate: Candidate, force: bool, remaining_s: float | None
    ) -> tuple[PreparedModel, ModelInfo] | Outcome:
        from hwfit.models import load_model
        from hwfit.precisions import RECIPES, Precision, recipe_key

        recipe = RECIPES.load(recipe_key(candidate.runtime, candidate.precision))(  # type: ignore[call-arg]
            candidate.runtime, Precision(candidate.precision)
        )
        verdict = recipe.applicable(self.hardware)  # type: ignore[attr-defined]
        if not verdict.ok and not force:
            return Outcome(candidate, RowState.SKIPPED, f"{verdict.reason} (--force measures it)")
        if not verdict.ok:
            self.forced.add(candidate)
        key = (candidate.runtime, candidate.precision, candidate.batch)
        if key not in self.prepared:
            folder = (
                self.out_dir
                / "candidates"
                / f"{candidate.runtime}-{candidate.precision}-b{candidate.batch}"
            )
            folder.mkdir(parents=True, exist_ok=True)
            spec = self.artifact.info.input.with_batch(candidate.batch)
            prepared = self._run_recipe(recipe, candidate, folder, remaining_s)
            if isinstance(prepared, str):
                return Outcome(candidate, RowState.FAILED, f"preparing failed: {prepared}")
            if prepared.path is None:
                info = self.artifact.info
            else:
                info = load_model(str(prepared.path), input_shape=spec.shape).info
            self.prepared[key] = (prepared, info)
        return self.prepared[key]

    def evaluate(self, candidate: Candidate, *, force: bool, remaining_s: float | None) -> Outcome:
        """Prepare, measure and accuracy-check one candidate."""
        if candidate.precision == "int8-mixed":
            plain = self.outcomes_by_candidate.get(
                dataclasses.replace(candidate, precision="int8")
            )
            if plain is not None and plain.state is not RowState.REJECTED:
                why = (
                    "plain INT8 met the budget"
                    if plain.state is RowState.COMPLETE
                    else (f"plain INT8 ended {plain.state.value}")
                )
                return Outcome(
                    candidate,
                    RowState.SKIPPED,
                    f"{why}; mixed INT8 only runs when plain INT8 breaks the accuracy budget",
                )
        outcome = self._evaluate(candidate, force=force, remaining_s=remaining_s)
        self.outcomes_by_candidate[candidate] = outcome
        return outcome

    def _evaluate(
        self, candidate: Candidate, *, force: bool, remaining_s: float | None
    ) -> Outcome:
        prepared_or_outcome = self._prepare(candidate, force, remaining_s)
        if isinstance(prepared_or_outcome, Outcome):
            return prepared_or_outcome
        prepared, info = prepared_or_outcome
        result, logits = self._measure(info, candidate, remaining_s)
        result = self._paired(info, candidate, result)
        outcome = Outcome(
            candidate,
            result.state,
            result.reason,
            bench=result,
            prepare_s=prepared.seconds,
            prepare_details=prepared.details,
            artifact_path=str(prepared.path) if prepared.path else None,
            artifact_size_bytes=result.artifact_size_bytes,
            forced=candidate in self.forced,
        )
        if result.state is not RowState.COMPLETE or logits is None:
            return outcome
        self.logits[candidate] = logits[:CHECK_SAMPLES]
        accuracy = self._accuracy(logits)
        drop = self.reference_accuracy[self.metric] - accuracy[self.metric]
        outcome = dataclasses.replace(outcome, accuracy=accuracy, metric=self.metric, drop=drop)
        if drop > self.allowed + 1e-9:
            reason = (
                f"accuracy drop {drop:.2f} points on {self.metric} > allowed {self.allowed:.2f} "
                f"(--max-accuracy-drop {self.budget_text})"
            )
            return dataclasses.replace(outcome, state=RowState.REJECTED, reason=reason)
        return outcome

    # --- writing -------------------------------------------------------------------------

    def write_best(self, baseline: Outcome, outcomes: list[Outcome]) -> None:
        """Write the best candidate so far (artifact + manifest) when it changed."""
        from hwfit.tune.select import select

        winner, _ = select(outcomes, self.objective)
        if winner is not None and winner is not self.written:
            self._write_artifact(winner, baseline)
            self.written = winner

    def _write_artifact(
        self,
        winner: Outcome,
        baseline: Outcome,
        claim: PairedRatio | None = None,
        vs_runner_up: PairedRatio | None = None,
    ) -> Path:
        from hwfit.artifacts.manifest import Manifest, write_manifest

        assert winner.bench is not None
        _, info = self.prepared[
            (winner.candidate.runtime, winner.candidate.precision, winner.candidate.batch)
        ]
        source = Path(info.path or info.source)
        for old in self.out_dir.glob("model.*"):
            old.unlink()
        target = self.out_dir / f"model{source.suffix}"
        shutil.copyfile(source, target)
        np.savez(
            self.out_dir / CHECK_FILE,
            x=self.val.x[:CHECK_SAMPLES],
            outputs=self.logits[winner.candidate],
        )
        if source.suffix == ".xml":
            shutil.copyfile(source.with_suffix(".bin"), target.with_suffix(".bin"))
        bench = winner.bench
        executed = bench.executed
        options: dict[str, Any] = {
            "batch": winner.candidate.batch,
            "threads": executed.threads if executed else winner.candidate.threads,
            "precision": winner.candidate.precision,
            **(executed.details if executed else {}),
        }
        manifest = Manifest(
            model_file=target.name,
            runtime=winner.candidate.runtime,
            runtime_version=bench.runtime_version,
            precision={
                "requested": winner.candidate.precision,
                "executed": executed.precision if executed else "unknown",
            },
            runtime_options=options,
            input={
                "name": info.input.name,
                "shape": list(info.input.shape),
                "dtype": info.input.dtype,
                "preprocess": self.preprocess.to_dict(),
            },
            classes=self.val.classes,
            metrics={
                "winner": _metrics(bench),
                "baseline": _metrics(baseline.bench),
                # Paired figures only (both models in one process, alternating windows): the
                # final re-measurement when it ran, else the candidate's own paired figure.
                "speedup": _figure(claim or bench.speedup),
                "vs_runner_up": _figure(vs_runner_up),
                "baseline_runtime": baseline.candidate.runtime,
            },
            accuracy={
                "metric": self.metric,
                "winner": winner.accuracy,
                "baseline": baseline.accuracy,
                "drop": winner.drop,
                "budget": self.budget_text,
                "allowed_drop": self.allowed,
                "validation_samples": len(self.val.x),
                "calibration_samples": len(self.calib.x),
                "skipped_images": list(self.val.skipped),
                "self_check": CHECK_FILE,
            },
            source={
                "model": self.artifact.info.source,
                "content_hash": self.artifact.info.content_hash,
                "params": self.artifact.info.params,
                "macs": self.artifact.info.macs,
                "weights": self.artifact.info.weights,
            },
            hardware={
                "fingerprint": self.hardware.fingerprint,
                "cpu": self.hardware.cpu.brand,
                "cores": self.hardware.cpu.physical_cores,
                "isa": self.hardware.isa_summary,
            },
            versions=tool_versions(),
            created_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        )
        return write_manifest(self.out_dir, manifest)

    def finish(
        self, baseline: Outcome, outcomes: list[Outcome], *, interrupted: bool, budget_hit: bool
    ) -> OptimizeResult:
        """Select the winner, explain every candidate, write the artifact and the report."""
        from hwfit.tune.explain import explain, structure_of
        from hwfit.tune.select import select

        structure = (
            structure_of(self.artifact.torch_module(), self.artifact.info.input.shape)
            if self.artifact.is_torch
            else None
        )
        fp32 = {
            (o.candidate.runtime, o.candidate.threads, o.candidate.batch): o
            for o in outcomes
            if o.candidate.precision == "fp32" and o.p50_ms is not None
        }
        explained = [
            dataclasses.replace(
                o,
                explanation=explain(
                    o,
                    fp32.get((o.candidate.runtime, o.candidate.threads, o.candidate.batch)),
                    structure,
                    self.hardware,
                ),
            )
            for o in outcomes
        ]
        winner, explained = select(explained, self.objective)
        notes = list(self.notes)
        if self.fallback is not None:
            notes.append(self.fallback.note())
        notes += [
            o.explanation
            for o in explained
            if o.explanation and "does not pay off" in o.explanation
        ]
        if interrupted:
            notes.append("The run was interrupted: the best candidate measured so far was kept.")
        if budget_hit:
            notes.append("The time budget ran out: the remaining candidates were not measured.")
        claim = runner_up = vs_runner_up = None
        if winner is not None and not interrupted:
            claim, runner_up, vs_runner_up = self._final_claims(winner, explained, notes)
        manifest_path = None
        if winner is not None:
            manifest_path = self._write_artifact(winner, baseline, claim, vs_runner_up)
        else:
            notes.append("No candidate met the accuracy budget; no artifact was written.")
        result = OptimizeResult(
            out_dir=self.out_dir,
            model=self.artifact.info,
            baseline=baseline,
            outcomes=tuple(explained),
            winner=winner,
            metric=self.metric,
            budget_text=self.budget_text,
            allowed_drop=self.allowed,
            labelled=self.val.y is not None,
            manifest_path=manifest_path,
            report_path=None,
            notes=tuple(notes),
            interrupted=interrupted,
            time_budget_hit=budget_hit,
            claim=claim,
            runner_up=runner_up,
            vs_runner_up=vs_runner_up,
            preprocess=self.preprocess,
            skipped_images=self.val.skipped,
            calibration_samples=len(self.calib),
            validation_samples=len(self.val),
        )
        report = self._write_report(result)
        shutil.rmtree(self.work, ignore_errors=True)
        return dataclasses.replace(result, report_path=report)

    def _final_claims(
        self, winner: Outcome, outcomes: Sequence[Outcome], notes: list[str]
    ) -> tuple[PairedRatio | None, Outcome | None, PairedRatio | None]:
        """Re-measure the winner paired against the baseline, and against the runner-up.

        Returns:
            (winner vs baseline, the runner-up, winner vs runner-up); a figure that could not
            be measured is None, with a note saying why.
        """
        from hwfit.tune.select import runner_up_of

        side = self.side(winner)
        measured = self.pair(side)
        claim = None if isinstance(measured, str) else measured
        if isinstance(measured, str):
            notes.append(f"The winner's speed-up could not be re-measured: {measured}")
        elif measured.noisy:
            notes.append(
                f"The winner's speed-up {measured.text()} is not a confident figure: "
                f"{'; '.join(measured.noise)}. Run again on a quieter machine for a firm number."
            )
        second = runner_up_of(winner, outcomes, self.objective)
        if second is None:
            return claim, None, None
        versus = self.pair(side, self.side(second))
        if isinstance(versus, str):
            notes.append(f"The winner vs the runner-up could not be measured: {versus}")
            return claim, second, None
        if versus.ci_low <= 1.0 <= versus.ci_high:
            notes.append(
                f"The winner and the runner-up ({second.candidate.label}) are tied within the "
                f"noise: {versus.text()} measured paired."
            )
        return claim, second, versus

    def _write_report(self, result: OptimizeResult) -> Path | None:
        try:
            from hwfit.report import render_optimize_report, write_report
        except ImportError:  # plotly missing: the artifact matters more than the page
            return None
        html = render_optimize_report(
            title=f"hwfit optimize: {result.model.source}",
            model={
                "source": result.model.source,
                "params": result.model.params,
                "macs": result.model.macs,
                "input": result.model.input.shape_str,
            },
            outcomes=result.outcomes,
            baseline=result.baseline,
            winner=result.winner,
            budget_text=result.budget_text,
            metric=result.metric,
            budget_points=result.allowed_drop,
            hardware=self.hardware.to_dict(),
            versions=tool_versions(),
            notes=result.notes,
        )
        path = self.out_dir / "report.html"
        write_report(path, html)
        return path


def _metrics(bench: BenchResult | None) -> dict[str, Any]:
    if bench is None or bench.latency is None:
        return {}
    lat = bench.latency
    return {
        "runtime": bench.config.runtime,
        "precision": bench.executed.precision if bench.executed else bench.config.precision,
        "threads": bench.executed.threads if bench.executed else None,
        "batch": bench.config.batch,
        "p50_ms": lat.p50_ms,
        "p90_ms": lat.p90_ms,
        "p99_ms": lat.p99_ms,
        "ci95_ms": [lat.ci_low_ms, lat.ci_high_ms],
        "runs": lat.n,
        "noise": list(lat.noise),
        "throughput": bench.throughput,
        "async_throughput": bench.async_throughput,
        "artifact_size_bytes": bench.artifact_size_bytes,
    }


def _figure(figure: PairedRatio | None) -> dict[str, Any] | None:
    if figure is None:
        return None
    return {
        "speedup": figure.speedup,
        "ci95": [figure.ci_low, figure.ci_high],
        "pairs": figure.pairs,
        "contention": figure.contention,
        "noise": list(figure.noise),
        "method": "paired: alternating 50-ms windows in one process",
    }
