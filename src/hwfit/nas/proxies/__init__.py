"""Training-free accuracy proxies: score a candidate network from one mini-batch.

Each proxy is an :class:`~hwfit.nas.proxies.base.AccuracyProxy` registered in :data:`PROXIES`
(one module per proxy); :func:`score_all` runs several and records a failing one as NaN
instead of stopping the search. Third-party proxies register with
``PROXIES.register("mine", MyProxy)``; their class takes a keyword-only ``seed``.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from hwfit.errors import first_line
from hwfit.registry import Registry

if TYPE_CHECKING:
    from torch import Tensor, nn

    from hwfit.nas.proxies.base import AccuracyProxy

__all__ = ["PROXIES", "get_proxy", "score_all"]

logger = logging.getLogger(__name__)

PROXIES: Registry[AccuracyProxy] = Registry(
    kind="accuracy proxy",
    builtins={
        "flops": "hwfit.nas.proxies.flops:FlopsProxy",
        "grad_norm": "hwfit.nas.proxies.grad_norm:GradNormProxy",
        "naswot": "hwfit.nas.proxies.naswot:NaswotProxy",
        "params": "hwfit.nas.proxies.params:ParamsProxy",
        "snip": "hwfit.nas.proxies.snip:SnipProxy",
        "synflow": "hwfit.nas.proxies.synflow:SynflowProxy",
        "zen": "hwfit.nas.proxies.zen:ZenProxy",
    },
)


def get_proxy(name: str, *, seed: int = 0) -> AccuracyProxy:
    """An instance of the proxy registered as ``name``.

    Raises:
        UnknownNameError: No proxy of that name; the message suggests close ones.

    Example:
        >>> get_proxy("synflow")
        SynflowProxy(seed=0)
    """
    return PROXIES.load(name)(seed=seed)


def score_all(
    model: nn.Module,
    inputs: Tensor,
    targets: Tensor,
    names: Sequence[str] | None = None,
    *,
    seed: int = 0,
) -> dict[str, float]:
    """Score ``model`` with several proxies; a proxy that fails scores NaN.

    A failing proxy (an unsupported layer, a numerical error) is logged as a warning with its
    reason and recorded as ``nan``; the others still run. Bad arguments raise at once.

    Args:
        model: The candidate network; left unchanged.
        inputs: A mini-batch ``(N, ...)`` at the candidate's resolution.
        targets: Class indices ``(N,)``.
        names: The proxies to run, in this order; default: every registered proxy.
        seed: Passed to every proxy.

    Returns:
        Proxy name -> score (higher = predicted more accurate).

    Raises:
        UnknownNameError: A name is not registered.
        InputShapeError: ``inputs`` and ``targets`` do not form a batch.
    """
    from hwfit.nas.proxies.base import check_batch

    chosen = PROXIES.names() if names is None else list(names)
    proxies = {name: get_proxy(name, seed=seed) for name in chosen}
    check_batch(inputs, targets)
    scores: dict[str, float] = {}
    for name, proxy in proxies.items():
        start = time.perf_counter()
        try:
            scores[name] = float(proxy.score(model, inputs, targets))
        except Exception as exc:  # one proxy's failure must not end the search
            scores[name] = math.nan
            logger.warning("Proxy %r could not score the model (NaN): %s", name, first_line(exc))
        else:
            logger.debug(
                "Proxy %r: %.6g in %.3f s", name, scores[name], time.perf_counter() - start
            )
    return scores
