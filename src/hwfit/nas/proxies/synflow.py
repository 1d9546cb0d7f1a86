"""Synflow: synaptic flow through the network with all weights made positive."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from hwfit.nas.proxies.base import (
    AccuracyProxy,
    check_batch,
    gradients,
    layer_weights,
    logits_of,
    working_copy,
)

__all__ = ["SynflowProxy"]


class SynflowProxy(AccuracyProxy):
    r"""Synflow (Tanaka et al. 2020; as a zero-cost proxy, Abdelfattah et al. 2021).

    On a float64 copy in eval mode with every floating-point parameter and buffer replaced by
    its absolute value, the all-ones input of one sample gives :math:`R = \mathbf{1}^\top
    f(\mathbf{1})`; the score is :math:`\sum_\theta |\theta \odot \partial R / \partial\theta|`
    over the convolution and linear weights. It needs no data (only the batch's shape): it
    measures how much signal can flow, and more is predicted better.

    For a bias-free chain of :math:`L` linear layers the score is :math:`L \cdot \mathbf{1}^\top
    |W_L| \cdots |W_1| \mathbf{1}`: it scales linearly with any one layer's weights, is zero
    when a layer is zero, and is unchanged when one layer is scaled by :math:`a` and the next by
    :math:`1/a` (the rescaling symmetry of ReLU networks that synflow is built to respect).
    ReLU6 is replaced by ReLU, whose flow it would otherwise clamp away. Eval-mode BatchNorm of
    a freshly initialised network is the identity, so it drops out; a trained network's running
    statistics take part as positive affine maps. Very deep networks can overflow float64 to
    ``inf``, which still ranks first.
    """

    name = "synflow"

    def score(self, model: nn.Module, inputs: Tensor, targets: Tensor) -> float:  # noqa: D102
        check_batch(inputs, targets)
        net = _unclamped(working_copy(model, dtype=torch.float64).eval())
        with torch.no_grad():
            for tensor in net.state_dict().values():
                if tensor.is_floating_point():
                    tensor.abs_()
        ones = torch.ones((1, *inputs.shape[1:]), dtype=torch.float64, device=inputs.device)
        weights = layer_weights(net)
        grads = gradients(logits_of(net(ones)).sum(), weights)
        with torch.no_grad():
            flows = [
                (weight * grad).abs().sum() for weight, grad in zip(weights, grads, strict=True)
            ]
        return float(sum(flows, torch.zeros((), dtype=torch.float64, device=ones.device)))


def _unclamped(net: nn.Module) -> nn.Module:
    """Replace ReLU6 with ReLU, in place.

    Synflow assumes positively homogeneous activations; with all-positive weights the
    activations grow far past 6, so ReLU6 would clamp them and stop all flow
    (MobileNetV2 would score as if it had no depth).
    """
    for parent in list(net.modules()):
        for child_name, child in parent.named_children():
            if isinstance(child, nn.ReLU6):
                setattr(parent, child_name, nn.ReLU())
    return net
