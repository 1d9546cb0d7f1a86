"""Zen-score: expressivity of the network at Gaussian initialisation."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.utils.hooks import RemovableHandle

from hwfit.errors import UserError
from hwfit.nas.proxies.base import (
    WEIGHT_LAYERS,
    AccuracyProxy,
    batchnorm_train_mode,
    check_batch,
    layer_weights,
    working_copy,
)

__all__ = ["ZenProxy"]

_GLOBAL_POOLS = (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d)


class ZenProxy(AccuracyProxy):
    r"""Zen-score (Lin et al. 2021, "Zen-NAS").

    On a copy re-initialised with Gaussian weights (convolution and linear weights
    :math:`\mathcal{N}(0, 1)`, biases 0, BatchNorm affine 1/0), BatchNorm on batch statistics:

    .. math::
        \log \mathbb{E}_x \lVert f(x) - f(x + \alpha\epsilon) \rVert_1
        + \sum_i \log \sqrt{\operatorname{mean}_j \sigma_{i,j}^2}

    where :math:`f` is the feature map before global pooling, :math:`x, \epsilon` are standard
    Gaussian batches of the input's shape, :math:`\alpha` the mixup scale and
    :math:`\sigma_{i,j}` the batch standard deviation of channel :math:`j` at BatchNorm layer
    :math:`i` (the scale BatchNorm hides). The norm per sample is the L1 sum, as in the
    authors' code. Averaged over ``repeats`` draws; it ignores the weights and data passed in,
    scores the architecture, and rises with width and depth. More is predicted better.

    Args:
        seed: Seeds the Gaussian weights and inputs.
        alpha: The mixup perturbation scale.
        repeats: How many independent draws to average.

    Raises:
        UserError: ``repeats`` below 1 or ``alpha`` not positive.
    """

    name = "zen"

    def __init__(self, *, seed: int = 0, alpha: float = 0.01, repeats: int = 3) -> None:
        super().__init__(seed=seed)
        if repeats < 1 or not alpha > 0:
            raise UserError(
                f"Zen-score needs repeats >= 1 and alpha > 0, got {repeats} and {alpha}.",
                hint="Use the defaults (repeats=3, alpha=0.01) unless you have a reason.",
            )
        self.alpha = alpha
        self.repeats = repeats

    def score(self, model: nn.Module, inputs: Tensor, targets: Tensor) -> float:  # noqa: D102
        check_batch(inputs, targets)
        net = batchnorm_train_mode(working_copy(model))
        generator = torch.Generator().manual_seed(self.seed)
        norms = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        log_stds: list[Tensor] = []

        def record_std(module: nn.Module, args: tuple[Tensor, ...]) -> None:
            x = args[0].detach()
            dims = [d for d in range(x.ndim) if d != 1]
            variance = x.var(dim=dims, unbiased=False).double().mean()
            log_stds.append(torch.log(variance.sqrt()))

        scores = []
        with torch.no_grad():
            for _ in range(self.repeats):
                _gaussian_init(net, generator)
                x = _randn_like(inputs, generator)
                noise = _randn_like(inputs, generator)
                log_stds.clear()
                handles: list[RemovableHandle] = [
                    m.register_forward_pre_hook(record_std) for m in norms
                ]
                try:
                    clean = _pre_gap_features(net, x)
                finally:
                    for handle in handles:
                        handle.remove()
                mixed = _pre_gap_features(net, x + self.alpha * noise)
                delta = (clean - mixed).abs().double().flatten(1).sum(dim=1).mean()
                scores.append(float(torch.log(delta) + sum(log_stds, torch.zeros(()))))
        return math.fsum(scores) / len(scores)


def _randn_like(inputs: Tensor, generator: torch.Generator) -> Tensor:
    noise = torch.randn(inputs.shape, generator=generator, dtype=torch.float32)
    return noise.to(device=inputs.device, dtype=inputs.dtype)


def _gaussian_init(net: nn.Module, generator: torch.Generator) -> None:
    """Re-initialise as the Zen-NAS reference does, drawing from ``generator``."""
    for weight in layer_weights(net):
        weight.copy_(torch.randn(weight.shape, generator=generator).to(weight))
    for module in net.modules():
        if isinstance(module, WEIGHT_LAYERS):
            if isinstance(module.bias, Tensor):
                module.bias.zero_()
        elif isinstance(module, (nn.modules.batchnorm._BatchNorm, nn.GroupNorm)):
            if isinstance(module.weight, Tensor):
                module.weight.fill_(1.0)
            if isinstance(module.bias, Tensor):
                module.bias.zero_()


def _pre_gap_features(net: nn.Module, x: Tensor) -> Tensor:
    """The feature map before global pooling.

    timm models expose it as ``forward_features``; other networks are run whole and the input
    of their last adaptive average pool is taken, or, lacking one, their output.
    """
    forward_features = getattr(net, "forward_features", None)
    if callable(forward_features):
        out = forward_features(x)
        if isinstance(out, Tensor):
            return out
    pools = [
        m
        for m in net.modules()
        if isinstance(m, _GLOBAL_POOLS) or type(m).__name__ == "SelectAdaptivePool2d"
    ]
    captured: list[Tensor] = []
    handle = None
    if pools:
        handle = pools[-1].register_forward_pre_hook(lambda _m, args: captured.append(args[0]))
    try:
        out = net(x)
    finally:
        if handle is not None:
            handle.remove()
    if captured:
        return captured[-1]
    if isinstance(out, (tuple, list)):
        out = out[-1]
    if not isinstance(out, Tensor):
        raise TypeError(f"Cannot find the features in a model output of type {type(out)}.")
    return out
