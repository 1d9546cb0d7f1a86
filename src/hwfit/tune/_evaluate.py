"""Measure the FP32 reference, then prepare, measure and accuracy-check each candidate."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from hwfit.accuracy.evaluators import EvalData, EvaluatorError, Metric, Score
from hwfit.accuracy.metrics import outputs_fidelity, topk_accuracy
from hwfit.bench import spawn_worker
from hwfit.bench.serve import ServedModel
from hwfit.errors import HwfitError, InputShapeError, RuntimeFailure, UserError
from hwfit.models import load_model
from hwfit.precisions import RECIPES, Precision, recipe_key
from hwfit.precisions.base import PrecisionRecipe, PreparedModel
from hwfit.precisions.job import (
    QUANTIZER_METRICS,
    PrepareJob,
    prepared_from_worker,
    write_quant_data,
)
from hwfit.records import PERCENT_METRICS, Candidate, ModelInfo, Outcome, RowState, to_dict
from hwfit.tune._run import Reference, Rows, RunSetup, Side, measure_row, pair

if TYPE_CHECKING:
    from hwfit.models.artifact import ModelArtifact
    from hwfit.records import BenchResult

__all__ = ["CHECK_SAMPLES", "Evaluator", "eval_data", "measure_reference"]

CHECK_SAMPLES = 8  # validation inputs and the winner's outputs shipped for a self-check
_FIDELITY = {"agreement": 100.0, "cosine": 1.0, "max_abs_error": 0.0}  # the reference's own
#: A quantizer's own accuracy control cannot run a user's evaluator: it keeps top-1 agreement
#: with the FP32 outputs within this many points, and the user's metric guards the result.
PROXY_AGREEMENT_DROP = 1.0


def _amount(value: float, reference: Reference) -> str:
    """A drop as text: points for the built-in (percent) metrics, the metric's units otherwise."""
    if reference.metric in PERCENT_METRICS:
        return f"{value:.2f} points"
    return f"{value:.4g}"


def measure_reference(
    setup: RunSetup, rows: Rows, candidate: Candidate, notes: list[str]
) -> Reference:
    """Measure the FP32 reference and choose the metric the budget applies to.

    Raises:
        RuntimeFailure: The reference could not be measured.
        UserError: The data's labels do not fit the model's outputs, the chosen metric needs
            labels the data lacks, or the user's evaluator failed on the reference.
    """
    metric = setup.metric
    if metric is not None and metric.needs_labels and setup.val.y is None:
        raise UserError(
            f"The metric {metric.spec} needs labelled data, and {setup.val.source!r} has no "
            "labels.",
            hint="Give labelled data (a sub-folder per class), or --metric agreement to guard "
            "fidelity to the FP32 model.",
        )
    if candidate.runtime != "torch":
        notes.append("The model is not a PyTorch model: the FP32 reference is ONNX Runtime FP32.")
    result, outputs = measure_row(setup, rows, setup.artifact.info, candidate, None)
    if result.state is not RowState.COMPLETE or outputs is None:
        raise RuntimeFailure(
            f"The FP32 reference ({candidate.runtime}) could not be measured: {result.reason}"
        )
    logits = outputs[0]
    labels = setup.val.y
    classes = logits.ndim >= 2 and logits.shape[1] >= 2  # the first output has a class axis
    if metric is not None:
        data = eval_data(setup, None)
        try:
            scores = _scores(setup, metric, result.model, candidate, outputs, data)
        except EvaluatorError as exc:
            raise UserError(
                f"On the FP32 reference, {exc}.",
                hint="Fix the evaluator: it must return numbers for the reference model too.",
            ) from exc
        accuracy = {**dict(_FIDELITY), **{k: v.value for k, v in scores.items()}}
        direction = scores[metric.key].higher_is_better
        if setup.decoder is not None:
            notes.append(
                f"A detector: its post-processing runs {setup.decoder.postprocess} (the "
                "artifact ships it as detection.npz)."
            )
        if setup.decoder is not None and data.annotations is None:
            notes.append(
                f"No COCO annotations: {metric.key} is label-free, against the FP32 detector's "
                "own detections scoring 0.3 or more (the FP32 model scores 100)."
            )
        if not metric.from_outputs:
            way = "higher" if direction else "lower"
            notes.append(
                f"Accuracy is {metric.key} ({way} is better) from your evaluator {metric.spec}; "
                f"the budget {setup.budget_text} is in its units."
            )
        return _reference(setup, candidate, result, outputs, accuracy, metric.key, direction)
    if not classes:
        raise UserError(
            f"The model's output is shaped {logits.shape[1:]} per sample, with no class axis: "
            "neither top-1 nor agreement with the FP32 model applies to it.",
            hint="Guard it with your own metric: --metric module:function (see the README).",
        )
    several = f" (for each of its {len(outputs)} outputs)" if len(outputs) > 1 else ""
    if labels is not None and logits.ndim > 2:
        notes.append(
            f"The model's first output is a map shaped {logits.shape[1:]} per sample, not one "
            "score per class: the labels are not used. Accuracy is fidelity to the FP32 "
            f"reference{several}; --metric module:function guards it with your own metric."
        )
        labels = None
        metric_key, accuracy = "agreement", dict(_FIDELITY)
    elif labels is None:
        metric_key, accuracy = "agreement", dict(_FIDELITY)
        notes.append(
            "The data has no labels: accuracy is fidelity to the FP32 reference (top-1 "
            f"agreement, cosine similarity, max abs error{several}), not correctness."
        )
    else:
        n_out = logits.shape[1]
        if int(labels.max()) >= n_out:
            raise UserError(
                f"The data has labels up to {int(labels.max())}, but the model has only "
                f"{n_out} outputs.",
                hint="Use a model whose classifier matches the data's classes (--weights), "
                "or unlabelled data (a flat folder) to measure fidelity instead.",
            )
        metric_key, accuracy = "top1", topk_accuracy(logits, labels)
        chance = 100.0 / max(2, len(np.unique(labels)))
        if accuracy["top1"] <= chance:
            # Labels a model was not trained for say nothing about what quantization costs;
            # agreement with the FP32 reference still does.
            notes.append(
                f"The FP32 reference scores {accuracy['top1']:.1f}% top-1 on this data, no "
                f"better than chance ({chance:.1f}%): the model was not trained for these "
                "labels (random weights? pass --weights). The budget is applied to top-1 "
                "agreement with the FP32 reference instead."
            )
            metric_key, accuracy = "agreement", {**accuracy, **_FIDELITY}
    return _reference(setup, candidate, result, outputs, accuracy, metric_key, True)


