"""Structured channel pruning with a short fine-tune: smaller models for ``optimize`` to try.

With ``--train-data`` (labelled images, the classes of the model's outputs) ``optimize`` prunes
the PyTorch model at each ``--prune`` ratio before measuring anything else. Each ratio runs in a
worker process (a crash or a hang ends that ratio only):

1. Torch-Pruning's DepGraph (``MetaPruner``, L2 group-magnitude importance, channels rounded to
   multiples of 8 for the CPU's vector width) removes that share of the channels of every
   prunable group, the classifier's outputs left whole;
2. the pruned model is fine-tuned on the training images (preprocessed like the validation
   data, random horizontal flips), distilled from the unpruned model's outputs as well as the
   labels, for ``--prune-epochs`` epochs or ``--prune-time`` seconds, whichever ends first;
3. it is exported to ONNX (the model files ``optimize`` ships are ONNX or OpenVINO IR).

Every runtime x precision candidate is then also tried on each pruned model (the candidate's
``source``), measured and accuracy-checked against the *unpruned* FP32 reference like any
other: a pruned model that loses more than the budget is rejected, and speed comes from the
measured latency only (Torch-Pruning's own figures: 2.04x fewer MACs gave 1.35x time).
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from hwfit.bench import spawn_worker
from hwfit.errors import HwfitError, UserError, first_line
from hwfit.models import load_model
from hwfit.records import ModelInfo, Record

if TYPE_CHECKING:
    from collections.abc import Iterable

    from torch import nn

    from hwfit.models.artifact import ModelArtifact
    from hwfit.tune._run import RunSetup

__all__ = [
    "DEFAULT_RATIOS",
    "PRUNE_DETAILS",
    "PruneJob",
    "PruneResult",
    "checked_ratios",
    "parse_ratios",
    "prune_sources",
    "run_prune",
    "source_name",
]

DEFAULT_RATIOS = (0.25, 0.5)
#: The keys of :meth:`PruneResult.details` (a pruned candidate's details; the manifest's).
PRUNE_DETAILS = ("pruned_channels", "macs", "params", "fine_tune")
ROUND_TO = 8  # channels kept in multiples of 8: AVX-512 and AMX kernels work in such blocks
_BATCH = 32
_LR = 0.01  # SGD with momentum, cosine to zero: a fine-tune of trained weights, not a training
_DISTILL_T = 2.0  # temperature of the distillation from the unpruned model


def source_name(ratio: float) -> str:
    """The candidate source of one pruning ratio: ``pruned-25`` for 0.25."""
    return f"pruned-{round(ratio * 100)}"


def parse_ratios(text: str) -> tuple[float, ...]:
    """``"0.25,0.5"`` -> (0.25, 0.5).

    Raises:
        UserError: A ratio that is not a number in (0, 0.9].
    """
    values = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        try:
            values.append(float(part))
        except ValueError:
            _bad_ratio(part)
    return checked_ratios(values)


def checked_ratios(values: Iterable[float]) -> tuple[float, ...]:
    """The ratios sorted, without repeats.

    Raises:
        UserError: A ratio outside (0, 0.9] (or not a number).
    """
    for value in values:
        if not 0.0 < value <= 0.9:
            _bad_ratio(value)
    return tuple(sorted(set(values)))


def _bad_ratio(value: object) -> NoReturn:
    raise UserError(
        f"Pruning ratio {value!r} is not a share of channels in (0, 0.9].",
        hint="Give e.g. --prune 0.25,0.5 (a quarter, then half of the channels).",
    )


@dataclasses.dataclass(frozen=True)
class PruneJob(Record):
    """Prune one model at one ratio, fine-tune it and export it (the ``prune`` worker task).

    Attributes:
        model: The unpruned PyTorch model.
        trust_model: As in :class:`~hwfit.bench.jobs.RowJob`.
        ratio: Share of each prunable group's channels to remove.
        train_data: Labelled images (folder or ``.npz``).
        preprocess: ``Preprocess.to_dict()`` of the run (the training images get the same).
        max_samples: Training images used at most.
        epochs: Fine-tune epochs at most.
        seconds: Fine-tune time at most.
        out: The ONNX file to write.
    """

    model: ModelInfo
    ratio: float
    train_data: str
    preprocess: dict[str, Any]
    out: str
    trust_model: bool = False
    max_samples: int = 2000
    epochs: float = 3.0
    seconds: float = 300.0


@dataclasses.dataclass(frozen=True)
class PruneResult(Record):
    """What one pruning did (``ok``), or why it could not (``error``).

    ``user_error``: the user's data or model is at fault (with ``hint``); every ratio would
    fail alike, so the run stops.

    Attributes:
        macs / params: Of the pruned model; ``macs_before`` / ``params_before``: unpruned.
        steps: Fine-tune steps run; ``epochs``: what they came to.
        train_loss: The last epoch's mean training loss (labels and distillation).
        seconds: Pruning, fine-tune and export together.
    """

    ok: bool
    error: str | None = None
    user_error: bool = False
    hint: str | None = None
    path: str | None = None
    ratio: float = 0.0
    macs: int = 0
    macs_before: int = 0
    params: int = 0
    params_before: int = 0
    samples: int = 0
    steps: int = 0
    epochs: float = 0.0
    train_loss: float = math.nan
    seconds: float = 0.0

    def details(self) -> dict[str, str]:
        """The result for a candidate's details and the manifest, as text."""
        return {
            "pruned_channels": f"{self.ratio:.0%}",
            "macs": f"{self.macs / 1e6:.1f} M of {self.macs_before / 1e6:.1f} M",
            "params": f"{self.params / 1e6:.2f} M of {self.params_before / 1e6:.2f} M",
            "fine_tune": (
                f"{self.epochs:.2f} epochs ({self.steps} steps) on {self.samples} images, "
                f"last loss {self.train_loss:.3f}"
            ),
        }


