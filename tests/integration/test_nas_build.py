"""Every family's candidates build as real models, run, export to ONNX and match timm."""

from __future__ import annotations

import contextlib
import io
import random
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from hwfit.nas import space_for

SAMPLED = {
    "mobilenetv2": "mobilenetv2_050",
    "efficientnet": "efficientnet_b0",
    "mobilenetv3": "mobilenetv3_small_100",
    "resnet": "resnet18",
    "regnet": "regnetx_002",
    "nb201": "nb201",
}


def _structure(model: torch.nn.Module) -> list[tuple[str, tuple[int, ...]]]:
    return [(name, tuple(p.shape)) for name, p in model.named_parameters()]


def _export_and_compare(model: torch.nn.Module, shape, path: Path, *, dynamo: bool) -> None:
    """Export ``model`` to ONNX, run it with ONNX Runtime, compare with PyTorch."""
    import onnxruntime as ort

    x = torch.randn(shape, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = model(x).numpy()
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")  # exporter chatter (TorchScript deprecation, dynamo)
        if dynamo:  # the fallback of hwfit.models.convert.to_onnx
            torch.onnx.export(
                model, (x,), str(path), dynamo=True, opset_version=18, external_data=False
            )
        else:
            torch.onnx.export(model, (x,), str(path), dynamo=False, opset_version=17)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
    scale = max(1.0, float(np.abs(expected).max()))
    np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-4 * scale)


@pytest.mark.parametrize("name", list(SAMPLED.values()), ids=list(SAMPLED))
def test_sampled_candidates_build_run_and_export(name: str, tmp_path: Path):
    space = space_for(name, num_classes=10, resolution=32)
    rng = random.Random(0)
    archs = [space.sample(rng) for _ in range(5)]
    models = [space.build(arch) for arch in archs]
    for arch, model in zip(archs, models, strict=True):
        assert not model.training
        with torch.no_grad():
            out = model(torch.randn(space.input_shape(arch, batch=2)))
        assert out.shape == (2, 10)
        assert torch.isfinite(out).all()
    # One ONNX export per family by default; every candidate in the slow sweep below.
    _export_and_compare(models[0], space.input_shape(archs[0]), tmp_path / "c.onnx", dynamo=False)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(SAMPLED.values()), ids=list(SAMPLED))
def test_every_sampled_candidate_exports_with_dynamo(name: str, tmp_path: Path):
    space = space_for(name, num_classes=10, resolution=32)
    rng = random.Random(0)
    for i in range(5):
        arch = space.sample(rng)
        _export_and_compare(
            space.build(arch), space.input_shape(arch), tmp_path / f"{i}.onnx", dynamo=True
        )


BASELINES = [
    "mobilenetv2_100",
    "mobilenetv2_050",
    "efficientnet_b0",
    "mobilenetv3_large_100",
    "mobilenetv3_small_100",
    "resnet18",
    "resnet50",
    "regnetx_002",
    "regnety_002",
]
SLOW_BASELINES = [
    "mobilenetv2_140",
    "mobilenetv2_110d",
    "efficientnet_b1",
    "efficientnet_b2",
    "efficientnet_b3",
    "mobilenetv3_large_075",
    "mobilenetv3_small_050",
    "resnet34",
    "resnet101",
    "regnetx_016",
    "regnety_016",
    "regnety_032",
]


def _check_baseline_matches_timm(name: str) -> None:
    import timm

    space = space_for(name, num_classes=10)
    ours = space.build(space.baseline())
    reference = timm.create_model(name, num_classes=10, pretrained=False)
    assert _structure(ours) == _structure(reference)
    assert sum(p.numel() for p in ours.parameters()) == sum(
        p.numel() for p in reference.parameters()
    )
    assert isinstance(ours, type(reference))


@pytest.mark.parametrize("name", BASELINES)
def test_baseline_has_timm_structure_and_param_count(name: str):
    _check_baseline_matches_timm(name)


@pytest.mark.slow
@pytest.mark.parametrize("name", SLOW_BASELINES)
def test_more_baselines_have_timm_structure(name: str):
    _check_baseline_matches_timm(name)


@pytest.mark.parametrize(
    ("width", "timm_name"), [(0.5, "mobilenetv2_050"), (0.75, "mobilenetv2_075")]
)
def test_scaled_mobilenetv2_is_timm_width_variant(width: float, timm_name: str):
    import timm

    space = space_for("mobilenetv2_100", num_classes=10)
    scaled = space.build(space.scaled(width, 1.0))
    assert _structure(scaled) == _structure(timm.create_model(timm_name, num_classes=10))


def test_small_resolutions_run_for_the_demo_baseline():
    space = space_for("timm:mobilenetv2_100", num_classes=10, resolution=64)
    res = next(d for d in space.dimensions() if d.name == "resolution")
    model = space.build(space.baseline())
    for size in (min(res.choices), res.baseline, max(res.choices)):
        with torch.no_grad():
            assert model(torch.randn(1, 3, int(size), int(size))).shape == (1, 10)
    assert min(int(c) for c in res.choices) == 32
    assert max(int(c) for c in res.choices) >= 80


def _params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_nb201_param_counts_match_the_benchmark():
    space = space_for("nb201", num_classes=10)
    widest = space.from_string(
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
    )
    # NAS-Bench-201 reports 1.531546 M parameters for this cell on CIFAR-10.
    assert _params(space.build(widest)) == 1_531_546
    best = space.from_string(
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
    )
    assert _params(space.build(best)) == 1_531_546 - 5 * (9 * 16**2 + 2 * 16) - 5 * (
        9 * 32**2 + 2 * 32
    ) - 5 * (9 * 64**2 + 2 * 64)


def test_nb201_all_none_cell_builds_runs_and_exports(tmp_path: Path):
    space = space_for("nb201", num_classes=10)
    empty = space.decode({d.name: "none" for d in space.dimensions()})
    model = space.build(empty)
    # Only the stem, the two reduction blocks and the head carry weights: 0.0733 M.
    assert _params(model) == 73_306
    with torch.no_grad():
        a = model(torch.randn(2, 3, 32, 32))
        b = model(torch.randn(2, 3, 32, 32))
    # Every cell outputs zeros, so the logits cannot depend on the input.
    torch.testing.assert_close(a, b)
    _export_and_compare(model, space.input_shape(empty), tmp_path / "none.onnx", dynamo=False)


@pytest.mark.slow
def test_nb201_baseline_exports_with_dynamo(tmp_path: Path):
    space = space_for("nb201", num_classes=10)
    base = space.baseline()
    _export_and_compare(
        space.build(base), space.input_shape(base), tmp_path / "b.onnx", dynamo=True
    )
