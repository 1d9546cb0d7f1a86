"""Per-layer-type profiles: measured for OpenVINO candidates, read into the explanations."""

import json

import numpy as np
import pytest
from PIL import Image

import hwfit
from hwfit.bench import layer_profile
from hwfit.models import load_model
from hwfit.records import LayerProfile, LayerTime, RowState, RunConfig
from hwfit.tune.profiles import layer_reasons

COLOUR = "colour_model:colour_classifier"
# The knob tuner (on by default) has its own tests: tests/integration/test_knobs.py.
QUICK = {"duration_s": 0.3, "min_time_s": 0.1, "save": False, "tune_trials": 0}


@pytest.fixture(scope="module")
def profiled(tmp_path_factory):
    data = tmp_path_factory.mktemp("colours")
    rng = np.random.default_rng(0)
    for index, name in enumerate(("red", "green", "blue")):
        (data / name).mkdir()
        for i in range(8):
            pixels = rng.integers(0, 90, size=(32, 32, 3))
            pixels[..., index] += 160  # the class colour dominates
            Image.fromarray(pixels.astype(np.uint8)).save(data / name / f"{i}.png")
    out = tmp_path_factory.mktemp("profiled") / "out"
    return hwfit.optimize(
        COLOUR, str(data), out=out, input_shape="1x3x32x32",
        runtimes=["openvino", "onnxruntime"], precisions=["fp32", "int8"],
        max_accuracy_drop="100", **QUICK,
    )  # fmt: skip


def _int8_measured(run, runtime):
    """Skip where the CPU's verdict skipped INT8 (no VNNI or AMX): the probe decides."""
    int8 = next(
        o for o in run.outcomes
        if o.candidate.runtime == runtime and o.candidate.precision == "int8"
    )  # fmt: skip
    if int8.state is RowState.SKIPPED:
        pytest.skip(f"{runtime} int8 skipped on this CPU: {int8.reason}")
    return int8


def test_openvino_candidates_are_profiled_per_layer_type_with_their_kernels_precision(profiled):
    _int8_measured(profiled, "openvino")
    labels = {p.label: p for p in profiled.profiles}
    assert labels, profiled.notes
    assert profiled.profiles[0].label == profiled.winner.candidate.label
    int8 = labels["openvino int8 t-default b1"]
    fp32 = labels["openvino fp32 t-default b1"]
    assert {t.precision for t in fp32.layers if t.kind == "Convolution"} == {"f32"}
    assert "int8" in {t.precision for t in int8.layers if t.kind == "Convolution"}
    for profile in (int8, fp32):
        assert profile.source == "OpenVINO PERF_COUNT"
        assert profile.total_us > 0
        assert all(t.layers >= 1 and t.us >= 0 for t in profile.layers)


def test_onnx_runtime_candidates_are_profiled_by_its_profiler(profiled):
    _int8_measured(profiled, "onnxruntime")
    labels = {p.label: p for p in profiled.profiles}
    fp32 = labels["onnxruntime fp32 t-default b1"]
    int8 = labels["onnxruntime int8 t-default b1"]
    assert fp32.source == int8.source == "ONNX Runtime profiler"
    assert {t.precision for t in fp32.layers if t.kind == "Conv"} == {"f32"}
    kinds = {t.kind for t in int8.layers}
    assert kinds & {"QuantizeLinear", "QLinearConv", "DequantizeLinear"}  # QDQ ran quantized
    assert "int8" in {t.precision for t in int8.layers}


def test_the_int8_explanation_is_read_from_the_layer_times(profiled):
    int8 = _int8_measured(profiled, "openvino")
    assert "measured per layer type (OpenVINO PERF_COUNT" in int8.explanation
    assert "Convolution" in int8.explanation
    ort = _int8_measured(profiled, "onnxruntime")
    assert "measured per layer type (ONNX Runtime profiler" in ort.explanation


def test_the_report_and_json_show_the_profiles(profiled):
    from hwfit.cli.render.optimize import optimize_json, optimize_table

    html = profiled.report_path.read_text()
    assert "Where the time goes, per layer type (measured)" in html
    data = json.loads(json.dumps(optimize_json(profiled)))
    assert [p["label"] for p in data["profiles"]] == [p.label for p in profiled.profiles]
    assert data["profiles"][0]["layers"][0]["kind"]
    _, lines = optimize_table(profiled)
    assert any(line.startswith("Where the time goes") for line in lines)


def test_a_runtime_without_counters_says_so(factory_module):
    model = load_model(f"{factory_module}:small_cnn", input_shape="1x3x32x32")
    got = layer_profile((model.info, RunConfig(runtime="torch")), runs=3)
    assert isinstance(got, str)
    assert "no per-layer counters" in got
    got = layer_profile((model.info, RunConfig(runtime="openvino", precision="fp32")), runs=3)
    assert not isinstance(got, str)
    layers, executed = got
    assert executed.startswith("fp32")
    assert sum(t.layers for t in layers) >= 3  # conv, relu/pool, linear at least


def _profile(label, **kinds):
    layers = tuple(LayerTime(k, p, 1, us) for k, (p, us) in kinds.items())
    return LayerProfile(label, "x", 10, layers, "OpenVINO PERF_COUNT")


def test_layer_reasons_name_what_got_faster_slower_and_the_conversions():
    int8 = _profile(
        "int8", Convolution=("int8", 500.0), GroupConvolution=("bf16", 300.0),
        Reorder=("f32", 120.0), FakeQuantize=("int8", 80.0),
    )  # fmt: skip
    fp32 = _profile("fp32", Convolution=("f32", 1000.0), GroupConvolution=("f32", 200.0))
    text = layer_reasons(int8, fp32, "int8")
    assert "Convolution 500 vs 1000 (faster)" in text
    assert "GroupConvolution 300 vs 200 (slower)" in text
    assert "(reorders, (de)quantize) 200 vs 0" in text
    assert "its kernels ran in bf16, int8" in text
    int8 = _profile("int8", FullyConnectedQuantizedLegacy=("int8", 50.0))
    fp32 = _profile("fp32", FullyConnected=("f32", 100.0))
    assert "FullyConnected 50 vs 100 (faster)" in layer_reasons(int8, fp32, "int8")
    int8 = _profile(
        "int8", QLinearConv=("int8", 70.0), QuantizeLinear=("f32", 5.0), NhwcMaxPool=("int8", 9.0)
    )
    fp32 = _profile("fp32", Conv=("f32", 100.0), MaxPool=("f32", 10.0))
    text = layer_reasons(int8, fp32, "int8")
    assert "Conv 70 vs 100 (faster)" in text
    assert "MaxPool 9 vs 10 (faster)" in text