def prune_sources(
    setup: RunSetup,
    ratios: tuple[float, ...],
    train_data: str,
    *,
    max_samples: int,
    epochs: float,
    seconds: float,
    notes: list[str],
) -> dict[str, tuple[ModelArtifact, PruneResult]]:
    """Prune the run's model at each ratio (each in a worker); source name -> (model, result).

    A ratio that fails adds a note and is left out. A model that is not a PyTorch one cannot
    be pruned: a note says so and nothing is returned.

    Raises:
        UserError: The training data cannot be used (missing, unlabelled, unreadable), as the
            first ratio's worker found; the run stops before measuring.
    """
    artifact = setup.artifact
    if not artifact.is_torch:
        notes.append(
            f"--train-data: {artifact.info.source} is not a PyTorch model, so it cannot be "
            "pruned (Torch-Pruning works on PyTorch modules); no pruned candidates."
        )
        return {}
    sources: dict[str, tuple[ModelArtifact, PruneResult]] = {}
    for ratio in ratios:
        name = source_name(ratio)
        out = setup.work / f"{name}.onnx"
        job = PruneJob(
            model=artifact.info,
            ratio=ratio,
            train_data=train_data,
            preprocess=setup.preprocess.to_dict(),
            out=str(out),
            trust_model=artifact.trust_model,
            max_samples=max_samples,
            epochs=epochs,
            seconds=seconds,
        )
        raw, why = spawn_worker({"task": "prune", **job.to_dict()}, seconds + setup.timeout_s)
        result = PruneResult(ok=False, error=why) if raw is None else PruneResult.from_dict(raw)
        if not result.ok or result.path is None:
            if result.user_error:  # the user's data: every ratio would fail alike
                raise UserError(str(result.error), hint=result.hint)
            notes.append(f"Pruning {ratio:.0%} of the channels failed: {result.error}")
            continue
        pruned = load_model(result.path, input_shape=artifact.info.input.shape)
        sources[name] = (pruned, result)
    return sources


def run_prune(job_dict: dict[str, Any]) -> dict[str, Any]:
    """The ``prune`` worker task: JSON in, JSON out (:class:`PruneResult`)."""
    job = PruneJob.from_dict({k: v for k, v in job_dict.items() if k != "task"})
    start = time.perf_counter()
    try:
        return _prune(job, start).to_dict()
    except UserError as exc:
        return PruneResult(ok=False, error=exc.message, user_error=True, hint=exc.hint).to_dict()
    except HwfitError as exc:
        return PruneResult(ok=False, error=exc.message).to_dict()
    except Exception as exc:  # Torch-Pruning or the fine-tune failed: this ratio only
        return PruneResult(ok=False, error=f"{type(exc).__name__}: {first_line(exc)}").to_dict()


