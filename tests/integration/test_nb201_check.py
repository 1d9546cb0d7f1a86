"""``benchmarks/nb201_check.py``: the published NAS-Bench-201 table and the proxy check on it."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest
import torch

from hwfit.errors import UserError
from hwfit.nas.spaces.nb201 import NB201Network, arch_string

# A validation script, not library code: imported from benchmarks/, as its runner does.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from nb201_check import (
    PublishedArch,
    check_proxies,
    demo_minibatch,
    load_published,
)

CHANCE = 10.0  # CIFAR-10 accuracy of a cell whose output ignores its input

# From the shipped table: an all-pooling cell and the table's best cell.
BAD = (
    "|avg_pool_3x3~0|+|avg_pool_3x3~0|avg_pool_3x3~1|"
    "+|avg_pool_3x3~0|avg_pool_3x3~1|skip_connect~2|"
)
GOOD = (
    "|nor_conv_1x1~0|+|nor_conv_3x3~0|nor_conv_3x3~1|"
    "+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
)


@pytest.fixture(scope="module")
def published() -> list[PublishedArch]:
    return load_published()


@pytest.fixture(scope="module")
def batch() -> tuple[torch.Tensor, torch.Tensor]:
    return demo_minibatch(16)


def _by_arch(archs: list[PublishedArch]) -> dict[str, PublishedArch]:
    return {arch.arch: arch for arch in archs}


def test_table_loads_and_every_arch_builds(published: list[PublishedArch]) -> None:
    assert len(published) >= 300
    assert len({arch.ops for arch in published}) == len(published)
    assert len({arch.nb201_index for arch in published}) == len(published)
    # 16 px (not 32) keeps 326 forward passes quick; the network pools globally.
    x = torch.randn(4, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    constant = 0
    for arch in published:
        assert arch_string(arch.ops) == arch.arch
        assert 0.0 < arch.cifar100_test_top1 <= arch.cifar10_test_top1 <= 100.0
        # BatchNorm on batch statistics: an untrained 17-cell stack in eval mode shrinks the
        # signal until images are hard to tell apart.
        net = NB201Network(arch.ops, 10).train()
        with torch.no_grad():
            out = net(x)
        assert out.shape == (4, 10)
        # A cell with no path from input to output gives the same logits for every image,
        # and exactly those cells trained to chance level in the benchmark.
        spread = float((out - out[0]).abs().max())
        if arch.cifar10_test_top1 == CHANCE:
            assert spread < 1e-6, arch.arch
            constant += 1
        else:
            assert spread > 1e-3, arch.arch
    assert constant > 0


def test_check_proxies_returns_finite_correlations(
    published: list[PublishedArch], batch: tuple[torch.Tensor, torch.Tensor]
) -> None:
    ranked = sorted(
        (a for a in published if a.cifar10_test_top1 > CHANCE), key=lambda a: a.cifar10_test_top1
    )
    handful = [ranked[int(q * (len(ranked) - 1))] for q in (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)]
    checks = check_proxies(handful, batch, proxies=["params", "synflow", "naswot"])
    assert list(checks) == ["params", "synflow", "naswot"]
    for check in checks.values():
        assert check.n_archs == 6
        assert check.n_failed == 0
        assert len(check.scores) == 6
        assert math.isfinite(check.kendall_tau)
        assert -1.0 <= check.kendall_tau <= 1.0
        assert math.isfinite(check.spearman_rho)
        assert -1.0 <= check.spearman_rho <= 1.0
        assert check.seconds >= 0.0


def test_proxies_rank_a_bad_cell_below_a_good_one(
    published: list[PublishedArch], batch: tuple[torch.Tensor, torch.Tensor]
) -> None:
    table = _by_arch(published)
    bad, good = table[BAD], table[GOOD]
    assert bad.cifar10_test_top1 + 40.0 < good.cifar10_test_top1  # as published
    checks = check_proxies([bad, good], batch, proxies=["params", "synflow"])
    for check in checks.values():
        assert check.scores[0] < check.scores[1], check.proxy
        assert check.kendall_tau == pytest.approx(1.0)
        assert check.spearman_rho == pytest.approx(1.0)


def test_chance_level_cell_is_scored_not_failed(
    published: list[PublishedArch], batch: tuple[torch.Tensor, torch.Tensor]
) -> None:
    chance = next(a for a in published if a.cifar10_test_top1 == CHANCE)
    good = _by_arch(published)[GOOD]
    check = check_proxies([chance, good], batch, proxies=["synflow"])["synflow"]
    assert check.n_failed == 0
    assert check.scores[0] < check.scores[1]


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("|nor_conv_3x3~0|+|none~0|,90,70,40,1", "line 2"),
        ("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|,ninety,70,40,1", "not a number"),
        ("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|,190,70,40,1", "percentage"),
    ],
)
def test_load_published_rejects_bad_rows(tmp_path: Path, row: str, message: str) -> None:
    table = tmp_path / "t.csv"
    header = "arch,cifar10_test_top1,cifar100_test_top1,imagenet16_120_test_top1,nb201_index"
    table.write_text(f"{header}\n{row}\n")
    with pytest.raises(UserError, match=message):
        load_published(table)


def test_load_published_rejects_repeats_and_missing_columns(tmp_path: Path) -> None:
    row = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|,10,1,0.8,7"
    header = "arch,cifar10_test_top1,cifar100_test_top1,imagenet16_120_test_top1,nb201_index"
    table = tmp_path / "t.csv"
    table.write_text(f"{header}\n{row}\n{row}\n")
    with pytest.raises(UserError, match="repeats line 2"):
        load_published(table)
    table.write_text(
        "arch,cifar10_test_top1\n|none~0|+|none~0|none~1|+|none~0|none~1|none~2|,10\n"
    )
    with pytest.raises(UserError, match="lacks the column"):
        load_published(table)
    with pytest.raises(UserError, match="not found"):
        load_published(tmp_path / "missing.csv")


def test_check_proxies_rejects_bad_arguments(
    published: list[PublishedArch], batch: tuple[torch.Tensor, torch.Tensor]
) -> None:
    with pytest.raises(UserError, match="No architectures"):
        check_proxies([], batch)
    with pytest.raises(UserError, match="accuracy column"):
        check_proxies(published[:2], batch, proxies=["params"], accuracy="top5")
    with pytest.raises(UserError):
        check_proxies(published[:2], batch, proxies=["synflo"])
