"""NASWOT: how differently the network's ReLUs partition the inputs of one mini-batch."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.utils.hooks import RemovableHandle

from hwfit.errors import UnsupportedModelError
from hwfit.nas.proxies.base import (
    AccuracyProxy,
    batchnorm_train_mode,
    check_batch,
    working_copy,
)

__all__ = ["ACTIVATIONS", "NaswotProxy", "activation_modules"]

#: Activations whose output is positive exactly where their input is: the sign pattern of
#: their output is the binary code NASWOT compares.
ACTIVATIONS: tuple[type[nn.Module], ...] = (
    nn.ReLU,
    nn.ReLU6,
    nn.LeakyReLU,
    nn.PReLU,
    nn.RReLU,
    nn.ELU,
    nn.CELU,
    nn.SELU,
    nn.GELU,
    nn.SiLU,
    nn.Mish,
    nn.Hardswish,
)
# timm's own activation classes (used when a model asks for its memory-efficient variants).
_ACTIVATION_NAMES = frozenset(
    {"swish", "swishme", "mish", "mishme", "hardswish", "hardswishme", "gelu", "quickgelu"}
)


def activation_modules(model: nn.Module) -> list[nn.Module]:
    """The ReLU-like activation modules of ``model``, in module order."""
    return [
        module
        for module in model.modules()
        if isinstance(module, ACTIVATIONS) or type(module).__name__.lower() in _ACTIVATION_NAMES
    ]


class NaswotProxy(AccuracyProxy):
    r"""NASWOT (Mellor et al. 2021): :math:`\log|\det K_H|` of the activation-code kernel.

    Each input of the mini-batch gets a binary code: which units of the ReLU-like activations
    (ReLU, ReLU6, hard-swish, SiLU, GELU ...) are positive. :math:`K_H[i, j] = N_A -
    d_H(c_i, c_j)`, the number of units on which inputs :math:`i` and :math:`j` agree. A
    network that tells the inputs apart has codes far apart, a well-conditioned kernel and a
    higher score; if two inputs share a code the kernel is singular and the score is
    ``-inf``. The copy runs with BatchNorm on batch statistics (as in the paper's code, on a
    freshly built network) and dropout off. Activations must be modules: a model that calls
    ``torch.relu`` functionally has nothing to hook.
    """

    name = "naswot"

    def score(self, model: nn.Module, inputs: Tensor, targets: Tensor) -> float:  # noqa: D102
        check_batch(inputs, targets)
        net = batchnorm_train_mode(working_copy(model))
        modules = activation_modules(net)
        if not modules:
            raise UnsupportedModelError(
                "NASWOT found no ReLU-like activation module to hook in this model.",
                hint="Build activations as nn.Module layers (nn.ReLU, nn.Hardswish ...).",
            )
        n = inputs.shape[0]
        kernel = torch.zeros((n, n), dtype=torch.float64)

        def add_codes(module: nn.Module, args: tuple[object, ...], output: object) -> None:
            if not isinstance(output, Tensor):
                return
            codes = (output.detach().reshape(n, -1) > 0).float()
            # N_A - Hamming = c c^T + (1-c)(1-c)^T, expanded to need one matrix product.
            ones = codes.sum(dim=1, keepdim=True)
            agree = 2 * codes @ codes.T - ones - ones.T + codes.shape[1]
            kernel.add_(agree.double().cpu())

        handles: list[RemovableHandle] = [m.register_forward_hook(add_codes) for m in modules]
        try:
            with torch.no_grad():
                net(inputs)
        finally:
            for handle in handles:
                handle.remove()
        _, logdet = torch.linalg.slogdet(kernel)
        value = float(logdet)
        return value if not math.isnan(value) else -math.inf