def _prune(job: PruneJob, start: float) -> PruneResult:
    import copy

    import numpy as np
    import torch
    import torch_pruning as tp

    from hwfit.accuracy import Preprocess, load_dataset
    from hwfit.models.artifact import ModelArtifact
    from hwfit.models.convert import export_module_onnx

    data = load_dataset(
        job.train_data, Preprocess.from_dict(job.preprocess), limit=job.max_samples, seed=0
    )
    if data.y is None:
        raise UserError(
            f"The training data {job.train_data!r} has no labels.",
            hint="Give --train-data as a folder with one sub-folder per class (or .npz with y).",
        )
    module = ModelArtifact.from_info(job.model, trust_model=job.trust_model).torch_module()
    module = module.float().eval()
    shape = tuple(job.model.input.shape)
    example = torch.zeros((1, *shape[1:]))
    with torch.no_grad():
        n_out = int(module(example).shape[-1])
    if int(data.y.max()) >= n_out:
        raise UserError(
            f"The training data has labels up to {int(data.y.max())}, but the model has only "
            f"{n_out} outputs.",
            hint="Give --train-data with the classes the model was trained on.",
        )
    teacher = copy.deepcopy(module).eval()
    macs_before, params_before = tp.utils.count_ops_and_params(module, example)
    pruner = tp.pruner.MetaPruner(
        module,
        example,
        importance=tp.importance.GroupMagnitudeImportance(p=2),
        pruning_ratio=job.ratio,
        ignored_layers=_classifiers(module, n_out),
        round_to=ROUND_TO,
    )
    pruner.step()
    macs, params = tp.utils.count_ops_and_params(module, example)
    steps, epochs, loss = _fine_tune(
        module, teacher, np.asarray(data.x), np.asarray(data.y), job, deadline=start + job.seconds
    )
    out = Path(job.out)
    export_module_onnx(module, shape, out, name=f"{job.model.source} pruned {job.ratio:.0%}")
    return PruneResult(
        ok=True,
        path=str(out),
        ratio=job.ratio,
        macs=int(macs),
        macs_before=int(macs_before),
        params=int(params),
        params_before=int(params_before),
        samples=len(data.y),
        steps=steps,
        epochs=epochs,
        train_loss=loss,
        seconds=time.perf_counter() - start,
    )


def _classifiers(module: nn.Module, n_out: int) -> list[nn.Module]:
    """The layers that produce the class outputs: their output channels are never pruned."""
    from torch import nn

    get = getattr(module, "get_classifier", None)  # timm's models say which it is
    head = get() if callable(get) else None
    if isinstance(head, nn.Module) and any(True for _ in head.parameters()):
        return [head]
    return [
        m
        for m in module.modules()
        if (isinstance(m, nn.Linear) and m.out_features == n_out)
        or (isinstance(m, nn.Conv2d) and m.out_channels == n_out)
    ]


def _fine_tune(
    student: nn.Module,
    teacher: nn.Module,
    x: Any,
    y: Any,
    job: PruneJob,
    *,
    deadline: float,
) -> tuple[int, float, float]:
    """Fine-tune ``student`` in place: (steps, epochs, the last epoch's mean loss)."""
    import torch
    import torch.nn.functional as F

    n = len(y)
    batch = min(_BATCH, n)
    per_epoch = max(1, n // batch)  # the last partial batch is dropped: BatchNorm needs > 1
    total = max(1, round(job.epochs * per_epoch))
    optimizer = torch.optim.SGD(student.parameters(), lr=_LR, momentum=0.9, weight_decay=1e-5)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, total)
    generator = torch.Generator().manual_seed(0)
    xs, ys = torch.from_numpy(x), torch.from_numpy(y)
    step, losses = 0, [math.nan]
    student.train()
    while step < total and time.perf_counter() < deadline:
        order = torch.randperm(n, generator=generator)
        losses = []
        for first in range(0, per_epoch * batch, batch):
            if step >= total or time.perf_counter() >= deadline:
                break
            index = order[first : first + batch]
            inputs, labels = xs[index], ys[index]
            flip = torch.rand(len(index), generator=generator) < 0.5
            inputs = torch.where(flip[:, None, None, None], inputs.flip(-1), inputs)
            with torch.no_grad():
                soft = F.softmax(teacher(inputs) / _DISTILL_T, dim=-1)
            logits = student(inputs)
            distill = F.kl_div(
                F.log_softmax(logits / _DISTILL_T, dim=-1), soft, reduction="batchmean"
            )
            loss = 0.5 * F.cross_entropy(logits, labels) + 0.5 * distill * _DISTILL_T**2
            optimizer.zero_grad(set_to_none=True)
            torch.autograd.backward(loss)
            optimizer.step()
            schedule.step()
            losses.append(float(loss.detach()))
            step += 1
    student.eval()
    return step, step / per_epoch, sum(losses) / len(losses) if losses else math.nan
