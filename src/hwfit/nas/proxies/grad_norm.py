"""Grad-norm: how strongly the first training step would move the weights."""

from __future__ import annotations

from torch import Tensor, nn

from hwfit.nas.proxies.base import AccuracyProxy, check_batch, cross_entropy_gradients

__all__ = ["GradNormProxy"]


class GradNormProxy(AccuracyProxy):
    r"""Grad-norm (Abdelfattah et al. 2021): :math:`\sum_l \lVert\nabla_{W_l}\mathcal{L}\rVert_2`.

    The cross-entropy loss of the mini-batch is backpropagated through a copy of the model
    (BatchNorm on batch statistics, dropout off) and the Euclidean norms of the gradients of
    every convolution and linear weight are summed; larger gradients are predicted better.
    The score is zero when no gradient reaches the weights and scales linearly with the
    gradients (e.g. with the inputs of a zero-initialised linear classifier).
    """

    name = "grad_norm"

    def score(self, model: nn.Module, inputs: Tensor, targets: Tensor) -> float:  # noqa: D102
        check_batch(inputs, targets)
        pairs = cross_entropy_gradients(model, inputs, targets)
        return float(sum(float(grad.double().norm()) for _, grad in pairs))
