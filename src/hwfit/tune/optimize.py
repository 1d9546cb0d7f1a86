"""``optimize()``: the fastest configuration of a model on this machine within an accuracy budget.

For every candidate (runtime x precision x threads x batch) the run prepares the model
(export, quantize), measures it with the bench method in a worker process, evaluates it on
the user's validation data, and checks the accuracy budget against the PyTorch-eager FP32
reference measured in the same run. Every candidate ends COMPLETE, REJECTED, FAILED or
SKIPPED with its reason; the best so far is written to the output folder after each one, so
an interrupted or time-boxed run still leaves a deployable result.

The parts: :mod:`~hwfit.tune.space` (the candidates), :mod:`~hwfit.tune.strategy` (the order
they are tried in), ``_evaluate`` (prepare, measure, check one), :mod:`~hwfit.tune.select`
(the winner), :mod:`~hwfit.tune.knobs` (the winner's runtime settings, tuned by measurement),
:mod:`~hwfit.tune.explain` (why a precision paid off or not) and :mod:`~hwfit.tune.artifact`
(the folder and its report).
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from hwfit.accuracy import (
    Preprocess,
    check_dataset_path,
    count_samples,
    load_dataset,
    preprocess_for,
    skipped_text,
    split,
)
from hwfit.accuracy.evaluators import (
    Evaluate,
    MapMetric,
    MeanIoUMetric,
    Metric,
    resolve_metric,
)
from hwfit.accuracy.guard import AccuracyBudget
from hwfit.artifacts.manifest import MANIFEST_NAME
from hwfit.errors import UserError
from hwfit.hardware import probe
from hwfit.models import load_model
from hwfit.models.detection import detection_decoder
from hwfit.records import (
    Candidate,
    Executed,
    KnobTuning,
    LayerProfile,
    OptimizeResult,
    Outcome,
    PairedRatio,
    Payoff,
    Progress,
    ProgressEvent,
    RowState,
)
from hwfit.tune._evaluate import Evaluator, measure_reference
from hwfit.tune._run import Reference, Rows, RunSetup, Side, pair
from hwfit.tune.artifact import Shipment, write_artifact, write_report
from hwfit.tune.explain import explain, structure_of
from hwfit.tune.knobs import DEFAULT_TRIALS, tune_knobs
from hwfit.tune.profiles import profile_outcomes
from hwfit.tune.prune import DEFAULT_RATIOS, checked_ratios, prune_sources
from hwfit.tune.select import against, runner_up_of, select
from hwfit.tune.space import DEFAULT_RUNTIMES, candidate_space
from hwfit.tune.strategy import STRATEGIES

if TYPE_CHECKING:
    from hwfit.accuracy import Dataset
    from hwfit.db import ResultStore
    from hwfit.models.artifact import ModelArtifact

__all__ = ["OBJECTIVES", "THROUGHPUT_BATCHES", "optimize"]

logger = logging.getLogger(__name__)

OBJECTIVES = ("latency", "throughput")
#: Batch sizes the throughput objective chooses from unless told: batching amortizes each
#: call's overhead, more on small models (``benchmarks/peers.py --objective throughput``).
THROUGHPUT_BATCHES: tuple[int, ...] = (1, 8)


def optimize(
    model: str,
    data: str,
    *,
    out: str | Path,
    runtimes: Sequence[str] | None = None,
    precisions: Sequence[str] | None = None,
    threads: Sequence[int | None] = (None,),
    batch: int | Sequence[int] | None = None,
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
    progress: Progress | None = None,
    train_data: str | None = None,
    prune: Sequence[float] | None = None,
    prune_epochs: float = 3.0,
    prune_time_s: float = 300.0,
    train_size: int = 2000,
    tune_trials: int = DEFAULT_TRIALS,
    metric: str | None = None,
    evaluate: Evaluate | None = None,
) -> OptimizeResult:
    """Find the fastest configuration of ``model`` within an accuracy budget and ship it.

    Args:
        model: A model spec (see :func:`hwfit.models.load_model`).
        data: Image folder (a sub-folder per class; flat: unlabelled) or ``.npz`` (x, y).
        out: Output folder: the artifact, ``hwfit.json`` and ``report.html``.
        runtimes: Runtimes to try (default: onnxruntime, openvino).
        precisions: Precisions to try (default: every one with a recipe).
        threads: Thread counts to try (None: the runtime's default).
        batch: The batch the latency objective is measured at (one value, default 1); for
            the throughput objective the batch sizes to choose from (default
            :data:`THROUGHPUT_BATCHES`), the baseline run at the largest.
        objective: ``latency`` (p50 at ``batch``) or ``throughput`` (samples/s, per sample
            measured paired; OpenVINO with its THROUGHPUT hint and an asynchronous queue).
        max_accuracy_drop: ``"1"`` = 1 point absolute, ``"0.5%"`` = relative to the reference.
        calib_size: Calibration samples (default: up to 300).
        val_size: Validation samples, disjoint from calibration (default: up to 500).
        time_budget_s: Stop starting candidates after this many seconds; the best so far wins.
        force: Also measure precisions the hardware verdict says will not pay off.
        strategy: A :data:`~hwfit.tune.strategy.STRATEGIES` name: ``grid`` or ``optuna``.
        n_trials: Candidates the optuna strategy may evaluate.
        duration_s: Time limit of each candidate's timed loop.
        min_time_s: Each candidate's timed loop runs at least this long.
        input_shape: Input shape, batch first, when the model does not say.
        weights: State-dict file for PyTorch sources.
        trust_model: Load a model file that runs code when loaded (see ``load_model``).
        preprocess: Overrides of the model's preprocessing (``"mean=..;std=..;crop_pct=.."``).
        strict_data: Fail on an image that cannot be decoded (default: skip it and name it).
        db: Results database URL or SQLite path.
        save: Store measurements in the database.
        timeout_s: Seconds one candidate's worker may take.
        progress: Called with a ``ProgressEvent(command="optimize")`` per candidate.
        train_data: Labelled images of the model's classes: the model (PyTorch) is also
            pruned at each ``prune`` ratio and fine-tuned on them, and every candidate is
            tried on each pruned model too (:mod:`hwfit.tune.prune`).
        prune: Shares of the channels to prune (default with ``train_data``: 0.25 and 0.5).
        prune_epochs: Fine-tune epochs at most, per ratio.
        prune_time_s: Fine-tune seconds at most, per ratio.
        train_size: Training images used at most.
        tune_trials: Settings of the winner's runtime (threads, streams, pinning, ...) to
            measure at most, each paired against the runtime's defaults; a setting ships only
            when it is faster beyond the noise, twice (:mod:`hwfit.tune.knobs`). 0: keep the
            runtime's defaults.
        metric: What the budget guards: ``top1``, ``top5``, ``agreement`` (fidelity to the FP32
            model, no labels needed) or a user's evaluator ``module:function`` (optionally
            ``@name`` of the number to guard); with ``evaluate``, only that name. Default:
            top-1 with labels, else agreement.
        evaluate: A user's evaluator ``fn(predict, data)``: ``predict`` runs the candidate (in
            a worker process), ``data`` is an :class:`~hwfit.accuracy.EvalData`; it returns a
            number, a :class:`~hwfit.accuracy.Score` or a mapping of names to them. An
            exception in it fails that candidate only (:mod:`hwfit.accuracy.evaluators`).

    Returns:
        The result; ``winner`` is None when no candidate met the budget.

    Raises:
        UserError: Bad model, data, option or database, before anything is measured.
        RuntimeFailure: The FP32 reference itself could not be measured.
    """
    return _run(_Request(**locals()))  # the arguments above, as one typed record


@dataclasses.dataclass(frozen=True)
class _Request:
    """The arguments of :func:`optimize`, field for field (a test keeps them in step)."""

    model: str
    data: str
    out: str | Path
    runtimes: Sequence[str] | None
    precisions: Sequence[str] | None
    threads: Sequence[int | None]
    batch: int | Sequence[int] | None
    objective: str
    max_accuracy_drop: str
    calib_size: int | None
    val_size: int | None
    time_budget_s: float | None
    force: bool
    strategy: str
    n_trials: int | None
    duration_s: float
    min_time_s: float
    input_shape: str | Sequence[int] | None
    weights: str | None
    trust_model: bool
    preprocess: str | None
    strict_data: bool
    db: str | None
    save: bool
    timeout_s: float
    progress: Progress | None
    train_data: str | None
    prune: Sequence[float] | None
    prune_epochs: float
    prune_time_s: float
    train_size: int
    tune_trials: int
    metric: str | None
    evaluate: Evaluate | None


def _run(request: _Request) -> OptimizeResult:
    if request.objective not in OBJECTIVES:
        raise UserError(
            f"Unknown objective {request.objective!r}.", hint="Use latency or throughput."
        )
    batches = _batches(request)
    if request.tune_trials < 0:
        raise UserError(
            f"--tune-trials must be 0 or more, got {request.tune_trials}.",
            hint="0 keeps the runtime's default settings.",
        )
    budget = AccuracyBudget.parse(request.max_accuracy_drop)
    metric = resolve_metric(request.metric, request.evaluate)
    check_dataset_path(request.data)  # a mistyped path fails before the model is built
    ratios = _prune_ratios(request)
    candidates = candidate_space(
        list(request.runtimes or DEFAULT_RUNTIMES),
        request.precisions,
        request.threads,
        batches,
    )
    make_strategy = STRATEGIES.load(request.strategy)  # unknown: fails before anything is built
    out_dir = _prepare_out_dir(Path(request.out))
    store = _open_store(request.db) if request.save else None

    started = time.monotonic()
    notes: list[str] = []
    setup = _setup(request, out_dir, budget, metric, notes)
    batches, candidates = _within_fixed_batch(setup, batches, candidates, notes)
    rows = Rows(store, request.db, setup.hardware, notes)
    total = len(candidates) * (1 + len(ratios)) + 1
    run = _Optimization(
        request, setup, rows, notes, total=total, baseline_batch=max(batches), started=started
    )
    try:
        run.measure_baseline()
        try:  # Ctrl-C while pruning or measuring: finish with what was measured
            if ratios and request.train_data is not None:
                pruned = prune_sources(
                    setup, ratios, request.train_data, max_samples=request.train_size,
                    epochs=request.prune_epochs, seconds=request.prune_time_s, notes=notes,
                )  # fmt: skip
                for name, (model, result) in pruned.items():
                    run.evaluator.sources[name] = (model, result.details())
                candidates += [
                    dataclasses.replace(c, source=n) for n in pruned for c in candidates
                ]
                run.total = len(candidates) + 1
            strategy = make_strategy(candidates, request.n_trials)
            while (candidate := strategy.ask()) is not None:
                outcome = run.evaluate(candidate)
                strategy.tell(candidate, outcome)
        except KeyboardInterrupt:
            run.interrupted = True
        return run.finish()
    finally:  # finish() removes it too; an error that stops the run must not leave it behind
        shutil.rmtree(setup.work, ignore_errors=True)


def _batches(request: _Request) -> tuple[int, ...]:
    """The batch sizes candidates run at, checked: one for latency, a choice for throughput."""
    given = request.batch
    if given is None:
        return THROUGHPUT_BATCHES if request.objective == "throughput" else (1,)
    batches = (given,) if isinstance(given, int) else tuple(dict.fromkeys(given))
    if not batches:
        raise UserError("--batch needs at least one value.")
    for value in batches:
        if value < 1:
            raise UserError(f"--batch must be >= 1, got {value}.")
    if request.objective == "latency" and len(batches) > 1:
        raise UserError(
            f"optimize takes one batch for the latency objective, got {batches}.",
            hint="Optimize for the batch you deploy at, or use objective='throughput' to let "
            "optimize choose the batch.",
        )
    return batches


def _within_fixed_batch(
    setup: RunSetup, batches: tuple[int, ...], candidates: list[Candidate], notes: list[str]
) -> tuple[tuple[int, ...], list[Candidate]]:
    """A model file with a static batch runs at that batch only: throughput keeps to it.

    A latency run at another batch fails on the baseline with the export hint, as ``bench``
    does; a throughput run, which chose the batch itself, measures the file's batch and says so.
    """
    info = setup.artifact.info
    fixed = info.input.shape[0]
    if not info.batch_fixed or setup.objective != "throughput" or batches == (fixed,):
        return batches, candidates
    notes.append(
        f"The model file has a fixed batch of {fixed}, so throughput was measured at batch "
        f"{fixed} only, not at {','.join(map(str, batches))}; export it with a dynamic batch "
        "to let optimize choose the batch."
    )
    kept = list(dict.fromkeys(dataclasses.replace(c, batch=fixed) for c in candidates))
    return (fixed,), kept


def _prune_ratios(request: _Request) -> tuple[float, ...]:
    """The pruning ratios to try (none without training data), checked before anything runs."""
    if request.train_data is None:
        if request.prune:
            raise UserError(
                "--prune needs --train-data: pruned models are fine-tuned before they are "
                "measured.",
                hint="Add --train-data with labelled images of the model's classes.",
            )
        return ()
    check_dataset_path(request.train_data)
    for name, value in (("--prune-epochs", request.prune_epochs),
                        ("--prune-time", request.prune_time_s),
                        ("--train-size", request.train_size)):  # fmt: skip
        if not value > 0:
            raise UserError(f"{name} must be positive, got {value}.")
    return checked_ratios(request.prune if request.prune is not None else DEFAULT_RATIOS)


def _setup(
    request: _Request,
    out_dir: Path,
    budget: AccuracyBudget,
    metric: Metric | None,
    notes: list[str],
) -> RunSetup:
    """Probe the machine, load the model and the data, and write the validation inputs."""
    hardware = probe(include_runtimes=False)
    artifact = load_model(
        request.model,
        input_shape=request.input_shape,
        weights=request.weights,
        trust_model=request.trust_model,
    )
    pre = _preprocess(artifact, request.preprocess)
    calib, val = _load_data(request, pre)
    decoder = detection_decoder(artifact.info.source) if artifact.is_torch else None
    if metric is None and decoder is not None:
        metric = MapMetric()  # a detector: COCO mAP, or label-free against its FP32 boxes
    elif metric is None and val.masks is not None:
        metric = MeanIoUMetric()  # segmentation masks: mean IoU against them
    setup = RunSetup(
        artifact=artifact,
        hardware=hardware,
        out_dir=out_dir,
        work=out_dir / ".work",
        calib=calib,
        val=val,
        budget=budget,
        budget_text=request.max_accuracy_drop,
        objective=request.objective,
        preprocess=pre,
        duration_s=request.duration_s,
        min_time_s=request.min_time_s,
        timeout_s=request.timeout_s,
        metric=metric,
        decoder=decoder,
    )
    setup.work.mkdir(parents=True, exist_ok=True)
    np.savez(setup.val_path, x=val.x)
    if val.skipped:
        notes.append(
            f"Skipped {skipped_text(val.skipped)} in {val.source!r} (--strict-data fails "
            f"instead); accuracy is over the {len(val)} validation images used."
        )
    return setup


class _Optimization:
    """One run after its setup: the baseline, the candidates so far, and the folder written."""

    def __init__(
        self,
        request: _Request,
        setup: RunSetup,
        rows: Rows,
        notes: list[str],
        total: int,
        started: float,
        baseline_batch: int = 1,
    ) -> None:
        self.request = request
        self.started = started  # when the run began: the time budget counts from here
        self.baseline_batch = baseline_batch
        self.setup = setup
        self.rows = rows
        self.notes = notes
        self.total = total
        self.outcomes: list[Outcome] = []
        self.interrupted = False
        self.budget_hit = False
        self._evaluator: Evaluator | None = None
        self._written: Outcome | None = None

    @property
    def evaluator(self) -> Evaluator:
        """The evaluator, once the baseline is measured."""
        if self._evaluator is None:
            raise RuntimeError("The baseline is measured first.")
        return self._evaluator

    @property
    def reference(self) -> Reference:
        """The FP32 reference every candidate is compared with."""
        return self.evaluator.reference

    def _emit(self, phase: str, done: int, candidate: Candidate, outcome: Outcome | None) -> None:
        if self.request.progress is not None:
            self.request.progress(
                ProgressEvent(
                    "optimize", phase, done, self.total, label=candidate.label, result=outcome
                )
            )

    def measure_baseline(self) -> None:
        """Measure the FP32 reference (PyTorch eager; ONNX Runtime for ONNX and IR sources)."""
        artifact = self.setup.artifact
        runtime = "torch" if artifact.is_torch else "onnxruntime"
        candidate = Candidate(runtime, "fp32", None, self.baseline_batch)
        self._emit("baseline", 0, candidate, None)
        reference = measure_reference(self.setup, self.rows, candidate, self.notes)
        self._evaluator = Evaluator(self.setup, self.rows, reference)
        self._emit("baseline", 1, candidate, reference.outcome)

    def evaluate(self, candidate: Candidate) -> Outcome:
        """Evaluate one candidate (or skip it past the time budget); write the best so far."""
        remaining = self._remaining_s()
        if remaining is not None and remaining <= 0:
            self.budget_hit = True
            outcome = Outcome(candidate, RowState.SKIPPED, "time budget reached before it started")
        else:
            self._emit("measure", len(self.outcomes) + 1, candidate, None)
            outcome = self.evaluator.evaluate(
                candidate, force=self.request.force, remaining_s=remaining
            )
        self.outcomes.append(outcome)
        winner, _ = select(self.outcomes, self.setup.objective)
        if winner is not None and winner is not self._written:
            write_artifact(self.setup, self.reference, self._shipment(winner))
            self._written = winner
        self._emit("measure", len(self.outcomes) + 1, candidate, outcome)
        return outcome

    def _shipment(
        self,
        winner: Outcome,
        claim: PairedRatio | None = None,
        vs_runner_up: PairedRatio | None = None,
        tuned: tuple[KnobTuning | None, Executed | None] = (None, None),
    ) -> Shipment:
        c = winner.candidate
        _, info = self.evaluator.prepared[(c.runtime, c.precision, c.batch, c.source)]
        tuning, executed = tuned
        return Shipment(
            winner,
            info,
            self.evaluator.logits[c],
            claim,
            vs_runner_up,
            settings=tuning.chosen if tuning is not None else (),
            executed=executed,
        )

    def _remaining_s(self) -> float | None:
        """Seconds left of ``--time-budget`` (None: no budget)."""
        budget_s = self.request.time_budget_s
        return None if budget_s is None else budget_s - (time.monotonic() - self.started)

    def _tune(
        self, winner: Outcome, notes: list[str]
    ) -> tuple[tuple[KnobTuning | None, Executed | None], Side]:
        """Tune the winner's runtime settings; the side it ships with (tuned or not)."""
        side = self.evaluator.side(winner)
        if self.request.tune_trials == 0:
            return (None, None), side
        left = self._remaining_s()
        if left is not None and left <= 0:
            notes.append("The time budget ran out before the winner's runtime settings were "
                         "tuned; it ships with the runtime's defaults.")  # fmt: skip
            return (None, None), side
        try:
            tuning, executed = tune_knobs(
                self.setup, side, trials=self.request.tune_trials, remaining_s=self._remaining_s
            )
        except KeyboardInterrupt:  # Ctrl-C while tuning: ship what was measured, as measured
            self.interrupted = True
            notes.append("Interrupted while tuning the winner's runtime settings: it ships with "
                         "the runtime's defaults, as it was measured.")  # fmt: skip
            return (None, None), side
        if tuning is None or not tuning.chosen:
            return (tuning, None), side
        info, config = side
        options = config.options + tuning.chosen
        return (tuning, executed), (info, dataclasses.replace(config, options=options))

    def finish(self) -> OptimizeResult:
        """Explain every candidate, select the winner, write the artifact and the report."""
        setup = self.setup
        notes = list(self.notes)
        profiles = {}
        if not self.interrupted:
            first, _ = select(self.outcomes, setup.objective)
            profiles = profile_outcomes(
                setup, self.outcomes, self.evaluator.side, notes, first=first
            )
        explained, payoff_notes = self._explained(profiles)
        winner, explained = select(explained, setup.objective)
        if self.rows.fallback is not None:
            notes.append(self.rows.fallback.note())
        notes += payoff_notes
        if self.interrupted and self.outcomes:
            notes.append("The run was interrupted: the best candidate measured so far was kept.")
        if self.budget_hit:
            notes.append("The time budget ran out: the remaining candidates were not measured.")
        claim = runner_up = vs_runner_up = None
        tuned: tuple[KnobTuning | None, Executed | None] = (None, None)
        if winner is not None and not self.interrupted:
            winner, explained, versus = self._head_to_head(winner, explained, notes)
            tuned, side = self._tune(winner, notes)
            if tuned[0] is not None and tuned[0].chosen:
                versus = None  # measured with the defaults: the tuned winner is measured again
            if not self.interrupted:
                claim, runner_up, vs_runner_up = self._final_claims(
                    winner, explained, notes, versus, side=side
                )
        if winner is not None and winner.candidate not in profiles and not self.interrupted:
            profiles.update(  # the head-to-head chose one not profiled yet
                profile_outcomes(setup, [winner], self.evaluator.side, notes, first=winner)
            )
        order = [winner.candidate] if winner is not None else []
        order += [c for c in profiles if c not in order]
        manifest_path = None
        if winner is not None:
            shipment = self._shipment(winner, claim, vs_runner_up, tuned)
            manifest_path = write_artifact(setup, self.reference, shipment)
        elif self.interrupted and not self.outcomes:
            notes.append("Interrupted before any candidate was measured; no artifact was written.")
        else:
            notes.append("No candidate met the accuracy budget; no artifact was written.")
        result = OptimizeResult(
            out_dir=setup.out_dir,
            model=setup.artifact.info,
            baseline=self.reference.outcome,
            outcomes=tuple(explained),
            winner=winner,
            metric=self.reference.metric,
            higher_is_better=self.reference.higher_is_better,
            evaluator=None if setup.metric is None else setup.metric.spec,
            budget_text=setup.budget_text,
            allowed_drop=self.reference.allowed,
            labelled=setup.val.y is not None,
            manifest_path=manifest_path,
            report_path=None,
            notes=tuple(notes),
            interrupted=self.interrupted,
            time_budget_hit=self.budget_hit,
            claim=claim,
            runner_up=runner_up,
            vs_runner_up=vs_runner_up,
            preprocess=setup.preprocess,
            skipped_images=setup.val.skipped,
            calibration_samples=len(setup.calib),
            validation_samples=len(setup.val),
            profiles=tuple(profiles[c] for c in order if c in profiles),
            objective=setup.objective,
            knobs=tuned[0],
        )
        report = write_report(setup, result)
        shutil.rmtree(setup.work, ignore_errors=True)
        return dataclasses.replace(result, report_path=report)

    def _explained(
        self, profiles: dict[Candidate, LayerProfile]
    ) -> tuple[list[Outcome], list[str]]:
        """Each outcome with its explanation, and the notes for precisions that did not pay.

        Where both the outcome and FP32 on its runtime were profiled, the reasons are read from
        their per-layer-type times.
        """
        artifact, hardware = self.setup.artifact, self.setup.hardware
        structure = (
            structure_of(artifact.torch_module(), artifact.info.input.shape)
            if artifact.is_torch
            else None
        )
        fp32 = {
            (o.candidate.runtime, o.candidate.threads, o.candidate.batch, o.candidate.source): o
            for o in self.outcomes
            if o.candidate.precision == "fp32" and o.p50_ms is not None
        }
        explained, notes = [], []
        for o in self.outcomes:
            key = (o.candidate.runtime, o.candidate.threads, o.candidate.batch, o.candidate.source)
            base = fp32.get(key)
            mine = profiles.get(o.candidate)
            theirs = profiles.get(base.candidate) if base is not None else None
            layers = (mine, theirs) if mine is not None and theirs is not None else None
            why = explain(o, base, structure, hardware, layers)
            explained.append(dataclasses.replace(o, explanation=why.text if why else None))
            if why is not None and why.payoff is Payoff.DOES_NOT_PAY_OFF:
                notes.append(why.text)
        return explained, notes

    def _head_to_head(
        self, winner: Outcome, outcomes: list[Outcome], notes: list[str]
    ) -> tuple[Outcome, list[Outcome], PairedRatio | str | None]:
        """Measure the winner against the runner-up paired; the faster beyond the noise wins.

        Each candidate's speed-up was measured paired against the baseline, in its own worker
        and minutes apart from the others; the two best are compared directly here (both in one
        worker, alternating windows). The runner-up takes the win only when the paired interval
        says it is faster (the winner's upper bound below 1); otherwise the winner stays, ties
        included.

        Returns:
            The winner, the outcomes with their reasons, and the winner vs runner-up figure
            when it is the one just measured (None after a swap or without a runner-up).
        """
        second = runner_up_of(winner, outcomes, self.setup.objective)
        if second is None:
            return winner, outcomes, None
        versus = pair(self.setup, self.evaluator.side(second), self.evaluator.side(winner))
        if isinstance(versus, str) or versus.ci_high >= 1.0:
            return winner, outcomes, versus
        notes.append(
            f"{second.candidate.label} replaced {winner.candidate.label} as the winner: measured "
            f"against each other paired, {winner.candidate.label} ran at {versus.text()} the "
            "speed of it."
        )
        new_winner = dataclasses.replace(second, reason=None)
        lost = outcomes.index(winner)
        explained = against(
            [new_winner if o is second else o for o in outcomes], new_winner, self.setup.objective
        )
        explained[lost] = dataclasses.replace(
            winner, reason=f"{versus.text()} the speed of the winner, measured paired against it"
        )
        return new_winner, explained, None

    def _final_claims(
        self,
        winner: Outcome,
        outcomes: Sequence[Outcome],
        notes: list[str],
        versus: PairedRatio | str | None = None,
        side: Side | None = None,
    ) -> tuple[PairedRatio | None, Outcome | None, PairedRatio | None]:
        """Re-measure the winner paired against the baseline, and against the runner-up.

        Args:
            winner: The chosen outcome.
            outcomes: Every outcome (the runner-up is found among them).
            notes: The run's notes; a figure that cannot be given adds one.
            versus: The winner vs runner-up figure when it was just measured (not again).
            side: What the winner ships as (its tuned settings; default: as it was measured).

        Returns:
            (winner vs baseline, the runner-up, winner vs runner-up); a figure that could not
            be measured is None, with a note saying why.
        """
        side = side or self.evaluator.side(winner)
        measured = pair(self.setup, self.reference.side, side)
        claim = None if isinstance(measured, str) else measured
        if isinstance(measured, str):
            notes.append(f"The winner's speed-up could not be re-measured: {measured}")
        elif measured.noisy:
            notes.append(
                f"The winner's speed-up {measured.text()} is not a confident figure: "
                f"{'; '.join(measured.noise)}. Run again on a quieter machine for a firm number."
            )
        second = runner_up_of(winner, outcomes, self.setup.objective)
        if second is None:
            return claim, None, None
        if versus is None:
            versus = pair(self.setup, self.evaluator.side(second), side)
        if isinstance(versus, str):
            notes.append(f"The winner vs the runner-up could not be measured: {versus}")
            return claim, second, None
        if versus.ci_low <= 1.0 <= versus.ci_high:
            notes.append(
                f"The winner and the runner-up ({second.candidate.label}) are tied within the "
                f"noise: {versus.text()} measured paired."
            )
        return claim, second, versus


