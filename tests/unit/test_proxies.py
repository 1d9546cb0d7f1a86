"""Training-free accuracy proxies on tiny networks whose scores can be worked out by hand."""

from __future__ import annotations

import itertools
import logging
import math

import pytest
import torch
from torch import nn

from hwfit.errors import InputShapeError, UnknownNameError, UnsupportedModelError, UserError
from hwfit.nas.proxies import PROXIES, get_proxy, score_all
from hwfit.nas.proxies.base import AccuracyProxy

ALL = ("flops", "grad_norm", "naswot", "params", "snip", "synflow", "zen")


def score(name: str, model: nn.Module, inputs: torch.Tensor, targets=None, **kwargs) -> float:
    if targets is None:
        targets = torch.zeros(inputs.shape[0], dtype=torch.long)
    return PROXIES.load(name)(**kwargs).score(model, inputs, targets)


def linear_chain(*widths: int, act: type[nn.Module] = nn.ReLU, seed: int = 0) -> nn.Sequential:
    """Bias-free Linear layers with ``act`` between them and random signed weights."""
    torch.manual_seed(seed)
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(itertools.pairwise(widths)):
        if i:
            layers.append(act())
        layers.append(nn.Linear(n_in, n_out, bias=False))
    return nn.Sequential(*layers)


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


# --- registry and score_all ------------------------------------------------------------------


def test_registry_lists_every_builtin_proxy():
    assert tuple(PROXIES.names()) == ALL
    for name in ALL:
        proxy = get_proxy(name, seed=3)
        assert isinstance(proxy, AccuracyProxy)
        assert proxy.name == name
        assert proxy.seed == 3


def test_unknown_proxy_suggests_closest():
    with pytest.raises(UnknownNameError, match="Did you mean 'synflow'"):
        get_proxy("synflo")


def test_score_all_unknown_name_raises_before_scoring():
    inputs, targets = images()
    with pytest.raises(UnknownNameError, match="gradnorm"):
        score_all(plain_cnn(), inputs, targets, names=["params", "gradnorm"])


@pytest.mark.parametrize(
    ("inputs", "targets", "match"),
    [
        (torch.zeros(4, 3, 8, 8), torch.zeros(3, dtype=torch.long), "4 inputs"),
        (torch.zeros(4, 3, 8, 8), torch.zeros(4), "integer class indices"),
        (torch.zeros(4, dtype=torch.long), torch.zeros(4, dtype=torch.long), "batch"),
        (torch.zeros(4, 3, dtype=torch.long), torch.zeros(4, dtype=torch.long), "floating"),
    ],
    ids=["batch-mismatch", "float-targets", "no-batch-dim", "integer-inputs"],
)
def test_score_all_rejects_a_malformed_batch(inputs, targets, match):
    with pytest.raises(InputShapeError, match=match):
        score_all(plain_cnn(), inputs, targets)


def test_score_all_records_a_failing_proxy_as_nan_and_logs_why(caplog):
    # No activation module: NASWOT has nothing to hook; the other proxies still score.
    model = linear_chain(4, 3, act=nn.Identity)
    inputs = torch.randn(6, 4)
    with caplog.at_level(logging.WARNING, logger="hwfit.nas.proxies"):
        scores = score_all(model, inputs, torch.zeros(6, dtype=torch.long))
    assert list(scores) == list(ALL)
    assert math.isnan(scores["naswot"])
    assert "naswot" in caplog.text
    assert "no ReLU-like activation" in caplog.text
    assert all(math.isfinite(v) for k, v in scores.items() if k != "naswot")
    with pytest.raises(UnsupportedModelError):
        score("naswot", model, inputs)


def test_score_all_runs_only_the_named_proxies_in_order():
    inputs, targets = images()
    scores = score_all(plain_cnn(), inputs, targets, names=["snip", "params"])
    assert list(scores) == ["snip", "params"]


# --- beyond the contract (tests/contract/test_proxies.py runs it for every proxy) -----------