def _reference(
    setup: RunSetup,
    candidate: Candidate,
    result: BenchResult,
    outputs: tuple[np.ndarray, ...],
    accuracy: dict[str, float],
    metric: str,
    higher_is_better: bool,
) -> Reference:
    outcome = Outcome(
        candidate,
        RowState.COMPLETE,
        bench=result,
        accuracy=accuracy,
        metric=metric,
        drop=0.0,
        artifact_size_bytes=result.artifact_size_bytes,
    )
    value = accuracy[metric]
    if not math.isfinite(value):
        raise UserError(
            f"The FP32 reference scores {value} on {metric}: no budget can be applied to it.",
            hint="Fix the metric: it must give the unoptimized model a finite number.",
        )
    allowed = setup.budget.allowed_drop(abs(value))
    return Reference(
        outcome, result, outputs[0], accuracy, metric, allowed, higher_is_better, outputs
    )


def eval_data(setup: RunSetup, reference: np.ndarray | tuple[np.ndarray, ...] | None) -> EvalData:
    """The validation split as a metric sees it (``reference``: the FP32 outputs, if known)."""
    val = setup.val
    return EvalData(
        x=val.x,
        y=val.y,
        classes=val.classes,
        path=Path(val.source) if val.source else None,
        reference=reference,
        image_ids=val.image_ids,
        image_sizes=val.image_sizes,
        annotations=Path(val.annotations) if val.annotations else None,
        decoder=setup.decoder,
        masks=val.masks,
    )


def _scores(
    setup: RunSetup,
    metric: Metric,
    info: ModelInfo,
    candidate: Candidate,
    outputs: tuple[np.ndarray, ...],
    data: EvalData,
) -> dict[str, Score]:
    """``metric`` on one model: from its measured outputs, or through a served predictor.

    Raises:
        EvaluatorError: The metric, or the model it ran, failed (its first line).
    """
    if metric.from_outputs:
        try:
            return metric.score(outputs[0] if len(outputs) == 1 else outputs, data)
        except HwfitError as exc:
            raise EvaluatorError(f"the metric {metric.spec} failed: {exc.message}") from exc
    served = ServedModel(
        info,
        setup.config(candidate),
        trust_model=setup.artifact.trust_model,
        timeout_s=setup.timeout_s,
        label=candidate.label,
    )
    with served:
        try:
            return metric.evaluate(served, data)
        except HwfitError as exc:  # the predictor's own errors (a crash, a wrong shape)
            if isinstance(exc, UserError) and not isinstance(exc, InputShapeError):
                raise  # the evaluator's contract broken (no key chosen): the run stops
            raise EvaluatorError(f"the evaluator {metric.spec} failed: {exc.message}") from exc


