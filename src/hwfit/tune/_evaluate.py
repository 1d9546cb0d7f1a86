"""Measure the FP32 reference, then prepare, measure and accuracy-check each candidate."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from hwfit.accuracy.metrics import fidelity, topk_accuracy
from hwfit.bench import spawn_worker
from hwfit.errors import HwfitError, RuntimeFailure, UserError
from hwfit.models import load_model
from hwfit.precisions import RECIPES, Precision, recipe_key
from hwfit.precisions.base import PrecisionRecipe, PreparedModel
from hwfit.precisions.job import PrepareJob, prepared_from_worker, write_quant_data
from hwfit.records import Candidate, ModelInfo, Outcome, RowState, to_dict
from hwfit.tune._run import Reference, Rows, RunSetup, Side, measure_row, pair

if TYPE_CHECKING:
    from hwfit.models.artifact import ModelArtifact
    from hwfit.records import BenchResult

__all__ = ["CHECK_SAMPLES", "Evaluator", "measure_reference"]

CHECK_SAMPLES = 8  # validation inputs and the winner's outputs shipped for a self-check
_FIDELITY = {"agreement": 100.0, "cosine": 1.0, "max_abs_error": 0.0}  # the reference's own


def measure_reference(
    setup: RunSetup, rows: Rows, candidate: Candidate, notes: list[str]
) -> Reference:
    """Measure the FP32 reference and choose the metric the budget applies to.

    Raises:
        RuntimeFailure: The reference could not be measured.
        UserError: The data's labels do not fit the model's outputs.
    """
    if candidate.runtime != "torch":
        notes.append("The model is not a PyTorch model: the FP32 reference is ONNX Runtime FP32.")
    result, logits = measure_row(setup, rows, setup.artifact.info, candidate, None)
    if result.state is not RowState.COMPLETE or logits is None:
        raise RuntimeFailure(
            f"The FP32 reference ({candidate.runtime}) could not be measured: {result.reason}"
        )
    labels = setup.val.y
    if labels is None:
        metric, accuracy = "agreement", dict(_FIDELITY)
        notes.append(
            "The data has no labels: accuracy is fidelity to the FP32 reference (top-1 "
            "agreement, cosine similarity, max abs error), not correctness."
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
        metric, accuracy = "top1", topk_accuracy(logits, labels)
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
            metric, accuracy = "agreement", {**accuracy, **_FIDELITY}
    outcome = Outcome(
        candidate,
        RowState.COMPLETE,
        bench=result,
        accuracy=accuracy,
        metric=metric,
        drop=0.0,
        artifact_size_bytes=result.artifact_size_bytes,
    )
    allowed = setup.budget.allowed_drop(accuracy[metric])
    return Reference(outcome, result, logits, accuracy, metric, allowed)


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
        result, logits = measure_row(self.setup, self.rows, info, candidate, remaining_s)
        result = self._paired(info, candidate, result)
        outcome = Outcome(
            candidate,
            result.state,
            result.reason,
            bench=result,
            prepare_s=prepared.seconds,
            prepare_details={**self._source(candidate)[1], **prepared.details},
            artifact_path=str(prepared.path) if prepared.path else None,
            artifact_size_bytes=result.artifact_size_bytes,
            forced=not verdict.ok,
        )
        if result.state is not RowState.COMPLETE or logits is None:
            return outcome
        self.logits[candidate] = logits[:CHECK_SAMPLES]
        return self._checked(outcome, logits)

    def _checked(self, outcome: Outcome, logits: np.ndarray) -> Outcome:
        """``outcome`` with its accuracy, REJECTED when the drop exceeds the budget."""
        ref = self.reference
        accuracy = self._accuracy(logits)
        drop = ref.accuracy[ref.metric] - accuracy[ref.metric]
        outcome = dataclasses.replace(outcome, accuracy=accuracy, metric=ref.metric, drop=drop)
        if drop > ref.allowed + 1e-9:
            reason = (
                f"accuracy drop {drop:.2f} points on {ref.metric} > allowed {ref.allowed:.2f} "
                f"(--max-accuracy-drop {self.setup.budget_text})"
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

    def _accuracy(self, logits: np.ndarray) -> dict[str, float]:
        fid = fidelity(self.reference.logits, logits)
        acc = {
            "agreement": fid.top1_agreement,
            "cosine": fid.cosine,
            "max_abs_error": fid.max_abs_error,
        }
        if self.setup.val.y is not None:
            acc.update(topk_accuracy(logits, self.setup.val.y))
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
        job = PrepareJob(
            recipe_path=RECIPES.path(recipe_key(candidate.runtime, candidate.precision)),
            model=artifact.info,
            trust_model=artifact.trust_model,
            runtime=candidate.runtime,
            precision=candidate.precision,
            spec=spec,
            out_dir=str(folder),
            data=str(self._quant_data_path()),
            metric=self.reference.metric,
            max_drop=self.reference.allowed,
        )
        result, why = spawn_worker(
            {"task": "prepare", **to_dict(job)}, self.setup.timeout(remaining_s)
        )
        return why if result is None else prepared_from_worker(result)

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
                reference=self.reference.logits,
            )
        return path
