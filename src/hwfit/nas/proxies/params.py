"""Parameter count: the "bigger is better" baseline every proxy must beat."""

from __future__ import annotations

from torch import Tensor, nn

from hwfit.nas.proxies.base import AccuracyProxy, check_batch

__all__ = ["ParamsProxy"]


class ParamsProxy(AccuracyProxy):
    """The number of parameters (shared ones counted once); more is predicted better.

    Within one family a larger model usually trains to a higher accuracy, so the count is a
    strong, free baseline. The batch is only checked, never run.

    Example:
        >>> import torch
        >>> ParamsProxy().score(nn.Linear(3, 2), torch.zeros(1, 3), torch.zeros(1).long())
        8.0
    """

    name = "params"

    def score(self, model: nn.Module, inputs: Tensor, targets: Tensor) -> float:  # noqa: D102
        check_batch(inputs, targets)
        return float(sum(param.numel() for param in model.parameters()))
