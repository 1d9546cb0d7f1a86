"""FLOPs (multiply-accumulates) of one forward pass: a "bigger is better" baseline."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.utils.flop_counter import FlopCounterMode

from hwfit.nas.proxies.base import AccuracyProxy, check_batch, preserved_modes

__all__ = ["FlopsProxy"]


class FlopsProxy(AccuracyProxy):
    """Multiply-accumulates (MACs) of one image at the batch's resolution; more predicted better.

    Counted by :class:`torch.utils.flop_counter.FlopCounterMode` on an eval-mode forward of the
    batch's first sample: convolutions (grouped and depthwise included), matrix products and
    attention, halved from FLOPs to MACs. Normalisation, activations and additions are not
    counted, as in the MACs figures papers quote.

    Example:
        >>> ones = torch.ones(1, 3)
        >>> FlopsProxy().score(nn.Linear(3, 2), ones, torch.zeros(1).long())
        6.0
    """

    name = "flops"

    def score(self, model: nn.Module, inputs: Tensor, targets: Tensor) -> float:  # noqa: D102
        check_batch(inputs, targets)
        counter = FlopCounterMode(display=False)
        with preserved_modes(model), torch.no_grad(), counter:
            model.eval()
            model(inputs[:1])
        return counter.get_total_flops() / 2.0