@pytest.mark.parametrize("name", ["grad_norm", "snip", "naswot", "zen", "synflow"])
def test_proxy_accepts_a_features_logits_tuple_output(name):
    class TupleNet(nn.Module):  # NAS-Bench-201's reference networks return (features, logits)
        def __init__(self) -> None:
            super().__init__()
            self.body = plain_cnn()

        def forward(self, x):
            return x.mean(), self.body(x)

    inputs, targets = images()
    assert score(name, TupleNet(), inputs, targets) == score(name, plain_cnn(), inputs, targets)


# --- params and flops ------------------------------------------------------------------------


def test_params_counts_exactly_and_shared_weights_once():
    # conv 3*8*9 + 8, BN 8 + 8, linear 8*10 + 10
    assert score("params", plain_cnn(depth=0), images()[0]) == 216 + 8 + 16 + 90
    shared = nn.Linear(4, 4)
    assert score("params", nn.Sequential(shared, nn.ReLU(), shared), torch.zeros(2, 4)) == 20


def test_flops_counts_the_macs_of_one_image_at_the_batch_resolution():
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),  # 8 * 3 * 9 per pixel
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.Conv2d(8, 8, 3, padding=1, groups=8),  # depthwise: 8 * 9 per pixel
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 10),  # 80
    ).train()
    for size in (8, 16):
        inputs = torch.randn(5, 3, size, size)  # the batch size does not count
        assert score("flops", model, inputs) == (216 + 72) * size * size + 80


# --- synflow ---------------------------------------------------------------------------------


def closed_form_synflow(model: nn.Sequential) -> float:
    weights = [m.weight.detach().double().abs() for m in model if isinstance(m, nn.Linear)]
    flow = torch.ones(weights[0].shape[1], dtype=torch.float64)
    for w in weights:
        flow = w @ flow
    return len(weights) * float(flow.sum())


def test_synflow_of_a_linear_chain_equals_the_closed_form():
    model = linear_chain(4, 5, 3, 2)
    assert score("synflow", model, torch.randn(3, 4)) == pytest.approx(
        closed_form_synflow(model), rel=1e-12
    )


def test_synflow_scales_with_one_layer_and_is_invariant_to_rescaling_between_layers():
    model = linear_chain(4, 5, 3, 2)
    inputs = torch.randn(3, 4)
    base = score("synflow", model, inputs)
    with torch.no_grad():  # powers of two keep the float32 weights exact
        model[2].weight.mul_(4.0)
    assert score("synflow", model, inputs) == pytest.approx(4 * base, rel=1e-12)
    with torch.no_grad():
        model[2].weight.mul_(2.0)  # layer 2 by 8 in all ...
        model[4].weight.mul_(0.125)  # ... and layer 3 by 1/8: the same network function
    assert score("synflow", model, inputs) == pytest.approx(base, rel=1e-12)
    with torch.no_grad():
        model[2].weight.zero_()
    assert score("synflow", model, inputs) == 0.0


def test_synflow_ignores_the_relu6_clamp():
    relu = linear_chain(4, 16, 16, 2, act=nn.ReLU)
    relu6 = linear_chain(4, 16, 16, 2, act=nn.ReLU6)
    inputs = torch.randn(2, 4)
    assert score("synflow", relu6, inputs) == score("synflow", relu, inputs)


# --- NASWOT ----------------------------------------------------------------------------------


def identity_relu(act: type[nn.Module] = nn.ReLU) -> nn.Sequential:
    layer = nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.eye(2))
    return nn.Sequential(layer, act())


@pytest.mark.parametrize("act", [nn.ReLU, nn.Hardswish, nn.SiLU, nn.ReLU6])
def test_naswot_equals_the_closed_form_for_hand_made_codes(act):
    # codes 10, 01, 11 -> K = N_A - Hamming = [[2,0,1],[0,2,1],[1,1,2]], det 4
    inputs = torch.tensor([[1.0, -1.0], [-1.0, 1.0], [1.0, 1.0]])
    assert score("naswot", identity_relu(act), inputs) == pytest.approx(math.log(4.0))


