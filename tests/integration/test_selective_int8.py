"""INT8 where it is measured faster: the groups the recipe finds, and what it ships.

A tiny net with one squeeze-excitation block, a depthwise convolution and a spatial gate
``x * sigmoid(conv(x))`` (a sigmoid gate without global pooling: *not* squeeze-excitation) is
exported with the TorchScript
exporter and converted by OpenVINO; NNCF quantizes it for real.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import openvino as ov
import pytest
import torch
from torch import nn

from hwfit.models import load_model
from hwfit.precisions import RECIPES, Precision, ov_selective
from hwfit.precisions.base import QuantData
from hwfit.precisions.ov_quant import _is_quantized
from hwfit.records import RunConfig
from hwfit.runtimes.ov_runtime import OVRuntime, fast_float

SHAPE = (1, 3, 32, 32)


class _SENet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, padding=1)
        self.spatial = nn.Conv2d(16, 16, 1)
        self.dw = nn.Conv2d(16, 16, 3, padding=1, groups=16)
        self.reduce = nn.Conv2d(16, 4, 1)
        self.expand = nn.Conv2d(4, 16, 1)
        self.pw = nn.Conv2d(16, 32, 1)
        self.head = nn.Linear(32, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        x = x * torch.sigmoid(self.spatial(x))  # a gate without global pooling
        x = torch.relu(self.dw(x))
        s = x.mean((2, 3), keepdim=True)
        s = torch.sigmoid(self.expand(torch.relu(self.reduce(s))))
        x = self.pw(x * s)
        return self.head(x.mean((2, 3)))


@pytest.fixture(scope="module")
def se_onnx(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("se") / "se_net.onnx"
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _SENet().eval(), (torch.zeros(SHAPE),), str(path), dynamo=False,
            opset_version=18, input_names=["input"], output_names=["output"],
        )  # fmt: skip
    return path


def _ops(model: ov.Model, names: list[str]) -> dict[str, str]:
    by_name = {op.get_friendly_name(): op.get_type_name() for op in model.get_ops()}
    return {n: by_name[n] for n in names}


def test_finds_the_squeeze_excitation_block_and_not_the_spatial_gate(se_onnx):
    model = ov.convert_model(str(se_onnx))
    found = _ops(model, ov_selective.se_blocks(model))
    kinds = sorted(found.values())
    # pooling, reduce conv (+ bias add), relu, expand conv (+ bias add), sigmoid, the multiply
    assert kinds.count("ReduceMean") == 1
    assert kinds.count("Convolution") == 2
    assert kinds.count("Sigmoid") == 1
    assert kinds.count("Multiply") == 1
    spatial_gate = [
        op.get_friendly_name()
        for op in model.get_ops()
        if op.get_type_name() == "Sigmoid" and op.get_friendly_name() not in found
    ]
    assert len(spatial_gate) == 1  # the spatial gate's sigmoid is left alone


def test_finds_the_depthwise_convolutions_only(se_onnx):
    model = ov.convert_model(str(se_onnx))
    assert set(_ops(model, ov_selective.depthwise_layers(model)).values()) == {"GroupConvolution"}
    assert len(ov_selective.depthwise_layers(model)) == 1


def _data() -> QuantData:
    rng = np.random.default_rng(0)
    return QuantData(rng.standard_normal((16, *SHAPE[1:])).astype(np.float32))


def _prepare(se_onnx: Path, out: Path):
    recipe = RECIPES.load("openvino:int8-selective")("openvino", Precision.INT8_SELECTIVE)
    artifact = load_model(str(se_onnx))
    return recipe.prepare(artifact, artifact.info.input, out, _data())


def _quantized_weights(path: Path) -> dict[str, bool]:
    model = ov.Core().read_model(str(path))
    return {
        op.get_friendly_name(): _is_quantized(op.input_value(1), depth=6)
        for op in model.get_ops()
        if op.get_type_name() in ("Convolution", "GroupConvolution")
    }


def test_times_every_variant_and_ships_the_one_it_names(se_onnx, tmp_path):
    prepared = _prepare(se_onnx, tmp_path)
    timed = dict(item.rsplit(" ", 1) for item in prepared.details["variants_us"].split(", "))
    assert set(timed) == {"all", "squeeze-excitation", "depthwise", "squeeze-excitation+depthwise"}
    assert all(float(us) > 0 for us in timed.values())
    medians = {name: float(us) for name, us in timed.items()}
    chosen = ov_selective.choose(medians)
    assert prepared.details["kept_in_float"] == ("nothing" if chosen == "all" else chosen)
    assert prepared.details["float_hint"] == fast_float()
    assert prepared.path is not None
    assert prepared.path.resolve().is_relative_to(tmp_path)


def test_a_faster_group_is_shipped_in_float_and_the_rest_in_int8(se_onnx, tmp_path, monkeypatch):
    # The timing decides; here it is made to say "depthwise in float is 10% faster".
    def timings(variants, x, hint):
        return {name: (0.9 if name == "depthwise" else 1.0) for name in variants}

    monkeypatch.setattr(ov_selective, "time_variants", timings)
    prepared = _prepare(se_onnx, tmp_path)
    assert prepared.details["kept_in_float"] == "depthwise"
    model = ov.convert_model(str(se_onnx))
    depthwise = set(ov_selective.depthwise_layers(model))
    quantized = _quantized_weights(prepared.path)
    assert depthwise
    assert all(not quantized[name] for name in depthwise)
    assert any(quantized[name] for name in quantized if name not in depthwise)


def test_no_gain_ships_what_plain_int8_quantizes(se_onnx, tmp_path, monkeypatch):
    def timings(variants, x, hint):  # 1% is below MIN_GAIN: not worth leaving INT8
        return {name: (0.99 if name != "all" else 1.0) for name in variants}

    monkeypatch.setattr(ov_selective, "time_variants", timings)
    prepared = _prepare(se_onnx, tmp_path / "selective")
    assert prepared.details["kept_in_float"] == "nothing"
    plain = RECIPES.load("openvino:int8")("openvino", Precision.INT8)
    artifact = load_model(str(se_onnx))
    int8 = plain.prepare(artifact, artifact.info.input, tmp_path / "plain", _data())
    assert _quantized_weights(prepared.path) == _quantized_weights(int8.path)
    assert any(_quantized_weights(prepared.path).values())


def test_runtime_runs_it_with_the_cpus_fast_float_read_back(se_onnx, tmp_path):
    prepared = _prepare(se_onnx, tmp_path)
    model = load_model(str(prepared.path), input_shape=SHAPE)
    compiled = OVRuntime().compile(model, RunConfig("openvino", precision="int8-selective"))
    assert compiled.executed.details["INFERENCE_PRECISION_HINT"] == fast_float()
    assert compiled.executed.precision.startswith("int8")
    reference = OVRuntime().compile(load_model(str(se_onnx)), RunConfig("openvino"))
    x = _data().calibration[:1]
    a, b = reference.infer(x), compiled.infer(x)
    cosine = float((a * b).sum() / np.linalg.norm(a) / np.linalg.norm(b))
    assert cosine > 0.95
