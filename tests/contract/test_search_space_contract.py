"""The SearchSpace contract, run against every registered family (a new one is tested at once)."""

from __future__ import annotations

import random

import pytest
import torch

from hwfit.nas.space import Arch
from hwfit.nas.spaces import SPACES, families, space_for

families()  # imports the built-in family modules, which register themselves
ALL = SPACES.names()


@pytest.fixture(scope="module", params=ALL)
def space(request):
    family = SPACES.load(request.param)
    built = space_for(family.baselines()[0], num_classes=10, resolution=32)
    assert type(built) is family
    return built


def _in_space(space, arch: Arch) -> bool:
    dims = {d.name: d for d in space.dimensions()}
    values = arch.as_dict()
    return (
        arch.space == space.name
        and set(values) == set(dims)
        and all(dims[k].match(v) is not None for k, v in values.items())
    )


@pytest.mark.parametrize("name", ALL)
def test_declares_its_baselines(name):
    family = SPACES.load(name)
    assert family.baselines()
    assert all(family.accepts(b) for b in family.baselines())
    assert family.baseline_help


def test_the_baseline_is_in_the_space(space):
    base = space.baseline()
    assert _in_space(space, base)
    assert space.decode(base.as_dict()) == base
    assert space.scaled(1.0, 1.0) == base


def test_sample_encode_decode_round_trips(space):
    rng = random.Random(0)
    for _ in range(5):
        arch = space.sample(rng)
        assert _in_space(space, arch)
        again = space.decode(arch.as_dict())
        assert again == arch
        assert again.key == arch.key
        assert _in_space(space, space.mutate(arch, rng))
    assert space.sample(random.Random(1)) == space.sample(random.Random(1))


def test_points_build_into_modules_that_run(space):
    for arch in (space.baseline(), space.sample(random.Random(2))):
        model = space.build(arch)
        assert not model.training
        with torch.no_grad():
            out = model(torch.zeros(space.input_shape(arch, batch=2)))
        assert out.shape == (2, space.num_classes)
        assert space.describe(arch)
