"""The AccuracyProxy contract, run against every registered proxy (a new one is tested at once)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from hwfit.nas.proxies import PROXIES, get_proxy

ALL = PROXIES.names()


def plain_cnn(width: int = 8, depth: int = 1, classes: int = 10, seed: int = 0) -> nn.Sequential:
    """conv-BN-ReLU stem, ``depth`` conv-BN-ReLU blocks, global pool, dropout, classifier."""
    torch.manual_seed(seed)
    layers: list[nn.Module] = [nn.Conv2d(3, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU()]
    for _ in range(depth):
        layers += [nn.Conv2d(width, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU()]
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.5), nn.Linear(width, classes)]
    return nn.Sequential(*layers)


def images(n: int = 8, size: int = 16, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, size, size, generator=g), torch.randint(0, 10, (n,), generator=g)


def score(name: str, model: nn.Module, inputs, targets, **kwargs) -> float:
    return PROXIES.load(name)(**kwargs).score(model, inputs, targets)


@pytest.mark.parametrize("name", ALL)
def test_declares_its_name_and_takes_a_seed(name):
    cls = PROXIES.load(name)
    assert cls.name == name
    assert get_proxy(name, seed=3).seed == 3


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("train", [True, False], ids=["train-mode", "eval-mode"])
def test_proxy_leaves_the_model_unchanged(name, train, model_state):
    model = plain_cnn().train(train)
    model[0].weight.requires_grad_(False)
    inputs, targets = images()
    before = model_state.snapshot(model)
    score(name, model, inputs, targets)
    model_state.assert_unchanged(model, before)


@pytest.mark.parametrize("name", ALL)
def test_proxy_is_deterministic_and_finite(name):
    model = plain_cnn().train()
    inputs, targets = images()
    first = score(name, model, inputs, targets)
    torch.manual_seed(123)  # the global generator must not matter
    second = score(name, model, inputs, targets)
    assert first == second
    assert math.isfinite(first)
    seeded = [score(name, model, inputs, targets, seed=7) for _ in range(2)]
    assert seeded[0] == seeded[1]  # deterministic for any seed, not only the default
    assert math.isfinite(seeded[0])