def _prepare_out_dir(out: Path) -> Path:
    markers = (MANIFEST_NAME, ".work", "report.html", "candidates")
    foreign = not any((out / m).exists() for m in markers)
    if out.exists() and any(out.iterdir()) and foreign:
        raise UserError(
            f"Output folder {str(out)!r} exists and is not an hwfit output.",
            hint="Pass an empty or new folder with --out.",
        )
    out.mkdir(parents=True, exist_ok=True)
    return out


def _open_store(db: str | None) -> ResultStore:
    from hwfit.db import ResultStore  # sqlalchemy: only when storing

    return ResultStore(db, writable=True)  # a read-only database fails before measuring


def _preprocess(artifact: ModelArtifact, overrides: str | None) -> Preprocess:
    pre = preprocess_for(artifact, artifact.info.input.shape)
    if overrides:
        pre = Preprocess.parse(overrides, base=pre)
    return pre


def _load_data(request: _Request, pre: Preprocess) -> tuple[Dataset, Dataset]:
    def sizes(available: int) -> tuple[int, int]:
        val = request.val_size
        val = val if val is not None else min(500, max(1, available // 2))
        calib = request.calib_size
        calib = calib if calib is not None else min(300, max(1, available - val))
        return calib, val

    calib, val = sizes(count_samples(request.data))
    dataset = load_dataset(request.data, pre, limit=calib + val, strict=request.strict_data)
    if len(dataset) < calib + val:  # unreadable images were skipped: share what is left
        calib, val = sizes(len(dataset))
    return split(dataset, calib, val)