class Evaluator:
    """Prepares, measures and accuracy-checks candidates against one :class:`Reference`.

    Prepared models are cached by ``(runtime, precision, batch, source)``: candidates that
    differ in threads only share one file. ``sources`` holds the models other than the user's
    that candidates may run (pruned ones, :mod:`hwfit.tune.prune`), with their details.
    """

    def __init__(self, setup: RunSetup, rows: Rows, reference: Reference) -> None:
        self.setup = setup
        self.rows = rows
        self.reference = reference
        self.prepared: dict[tuple[str, str, int, str], tuple[PreparedModel, ModelInfo]] = {}
        self.sources: dict[str, tuple[ModelArtifact, dict[str, str]]] = {}
        self.logits: dict[Candidate, np.ndarray] = {}  # the first outputs, for the self-check
        self._outcomes: dict[Candidate, Outcome] = {}

    def side(self, outcome: Outcome) -> Side:
        """The model and run configuration a measured outcome ran."""
        c = outcome.candidate
        _, info = self.prepared[(c.runtime, c.precision, c.batch, c.source)]
        return info, self.setup.config(c)

    def evaluate(self, candidate: Candidate, *, force: bool, remaining_s: float | None) -> Outcome:
        """Prepare, measure and accuracy-check one candidate."""
        if candidate.precision == "int8-mixed":
            plain = self._outcomes.get(dataclasses.replace(candidate, precision="int8"))
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
        self._outcomes[candidate] = outcome
        return outcome

    def _evaluate(
        self, candidate: Candidate, *, force: bool, remaining_s: float | None
    ) -> Outcome:
        recipe = RECIPES.load(recipe_key(candidate.runtime, candidate.precision))(
            candidate.runtime, Precision(candidate.precision)
        )
        verdict = recipe.applicable(self.setup.hardware)
        if not verdict.ok and not force:
            return Outcome(candidate, RowState.SKIPPED, f"{verdict.reason} (--force measures it)")
        prepared_or_why = self._prepare(recipe, candidate, remaining_s)
        if isinstance(prepared_or_why, str):
            return Outcome(candidate, RowState.FAILED, f"preparing failed: {prepared_or_why}")
        prepared, info = prepared_or_why
        result, outputs = measure_row(self.setup, self.rows, info, candidate, remaining_s)
        result = self._paired(info, candidate, result)
        outcome = Outcome(
            candidate,
            result.state,
            result.reason,
            bench=result,
            prepare_s=prepared.seconds,
            prepare_details={
                **self._source(candidate)[1],
                **prepared.details,
                **self._proxy_detail(recipe),
            },
            artifact_path=str(prepared.path) if prepared.path else None,
            artifact_size_bytes=result.artifact_size_bytes,
            forced=not verdict.ok,
        )
        if result.state is not RowState.COMPLETE or outputs is None:
            return outcome
        self.logits[candidate] = outputs[0][:CHECK_SAMPLES]
        return self._checked(outcome, info, outputs)

    def _checked(
        self, outcome: Outcome, info: ModelInfo, outputs: tuple[np.ndarray, ...]
    ) -> Outcome:
        """``outcome`` with its accuracy, REJECTED when the drop exceeds the budget.

        A metric that fails on this candidate (a user's evaluator raising) fails it alone.
        """
        ref = self.reference
        try:
            accuracy = self._accuracy(outcome.candidate, info, outputs)
        except UserError as exc:  # outputs that cannot be compared (another shape, say)
            return dataclasses.replace(outcome, state=RowState.FAILED, reason=exc.message)
        except EvaluatorError as exc:
            return dataclasses.replace(outcome, state=RowState.FAILED, reason=str(exc))
        drop = ref.drop(accuracy)
        outcome = dataclasses.replace(outcome, accuracy=accuracy, metric=ref.metric, drop=drop)
        if not drop <= ref.allowed + 1e-9:  # NaN fails too
            reason = (
                f"accuracy drop {_amount(drop, ref)} on {ref.metric} > allowed "
                f"{_amount(ref.allowed, ref)} (--max-accuracy-drop {self.setup.budget_text})"
            )
            return dataclasses.replace(outcome, state=RowState.REJECTED, reason=reason)
        return outcome

    def _paired(self, info: ModelInfo, candidate: Candidate, result: BenchResult) -> BenchResult:
        """``result`` with its speed-up over the baseline, measured paired (both in one worker)."""
        if result.state is not RowState.COMPLETE:
            return result
        figure = pair(self.setup, self.reference.side, (info, self.setup.config(candidate)))
        if isinstance(figure, str):
            return dataclasses.replace(result, speedup_reason=figure)
        return dataclasses.replace(result, speedup=figure)

    def _accuracy(
        self, candidate: Candidate, info: ModelInfo, outputs: tuple[np.ndarray, ...]
    ) -> dict[str, float]:
        """Fidelity of every output to the FP32 outputs always; then the run's metric.

        Raises:
            EvaluatorError: The metric failed on this candidate.
            UserError: Outputs that cannot be compared with the reference's.
        """
        ref = self.reference
        acc = outputs_fidelity(ref.outputs, outputs, self.setup.class_axis)
        logits = outputs[0]
        metric = self.setup.metric
        if metric is None:
            if "top1" in ref.accuracy and self.setup.val.y is not None:
                acc.update(topk_accuracy(logits, self.setup.val.y))
            return acc
        data = eval_data(self.setup, ref.logits if len(ref.outputs) < 2 else ref.outputs)
        scores = _scores(self.setup, metric, info, candidate, outputs, data)
        if metric.key not in scores:
            raise EvaluatorError(f"the evaluator {metric.spec} returned no {metric.key!r}")
        acc.update({k: v.value for k, v in scores.items()})
        return acc

    def _prepare(
        self, recipe: PrecisionRecipe, candidate: Candidate, remaining_s: float | None
    ) -> tuple[PreparedModel, ModelInfo] | str:
        """The candidate's model, prepared once per runtime, precision and batch; str: why not."""
        key = (candidate.runtime, candidate.precision, candidate.batch, candidate.source)
        if key not in self.prepared:
            name = f"{candidate.runtime}-{candidate.precision}-b{candidate.batch}"
            folder = (
                self.setup.out_dir
                / "candidates"
                / "-".join(filter(None, (name, candidate.source)))
            )
            folder.mkdir(parents=True, exist_ok=True)
            spec = self.setup.artifact.info.input.with_batch(candidate.batch)
            prepared = self._run_recipe(recipe, candidate, folder, remaining_s)
            if isinstance(prepared, str):
                return prepared
            if prepared.path is None:
                info = self._source(candidate)[0].info
            else:
                info = load_model(str(prepared.path), input_shape=spec.shape).info
            self.prepared[key] = (prepared, info)
        return self.prepared[key]

    def _run_recipe(
        self,
        recipe: PrecisionRecipe,
        candidate: Candidate,
        folder: Path,
        remaining_s: float | None,
    ) -> PreparedModel | str:
        """Prepare in-process (float recipes) or in a worker (quantizers); str = failure."""
        artifact, _ = self._source(candidate)
        spec = artifact.info.input.with_batch(candidate.batch)
        if not recipe.needs_calibration:  # conversions only: cached, in-process
            try:
                return recipe.prepare(artifact, spec, folder, None)
            except HwfitError as exc:
                return exc.message
        metric, max_drop = self._quantizer_metric()
        job = PrepareJob(
            recipe_path=RECIPES.path(recipe_key(candidate.runtime, candidate.precision)),
            model=artifact.info,
            trust_model=artifact.trust_model,
            runtime=candidate.runtime,
            precision=candidate.precision,
            spec=spec,
            out_dir=str(folder),
            data=str(self._quant_data_path()),
            metric=metric,
            max_drop=max_drop,
            class_axis=self.setup.class_axis,
            annotations=self.setup.val.annotations,
        )
        result, why = spawn_worker(
            {"task": "prepare", **to_dict(job)}, self.setup.timeout(remaining_s)
        )
        return why if result is None else prepared_from_worker(result)

    def _quantizer_metric(self) -> tuple[str, float]:
        """The metric a quantizer's own accuracy control keeps, and by how much.

        Top-1/top-5 and agreement are computed from outputs there too; a user's metric is not:
        the quantizer then keeps agreement with FP32 within :data:`PROXY_AGREEMENT_DROP`.
        """
        ref = self.reference
        if ref.metric in QUANTIZER_METRICS:
            return ref.metric, ref.allowed
        return "agreement", PROXY_AGREEMENT_DROP

    def _proxy_detail(self, recipe: PrecisionRecipe) -> dict[str, str]:
        """Say so when a quantizer's accuracy control kept agreement instead of the metric."""
        if not recipe.needs_validation or self.reference.metric in QUANTIZER_METRICS:
            return {}
        return {
            "accuracy_control_metric": f"top-1 agreement with FP32 within "
            f"{PROXY_AGREEMENT_DROP:g} point (the quantizer cannot run "
            f"{self.reference.metric}; the budget on it is checked afterwards)"
        }

    def _source(self, candidate: Candidate) -> tuple[ModelArtifact, dict[str, str]]:
        """The model ``candidate`` runs, and what was done to it (empty: the user's model)."""
        if not candidate.source:
            return self.setup.artifact, {}
        return self.sources[candidate.source]

    def _quant_data_path(self) -> Path:
        """The arrays a quantizer may need, written once for the prepare workers."""
        path = self.setup.work / "quant_data.npz"
        if not path.exists():
            write_quant_data(
                path,
                calibration=self.setup.calib.x,
                validation=self.setup.val.x,
                labels=self.setup.val.y,
                reference=self.reference.outputs or self.reference.logits,
                image_ids=self.setup.val.image_ids,
                image_sizes=self.setup.val.image_sizes,
            )
        return path