def test_naswot_scores_identical_codes_below_distinct_ones():
    same = torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])  # every code is 11
    distinct = torch.tensor([[1.0, -1.0], [-1.0, 1.0], [1.0, 1.0]])
    assert score("naswot", identity_relu(), same) == -math.inf
    assert score("naswot", identity_relu(), same) < score("naswot", identity_relu(), distinct)


# --- grad_norm and snip ----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["grad_norm", "snip"])
def test_gradient_proxies_are_zero_when_no_gradient_reaches_the_weights(name):
    assert score(name, linear_chain(4, 6, 3), torch.zeros(5, 4)) == 0.0


def test_grad_norm_equals_the_closed_form_and_scales_with_the_gradient():
    model = nn.Linear(4, 3, bias=False)
    with torch.no_grad():
        model.weight.zero_()  # softmax is uniform whatever the input: the gradient is linear in x
    inputs = torch.randn(6, 4, dtype=torch.float64).float()
    targets = torch.tensor([0, 1, 2, 0, 1, 1])
    onehot = nn.functional.one_hot(targets, 3).double()
    grad = (torch.full((6, 3), 1 / 3, dtype=torch.float64) - onehot).T @ inputs.double() / 6
    value = score("grad_norm", model, inputs, targets)
    assert value == pytest.approx(float(grad.norm()), rel=1e-6)
    assert score("grad_norm", model, 2 * inputs, targets) == pytest.approx(2 * value, rel=1e-6)
    assert score("snip", model, inputs, targets) == 0.0  # zero weights: no connection matters


def test_snip_is_invariant_to_rescaling_between_layers_and_grad_norm_is_not():
    model = linear_chain(4, 6, 3)
    inputs, targets = torch.randn(8, 4), torch.randint(0, 3, (8,))
    snip, grad_norm = (
        score("snip", model, inputs, targets),
        score("grad_norm", model, inputs, targets),
    )
    with torch.no_grad():
        model[0].weight.mul_(4.0)
        model[2].weight.mul_(0.25)
    assert score("snip", model, inputs, targets) == pytest.approx(snip, rel=1e-5)
    assert score("grad_norm", model, inputs, targets) != pytest.approx(grad_norm, rel=1e-2)


# --- Zen-score -------------------------------------------------------------------------------


def test_zen_grows_with_width_and_depth():
    inputs = images(16, 16)[0]
    narrow = score("zen", plain_cnn(width=8, depth=2), inputs)
    wide = score("zen", plain_cnn(width=32, depth=2), inputs)
    deep = score("zen", plain_cnn(width=8, depth=6), inputs)
    assert wide > narrow
    assert deep > narrow


def test_zen_depends_on_the_seed_only_through_its_draws():
    model, inputs = plain_cnn(), images()[0]
    assert score("zen", model, inputs, seed=1) != score("zen", model, inputs, seed=2)
    # the architecture is scored, not the weights: a differently initialised copy scores the same
    assert score("zen", plain_cnn(seed=5), inputs) == score("zen", model, inputs)


def test_zen_rejects_no_repeats():
    with pytest.raises(UserError, match="repeats"):
        get_proxy("zen").__class__(repeats=0)


# --- a real search candidate -----------------------------------------------------------------


def test_every_proxy_scores_a_timm_mobilenet_and_leaves_it_unchanged(model_state):
    import timm

    torch.manual_seed(0)
    model = timm.create_model("mobilenetv2_050", pretrained=False, num_classes=10).train()
    inputs, targets = images(8, 64)
    before = model_state.snapshot(model)
    scores = score_all(model, inputs, targets)
    assert list(scores) == list(ALL)
    for name, value in scores.items():
        assert isinstance(value, float)
        assert math.isfinite(value), name
    assert scores["params"] == sum(p.numel() for p in model.parameters())
    model_state.assert_unchanged(model, before)
