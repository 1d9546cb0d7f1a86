"""The accuracy-proxy contract, and the model handling every proxy shares.

A proxy scores an untrained (or partly trained) network from one mini-batch, without training
it, so that a search can rank thousands of candidates for the price of a few forward passes.
"""

from __future__ import annotations

import abc
import contextlib
import copy
from collections.abc import Iterator
from typing import ClassVar

import torch
from torch import Tensor, nn

from hwfit.errors import InputShapeError

__all__ = [
    "WEIGHT_LAYERS",
    "AccuracyProxy",
    "batchnorm_train_mode",
    "check_batch",
    "cross_entropy_gradients",
    "gradients",
    "layer_weights",
    "logits_of",
    "preserved_modes",
    "working_copy",
]

#: The layers whose weights the gradient-based proxies sum over (timm's Conv2dSame and
#: ScaledStdConv2d subclass ``nn.Conv2d``, so they count too).
WEIGHT_LAYERS: tuple[type[nn.Module], ...] = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)


class AccuracyProxy(abc.ABC):
    """A training-free estimate of how accurate a network will be once trained.

    Contract:
        * ``score()`` returns one float where **higher means predicted more accurate**. Each
          proxy documents what its number means; ``params`` and ``flops`` are the classic
          "bigger is better" baselines every other proxy must beat.
        * It never trains and never changes the caller's model: parameters, buffers (BatchNorm
          running statistics included), ``.grad``, ``requires_grad`` and every module's
          ``training`` flag are as they were. Proxies that need to modify weights or run
          BatchNorm in training mode work on :func:`working_copy`.
        * It is deterministic: the same model, batch and ``seed`` give the same score. Dropout
          and drop-path are off while scoring; randomness a proxy draws comes from a generator
          seeded with ``seed``, never from (or into) torch's global generator.
        * A degenerate network may score ``-inf`` (NASWOT when every input gets the same
          activation pattern, synflow when a layer is all zeros); a proxy never returns NaN on
          purpose, and raises when it cannot score a model (``score_all`` records that as NaN).

    Args:
        seed: Seeds the randomness the proxy draws (Gaussian inputs, re-initialisation).
    """

    name: ClassVar[str]  # registry key, e.g. "synflow"

    def __init__(self, *, seed: int = 0) -> None:
        self.seed = seed

    @abc.abstractmethod
    def score(self, model: nn.Module, inputs: Tensor, targets: Tensor) -> float:
        """Score ``model`` on one mini-batch.

        Args:
            model: The candidate network, on the same device as ``inputs``; left unchanged.
            inputs: A mini-batch ``(N, ...)`` of the user's data at the candidate's resolution.
            targets: Class indices ``(N,)``, integer dtype.

        Returns:
            The score; higher means predicted more accurate.

        Raises:
            InputShapeError: ``inputs`` and ``targets`` do not form a batch.
            UnsupportedModelError: The proxy cannot score this kind of model (it says why).
        """

    def __repr__(self) -> str:
        return f"{type(self).__name__}(seed={self.seed})"


def check_batch(inputs: Tensor, targets: Tensor) -> None:
    """Check that ``inputs`` and ``targets`` form a classification mini-batch.

    Raises:
        InputShapeError: A shape or dtype does not fit.

    Example:
        >>> check_batch(torch.zeros(4, 3, 8, 8), torch.zeros(4, dtype=torch.long))
        >>> check_batch(torch.zeros(4, 3, 8, 8), torch.zeros(3, dtype=torch.long))
        ... # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        hwfit.errors.InputShapeError: Proxy batch mismatch: 4 inputs but targets of shape (3,)...
    """
    if inputs.ndim < 2 or inputs.shape[0] < 1:
        raise InputShapeError(
            f"Proxy inputs must be a batch (N, ...), got shape {tuple(inputs.shape)}.",
            hint="Pass a mini-batch with a leading batch dimension.",
        )
    if not inputs.is_floating_point():
        raise InputShapeError(
            f"Proxy inputs must be floating point, got {inputs.dtype}.",
            hint="Convert the images to float (e.g. normalised float32).",
        )
    if targets.shape != (inputs.shape[0],):
        raise InputShapeError(
            f"Proxy batch mismatch: {inputs.shape[0]} inputs but targets of shape "
            f"{tuple(targets.shape)}.",
            hint="Pass one class index per input.",
        )
    if targets.is_floating_point() or targets.is_complex() or targets.dtype == torch.bool:
        raise InputShapeError(
            f"Proxy targets must be integer class indices, got {targets.dtype}.",
            hint="Pass targets as a torch.long tensor of class indices.",
        )


