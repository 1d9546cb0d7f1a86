"""Short training of candidate architectures, and successive halving over many of them.

Search ranks candidates by accuracy after a short, fixed training recipe (the same for every
candidate, so the ranking is fair even when the absolute numbers are far from converged).
:func:`train_and_evaluate` trains one model on :class:`~hwfit.nas.data.TrainData` with SGD
(Nesterov momentum), label smoothing, a linear warm-up then cosine decay to zero, and light
augmentation on tensors (random crop with padding, horizontal flip); it then reports top-1 on
the validation split. :func:`successive_halving` spends a budget on many candidates at once:
all get ``min_epochs``, the best ``1/eta`` get ``eta`` times more, and so on.

Runs are deterministic for a seed on one machine and thread count (PyTorch's CPU kernels are);
the caller chooses the thread count (``torch.set_num_threads``).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Callable, Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hwfit.errors import UserError, first_line
from hwfit.nas.data import TrainData
from hwfit.records.progress import Progress, ProgressEvent

__all__ = [
    "Rung",
    "TrainRecipe",
    "TrainResult",
    "TrainStep",
    "augment",
    "evaluate",
    "successive_halving",
    "train_and_evaluate",
]

logger = logging.getLogger(__name__)

_EVAL_BATCH = 256


@dataclasses.dataclass(frozen=True)
class TrainRecipe:
    """How a candidate is trained: the same recipe for every candidate of a comparison.

    Attributes:
        epochs: Passes over the training set; fractions allowed (0.5 = half the batches).
        batch_size: Samples per step.
        lr: Peak learning rate (reached after the warm-up).
        momentum: SGD momentum (Nesterov).
        weight_decay: L2 penalty on weights (not on biases and normalisation parameters).
        label_smoothing: Cross-entropy label smoothing.
        augment: Random crop (padding 1/8 of the edge) and horizontal flip per sample.
        seed: Seed of the weight initialisation (in :func:`successive_halving`), the batch order
            and the augmentation.
        warmup_fraction: Share of the steps spent ramping the learning rate up linearly from
            zero; the rest follows a cosine down to zero.
    """

    epochs: float
    batch_size: int = 64
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    label_smoothing: float = 0.1
    augment: bool = True
    seed: int = 0
    warmup_fraction: float = 0.1

    def __post_init__(self) -> None:
        if not (math.isfinite(self.epochs) and self.epochs > 0):
            raise UserError(f"Training epochs must be positive, got {self.epochs}.")
        if self.batch_size < 1:
            raise UserError(f"Batch size must be at least 1, got {self.batch_size}.")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise UserError(f"Learning rate must be positive, got {self.lr}.")
        if not 0.0 <= self.momentum < 1.0 or self.weight_decay < 0:
            raise UserError(
                f"Momentum must lie in [0, 1) and weight decay be >= 0, got {self.momentum} "
                f"and {self.weight_decay}."
            )
        if not 0.0 <= self.label_smoothing < 1.0 or not 0.0 <= self.warmup_fraction < 1.0:
            raise UserError(
                f"label_smoothing and warmup_fraction must lie in [0, 1), got "
                f"{self.label_smoothing} and {self.warmup_fraction}."
            )


@dataclasses.dataclass(frozen=True)
class TrainResult:
    """The outcome of one short training.

    Attributes:
        top1: Validation top-1 accuracy in percent (0-100); NaN when the training failed.
        loss: Validation cross-entropy (no label smoothing); NaN when it diverged or failed.
        epochs: Epochs actually trained (less than asked when the time limit stopped it).
        seconds: Wall time of training plus evaluation.
        error: Why the training failed (the exception's first line), or None.
    """

    top1: float
    loss: float
    epochs: float
    seconds: float
    error: str | None = None

    @property
    def ok(self) -> bool:
        """True when the training ran and gave a finite accuracy."""
        return self.error is None and math.isfinite(self.top1)


@dataclasses.dataclass(frozen=True)
class TrainStep:
    """What one training step reports (the ``result`` of its progress event).

    Attributes:
        epochs: Epochs done so far (fractional).
        loss: Running (exponentially averaged) training loss.
    """

    epochs: float
    loss: float


@dataclasses.dataclass(frozen=True)
class Rung:
    """One budget level of successive halving.

    Attributes:
        index: 0 for the first (smallest) rung.
        epochs: Epochs every candidate of this rung was trained for (from scratch).
        results: Candidate key -> its result, for every candidate trained at this rung.
        ranking: The keys best first (top-1, then lower loss, then key); failures last.
        promoted: The keys trained at the next rung (empty for the last rung).
    """

    index: int
    epochs: float
    results: dict[str, TrainResult]
    ranking: tuple[str, ...]
    promoted: tuple[str, ...]

    @property
    def epochs_spent(self) -> float:
        """Epochs trained in this rung, all candidates together."""
        return sum(r.epochs for r in self.results.values())


def train_and_evaluate(
    model: nn.Module,
    data: TrainData,
    recipe: TrainRecipe,
    *,
    time_limit_s: float | None = None,
    progress: Progress | None = None,
) -> TrainResult:
    """Train ``model`` in place with ``recipe`` and return its validation accuracy.

    The model is trained on ``data.x_train`` at the data's resolution (resize the data with
    :meth:`TrainData.at_resolution` for a candidate with another input size), then evaluated on
    ``data.x_val`` in eval mode. A diverging run (non-finite loss) stops at once and is evaluated
    as it is. The global RNG state is left as it was.

    Args:
        model: A classifier with ``data.num_classes`` outputs (random initialisation).
        data: Training and validation tensors.
        recipe: The recipe; ``recipe.epochs`` may be fractional.
        time_limit_s: Stop training after this many seconds (the result's ``epochs`` says how
            far it got); the evaluation still runs.
        progress: Called after every step with a ``ProgressEvent(command="search",
            phase="train", done=steps, total=planned steps)`` whose ``result`` is a
            :class:`TrainStep` (epochs done, running training loss).

    Returns:
        Validation top-1 (percent), validation loss, epochs trained and seconds taken.

    Raises:
        UserError: The model's output does not have ``data.num_classes`` classes.
    """
    start = time.perf_counter()
    deadline = None if time_limit_s is None else start + time_limit_s
    steps, steps_per_epoch = _fit(model, data, recipe, deadline, progress)
    top1, val_loss = evaluate(model, data)
    return TrainResult(
        top1=top1,
        loss=val_loss,
        epochs=steps / steps_per_epoch,
        seconds=time.perf_counter() - start,
    )


def _fit(
    model: nn.Module,
    data: TrainData,
    recipe: TrainRecipe,
    deadline: float | None,
    progress: Progress | None,
) -> tuple[int, int]:
    """The training loop of :func:`train_and_evaluate`: ``(steps done, steps per epoch)``."""
    n = len(data.y_train)
    batch = min(recipe.batch_size, n)
    steps_per_epoch = max(1, n // batch)  # drop the last partial batch: BatchNorm needs > 1
    total_steps = max(1, round(recipe.epochs * steps_per_epoch))
    warmup = round(recipe.warmup_fraction * total_steps)
    optimizer = torch.optim.SGD(
        _param_groups(model, recipe.weight_decay),
        lr=recipe.lr,
        momentum=recipe.momentum,
        nesterov=recipe.momentum > 0,
    )
    generator = torch.Generator().manual_seed(recipe.seed)
    step, running = 0, math.nan
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(recipe.seed)  # dropout / drop-path draws
        model.train()
        while step < total_steps:
            order = torch.randperm(n, generator=generator)
            for first in range(0, steps_per_epoch * batch, batch):
                if step >= total_steps:
                    break
                if deadline is not None and time.perf_counter() > deadline:
                    total_steps = step  # out of time: evaluate what we have
                    break
                index = order[first : first + batch]
                x, y = data.x_train[index], data.y_train[index]
                if recipe.augment:
                    x = augment(x, generator)
                for group in optimizer.param_groups:
                    group["lr"] = _lr_at(step, total_steps, warmup, recipe.lr)
                logits = model(x)
                _check_outputs(logits, data.num_classes)
                loss = F.cross_entropy(logits, y, label_smoothing=recipe.label_smoothing)
                value = float(loss.detach())
                if not math.isfinite(value):
                    logger.info("Training diverged at step %d (loss %s); stopping.", step, value)
                    total_steps = step
                    break
                optimizer.zero_grad(set_to_none=True)
                torch.autograd.backward(loss)
                optimizer.step()
                step += 1
                running = value if step == 1 else 0.9 * running + 0.1 * value
                if progress is not None:
                    done = TrainStep(epochs=step / steps_per_epoch, loss=running)
                    progress(ProgressEvent("search", "train", step, total_steps, result=done))
    return step, steps_per_epoch


@torch.no_grad()
def evaluate(model: nn.Module, data: TrainData) -> tuple[float, float]:
    """Return (top-1 in percent, mean cross-entropy) of ``model`` on the validation split.

    The model is put in eval mode.
    """
    model.eval()
    correct, total_loss = 0, 0.0
    for x, y in zip(
        torch.split(data.x_val, _EVAL_BATCH), torch.split(data.y_val, _EVAL_BATCH), strict=True
    ):
        logits = model(x)
        _check_outputs(logits, data.num_classes)
        total_loss += float(F.cross_entropy(logits, y, reduction="sum"))
        correct += int((logits.argmax(dim=1) == y).sum())
    n = len(data.y_val)
    return 100.0 * correct / n, total_loss / n


def augment(x: Tensor, generator: torch.Generator) -> Tensor:
    """Random crop (zero padding of 1/8 of the edge) and horizontal flip, per sample.

    Zero is the mean color of normalised inputs, so the padding is neutral gray.

    Args:
        x: Normalised inputs ``(N, C, H, W)``.
        generator: Source of the random draws (for reproducibility).

    Returns:
        A new tensor of the same shape.
    """
    n, c, h, w = x.shape
    pad = max(1, min(h, w) // 8)
    padded = F.pad(x, (pad, pad, pad, pad))
    top = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
    left = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
    rows = (top[:, None] + torch.arange(h)[None, :])[:, None, :, None]
    cols = (left[:, None] + torch.arange(w)[None, :])[:, None, None, :]
    out = padded[
        torch.arange(n)[:, None, None, None], torch.arange(c)[None, :, None, None], rows, cols
    ]
    flip = torch.rand(n, generator=generator) < 0.5
    return torch.where(flip[:, None, None, None], out.flip(3), out)


def successive_halving(
    candidates: Mapping[str, Callable[[], nn.Module]],
    data: TrainData | Callable[[str], TrainData],
    *,
    min_epochs: float,
    eta: int = 3,
    rungs: int = 3,
    recipe: TrainRecipe | None = None,
    resolutions: Mapping[str, int] | None = None,
    on_result: Callable[[int, str, TrainResult], None] | None = None,
    progress: Progress | None = None,
) -> list[Rung]:
    """Train many candidates briefly, the best ``1/eta`` of them longer, and so on.

    Rung ``i`` trains each surviving candidate **from scratch** for ``min_epochs * eta**i``
    epochs (a fresh model from its factory, initialised with ``recipe.seed``), so every result
    of a rung comes from the same complete recipe (warm-up and cosine to zero) and compares
    fairly; this costs about a third more than continuing the previous rung's weights. The
    best ``ceil(n / eta)`` candidates of a rung (by top-1, then lower validation loss, then
    key) go on to the next; a candidate whose factory or training raises is recorded as failed
    (NaN top-1, with the error) and ranked last. Rungs stop early when none is left to train.

    Args:
        candidates: Key -> factory of a fresh, randomly initialised model.
        data: The training data (at its loaded resolution unless ``resolutions`` says), or a
            function giving each candidate key's data (e.g. at the candidate's resolution).
        min_epochs: Epochs of the first rung (fractions allowed, e.g. 0.5).
        eta: Promotion ratio (>= 2): keep the best 1/eta, train them eta times longer.
        rungs: Number of budget levels (>= 1).
        recipe: Everything but the epochs (which each rung sets); ``TrainRecipe(min_epochs)``
            by default.
        resolutions: Key -> input resolution of that candidate (``data`` is resized to it).
        on_result: Called after each training with (rung index, key, result), e.g. to store it.
        progress: Called before each training and at the end with a
            ``ProgressEvent(command="search", phase="train", done=trainings done,
            total=trainings planned, label=key, note=...)``; the plan assumes every rung
            promotes ``ceil(n / eta)``; the last event has ``done == total`` and note "done".

    Returns:
        The rungs, first to last.

    Raises:
        UserError: No candidates, ``eta < 2``, ``rungs < 1`` or ``min_epochs <= 0``.
    """
    _check_halving(len(candidates), eta, rungs, min_epochs)
    base = recipe or TrainRecipe(epochs=min_epochs)
    alive = list(candidates)
    planned, done = _planned(len(alive), eta, rungs), 0
    out: list[Rung] = []
    for index in range(rungs):
        epochs = min_epochs * eta**index
        rung_recipe = dataclasses.replace(base, epochs=epochs)
        results: dict[str, TrainResult] = {}
        for key in alive:
            if progress is not None:
                note = f"rung {index} ({epochs:g} epochs): {key}"
                progress(ProgressEvent("search", "train", done, planned, label=key, note=note))
            key_data = data if isinstance(data, TrainData) else data(key)
            size = (resolutions or {}).get(key)
            rung_data = key_data.at_resolution(size) if size else key_data
            results[key] = _train_one(candidates[key], rung_data, rung_recipe)
            done += 1
            result = results[key]
            logger.info("Rung %d (%.2g epochs) %s: %s", index, epochs, key, _summary(result))
            if on_result is not None:
                on_result(index, key, results[key])
        keep = 0 if index == rungs - 1 else math.ceil(len(alive) / eta)
        out.append(_rung(index, epochs, results, keep))
        alive = list(out[-1].promoted)
        if not alive:
            break
    if progress is not None:
        progress(ProgressEvent("search", "train", done, done, note="done"))
    return out


# --- helpers -------------------------------------------------------------------------------


def _check_halving(n: int, eta: int, rungs: int, min_epochs: float) -> None:
    if not n:
        raise UserError("Successive halving needs at least one candidate.")
    if eta < 2 or rungs < 1:
        raise UserError(f"Successive halving needs eta >= 2 and rungs >= 1, got {eta}, {rungs}.")
    if not (math.isfinite(min_epochs) and min_epochs > 0):
        raise UserError(f"min_epochs must be positive, got {min_epochs}.")


def _summary(result: TrainResult) -> str:
    return f"top-1 {result.top1:.1f}% in {result.seconds:.0f} s"


def _planned(n: int, eta: int, rungs: int) -> int:
    """Trainings planned when every rung promotes ``ceil(n / eta)`` of ``n``."""
    planned = 0
    for _ in range(rungs):
        planned, n = planned + n, math.ceil(n / eta)
    return planned


def _rung(index: int, epochs: float, results: dict[str, TrainResult], keep: int) -> Rung:
    """The rung of ``results``: ranked, its best ``keep`` successful keys promoted."""
    ranking = tuple(sorted(results, key=lambda k: _rank_key(k, results[k])))
    promoted = tuple(k for k in ranking if results[k].ok)[:keep]
    return Rung(index, epochs, results, ranking, promoted)


def _train_one(
    factory: Callable[[], nn.Module], data: TrainData, recipe: TrainRecipe
) -> TrainResult:
    start = time.perf_counter()
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(recipe.seed)
            model = factory()
        return train_and_evaluate(model, data, recipe)
    except Exception as exc:  # one candidate fails; the others go on (recorded with the error)
        logger.warning("Candidate training failed: %s", first_line(exc))
        return TrainResult(
            top1=math.nan,
            loss=math.nan,
            epochs=0.0,
            seconds=time.perf_counter() - start,
            error=first_line(exc),
        )


def _rank_key(key: str, result: TrainResult) -> tuple[int, float, float, str]:
    if not result.ok:
        return (1, 0.0, 0.0, key)
    loss = result.loss if math.isfinite(result.loss) else math.inf
    return (0, -result.top1, loss, key)


def _param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, object]]:
    """Weight decay on weight matrices and kernels only (not biases or norm scales)."""
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim > 1]
    rest = [p for p in model.parameters() if p.requires_grad and p.ndim <= 1]
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": rest, "weight_decay": 0.0},
    ]


def _lr_at(step: int, total: int, warmup: int, peak: float) -> float:
    """Linear warm-up over ``warmup`` steps, then cosine from ``peak`` to zero at ``total``."""
    if step < warmup:
        return peak * (step + 1) / (warmup + 1)
    span = max(1, total - warmup)
    return 0.5 * peak * (1.0 + math.cos(math.pi * (step - warmup) / span))


def _check_outputs(logits: Tensor, num_classes: int) -> None:
    if logits.ndim != 2 or logits.shape[1] != num_classes:
        raise UserError(
            f"The model outputs {tuple(logits.shape)}; training needs (batch, {num_classes}) "
            "class scores.",
            hint=f"Build the model with num_classes={num_classes}.",
        )
