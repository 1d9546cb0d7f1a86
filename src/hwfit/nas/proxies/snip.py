"""SNIP: connection sensitivity of the loss, summed over the weights."""

from __future__ import annotations

from torch import Tensor, nn

from hwfit.nas.proxies.base import AccuracyProxy, check_batch, cross_entropy_gradients

__all__ = ["SnipProxy"]


class SnipProxy(AccuracyProxy):
    r"""SNIP (Lee et al. 2019; as a zero-cost proxy, Abdelfattah et al. 2021).

    :math:`\sum_\theta |\theta \odot \partial\mathcal{L}/\partial\theta|` over the convolution
    and linear weights, for the cross-entropy loss of the mini-batch on a copy of the model
    (BatchNorm on batch statistics, dropout off); more sensitivity is predicted better. The
    score is zero when the gradients are zero, and unchanged when one layer of a linear
    chain is scaled by :math:`a` and the next by :math:`1/a` (the logits are unchanged, the
    gradients move inversely to the weights).
    """

    name = "snip"

    def score(self, model: nn.Module, inputs: Tensor, targets: Tensor) -> float:  # noqa: D102
        check_batch(inputs, targets)
        pairs = cross_entropy_gradients(model, inputs, targets)
        return float(sum(float((w.double() * g.double()).abs().sum()) for w, g in pairs))