def working_copy(model: nn.Module, *, dtype: torch.dtype | None = None) -> nn.Module:
    """A deep copy of ``model`` that a proxy may modify freely.

    Gradients are cleared and every parameter requires grad, whatever the caller had set.

    Args:
        model: The caller's model; not modified.
        dtype: Convert the copy's floating-point parameters and buffers to this dtype.
    """
    net = copy.deepcopy(model)
    if dtype is not None:
        net.to(dtype=dtype)
    for param in net.parameters():
        param.grad = None
        param.requires_grad_(True)
    return net


def batchnorm_train_mode(model: nn.Module) -> nn.Module:
    """Put BatchNorm layers in training mode (batch statistics) and everything else in eval.

    Dropout and drop-path stay off, so a forward pass is deterministic, while BatchNorm
    normalises with the mini-batch's statistics as it would during training. Use it on a
    :func:`working_copy` only: a training-mode forward updates the running statistics.

    Returns:
        ``model``, for chaining.
    """
    model.eval()
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.train()
    return model


@contextlib.contextmanager
def preserved_modes(model: nn.Module) -> Iterator[nn.Module]:
    """Restore every module's ``training`` flag on exit, even after an error.

    For proxies that only read the model (no copy needed) but must switch it to eval mode.
    """
    flags = [(module, module.training) for module in model.modules()]
    try:
        yield model
    finally:
        for module, training in flags:
            module.training = training


def logits_of(output: object) -> Tensor:
    """The logits tensor of a model's output.

    Plain classifiers return the logits; some NAS-Bench-201 implementations return
    ``(features, logits)``, so the last tensor of a tuple or list is taken.

    Raises:
        TypeError: The output holds no tensor.
    """
    if isinstance(output, Tensor):
        return output
    if isinstance(output, (tuple, list)):
        for item in reversed(output):
            if isinstance(item, Tensor):
                return item
    raise TypeError(f"Cannot find the logits in a model output of type {type(output).__name__}.")


def layer_weights(model: nn.Module) -> list[nn.Parameter]:
    """The weights of the convolution and linear layers of ``model``, in module order."""
    found = []
    for module in model.modules():
        weight = getattr(module, "weight", None)
        if isinstance(module, WEIGHT_LAYERS) and isinstance(weight, nn.Parameter):
            found.append(weight)
    return found


def gradients(output: Tensor, weights: list[nn.Parameter]) -> list[Tensor]:
    """``d output / d weight`` for each weight; zeros for a weight ``output`` does not reach."""
    grads = torch.autograd.grad(output, weights, allow_unused=True)
    return [
        torch.zeros_like(weight) if grad is None else grad
        for weight, grad in zip(weights, grads, strict=True)
    ]


def cross_entropy_gradients(
    model: nn.Module, inputs: Tensor, targets: Tensor
) -> list[tuple[Tensor, Tensor]]:
    """Backpropagate the cross-entropy loss of one mini-batch through a copy of ``model``.

    The copy runs with BatchNorm on batch statistics and dropout off
    (:func:`batchnorm_train_mode`), as in the first step of training.

    Returns:
        ``(weight, grad)`` of every convolution and linear layer, in module order; a layer the
        loss does not reach has a zero gradient.
    """
    net = batchnorm_train_mode(working_copy(model))
    loss = nn.functional.cross_entropy(logits_of(net(inputs)), targets.long())
    weights = layer_weights(net)
    grads = gradients(loss, weights)
    return [(weight.detach(), grad) for weight, grad in zip(weights, grads, strict=True)]
