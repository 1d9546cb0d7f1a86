"""Targets, per-layer features, the learned latency predictor and its quality measures."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from hwfit.errors import UserError
from hwfit.nas.latency import (
    FEATURE_KEYS,
    PREDICTORS,
    LearnedPredictor,
    cross_validate,
    evaluate,
    layer_features,
    score,
)
from hwfit.nas.latency.features import ACT_TYPES, KINDS
from hwfit.nas.latency.learned import AUTO_MARGIN, MODES
from hwfit.nas.target import Target, default_target, parse_target

# --- targets ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("openvino:int8:bs1:cpu", "openvino:int8:bs1:cpu"),
        ("onnxruntime", "onnxruntime:int8:bs1:cpu"),
        ("fp32:openvino", "openvino:fp32:bs1:cpu"),
        ("cpu:bs8:onnxruntime:fp32", "onnxruntime:fp32:bs8:cpu"),
        (" OpenVINO:INT8:b4 ", "openvino:int8:bs4:cpu"),
        ("int8-mixed", "openvino:int8-mixed:bs1:cpu"),
    ],
)
def test_parse_target_reads_parts_in_any_order(text, expected):
    target = parse_target(text)
    assert str(target) == expected
    assert parse_target(str(target)) == target


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("openvno:int8", "did you mean 'openvino'"),
        ("tensorflow", "Unknown part 'tensorflow'"),
        ("openvino:onnxruntime", "runtime twice"),
        ("onnxruntime:fp16", "no fp16 recipe"),
        ("openvino::cpu", "Empty part"),
        ("", "Empty target"),
        ("openvino:bs0", "batch must be >= 1"),
    ],
)
def test_parse_target_rejects_bad_text_with_the_form(text, needle):
    with pytest.raises(UserError) as info:
        parse_target(text)
    assert needle in str(info.value)
    assert "\n" not in info.value.message


def test_target_defaults_and_plugin_names():
    assert str(Target()) == "openvino:int8:bs1:cpu"
    assert Target(runtime="onnxruntime").runtime_plugin == "onnxruntime"
    assert Target(runtime="onnxruntime", device="gpu").runtime_plugin == "onnxruntime-cuda"
    with pytest.raises(UserError, match="cannot be searched for"):
        Target(runtime="torch").validate()


def test_default_target_is_int8_where_openvino_int8_pays_and_fp32_without():
    from hwfit.hardware import probe

    profile = probe(include_runtimes=False)

    def on(*features: str):
        cpu = dataclasses.replace(profile.cpu, arch="x86_64", features=features)
        return dataclasses.replace(profile, cpu=cpu)

    assert default_target(on("avx512_vnni")) == Target("openvino", "int8")
    assert default_target(on("avx2", "fma")) == Target("openvino", "int8")  # AVX2 kernels win
    assert default_target(on("sse4_2")) == Target("openvino", "fp32")


# --- features ---------------------------------------------------------------------------


def _mobilenet(width: str):
    import timm

    return timm.create_model(f"mobilenetv2_{width}", num_classes=10)


def test_layer_features_have_the_fixed_keys_and_count_layers():
    model = _mobilenet("050")
    features = layer_features(model, (1, 3, 64, 64))
    assert tuple(features) == FEATURE_KEYS
    assert all(isinstance(v, float) and math.isfinite(v) for v in features.values())
    # MobileNetV2: one depthwise-separable block and 16 inverted residuals, all 3x3 depthwise.
    assert features["blocks"] == 17
    assert features["dw3_layers"] == 17
    assert features["dw5_layers"] == features["dw7_layers"] == 0
    assert features["conv_layers"] == 1  # the stem
    assert features["linear_layers"] == 1  # the classifier
    assert features["residual_blocks"] == 10
    assert features["se_layers"] == 0
    assert features["macs"] == pytest.approx(sum(features[f"{k}_macs"] for k in KINDS))
    assert features["layers"] == sum(features[f"{k}_layers"] for k in KINDS)
    # ReLU6 everywhere (stem, 17 depthwise, 16 expansions, head): nothing beyond the clamp.
    assert features["act_relu6_layers"] == features["act_layers"] == 35
    assert features["act_extra_layers"] == features["act_extra_bytes"] == 0
    assert features["se_blocks"] == features["se_bytes"] == 0
    # At 32 px the last stages run on 1x1 maps: their 1x1 convolutions are matrix-vector
    # products, counted with the squeeze-excite gates.
    assert layer_features(model, (1, 3, 32, 32))["se_layers"] == 8
    assert not any(m._forward_hooks for m in model.modules())  # hooks are removed
    assert model.training  # the mode is restored


def test_layer_features_grow_with_width_and_resolution():
    narrow, wide = _mobilenet("050"), _mobilenet("100")
    small = layer_features(narrow, (1, 3, 32, 32))
    for bigger in (layer_features(wide, (1, 3, 32, 32)), layer_features(narrow, (1, 3, 64, 64))):
        for key in ("macs", "out_bytes", "conv1x1_macs", "dw3_macs", "dw_out_bytes"):
            assert bigger[key] > small[key], key
        assert bigger["layers"] == small["layers"]
    assert layer_features(wide, (1, 3, 32, 32))["params"] > small["params"]
    assert layer_features(narrow, (1, 3, 64, 64))["params"] == small["params"]


def test_layer_features_sort_kernels_and_squeeze_excite():
    import timm

    # mobilenetv3: 3x3 and 5x5 depthwise convolutions, squeeze-excite gates on 1x1 maps.
    features = layer_features(timm.create_model("mobilenetv3_small_050"), (1, 3, 32, 32))
    assert features["dw3_layers"] > 0
    assert features["dw5_layers"] > 0
    assert features["se_layers"] > 0
    assert features["dw_layers"] == features["dw3_layers"] + features["dw5_layers"]


def test_layer_features_count_activation_types_and_squeeze_excite():
    from hwfit.nas.spaces import space_for

    space = space_for("mobilenetv2_100", num_classes=10, resolution=64)
    values = space.baseline().as_dict()
    values.update(s2_act="relu", s3_act="hard_swish", s4_act="silu", s5_se=True)
    arch = space.decode(values)
    features = layer_features(space.build(arch), space.input_shape(arch))
    # Two activations per inverted residual (after the expansion and the depthwise conv).
    assert features["act_relu_layers"] == 2 * 3
    assert features["act_hard_swish_layers"] == 2 * 4
    assert features["act_silu_layers"] == 2 * 3
    assert features["act_relu6_layers"] == 35 - 6 - 8 - 6
    assert features["act_extra_layers"] == 6 + 8 + 6
    assert features["act_extra_bytes"] == sum(
        features[f"act_{t}_bytes"] for t in ACT_TYPES if t != "relu6"
    )
    assert features["act_hard_swish_bytes"] > 0
    # Stage 5: three blocks with squeeze-excite on 2x2 maps of 576, 960 and 960 channels; their
    # gates (reduce activation and sigmoid on 1x1 maps) are not counted per activation type.
    assert features["se_blocks"] == 3
    assert features["se_gate_bytes"] == (576 + 960 + 960) * 4
    assert features["se_bytes"] == (576 + 960 + 960) * 2 * 2 * 4
    assert features["act_layers"] == 35 + 2 * 3
    assert sum(features[f"act_{t}_layers"] for t in ACT_TYPES) == 35


# --- the predictor ----------------------------------------------------------------------


def _synthetic(n: int, seed: int, noise: float = 0.02):
    """Random feature dicts and a known latency: a * MACs + b * bytes + c * layers (+ noise)."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        row = dict.fromkeys(FEATURE_KEYS, 0.0)
        row["layers"] = float(rng.integers(20, 80))
        row["conv1x1_macs"] = float(rng.uniform(1e6, 60e6))
        row["dw3_macs"] = float(rng.uniform(1e5, 5e6))
        row["dw_out_bytes"] = float(rng.uniform(1e5, 3e6))
        row["conv1x1_out_bytes"] = float(rng.uniform(1e5, 3e6))
        row["macs"] = row["conv1x1_macs"] + row["dw3_macs"]
        row["resolution"] = float(rng.choice([48, 64, 96]))
        rows.append(row)
    truth = np.array(
        [
            0.05
            + 0.004 * r["layers"]
            + 2e-8 * r["conv1x1_macs"]
            + 1e-7 * r["dw3_macs"]
            + 3e-7 * r["dw_out_bytes"]
            for r in rows
        ]
    )
    return rows, truth * (1 + noise * rng.standard_normal(n))


@pytest.mark.parametrize("mode", MODES)
def test_learned_predictor_learns_a_known_relation(mode):
    rows, y = _synthetic(80, seed=1)
    quality = evaluate(LearnedPredictor(mode), rows, y, test_fraction=0.25, seed=0)
    assert quality.n_train == 60
    assert quality.n_test == 20
    if mode == "gbt":  # trees alone cannot extrapolate a linear law well; still useful
        assert quality.within_10 >= 0.5
        assert quality.kendall_tau > 0.6
    else:
        assert quality.within_10 >= 0.9
        assert quality.kendall_tau > 0.8
        assert quality.mape < 0.05


def test_auto_mode_picks_by_cross_validation():
    rows, y = _synthetic(60, seed=2)
    predictor = LearnedPredictor()
    predictor.fit(rows, y)
    assert set(predictor.cv_mape) == {"linear", "linear+gbt", "gbt"}
    best = min(predictor.cv_mape, key=predictor.cv_mape.__getitem__)
    if predictor.cv_mape[best] < predictor.cv_mape["linear"] * (1 - AUTO_MARGIN):
        assert predictor.chosen == best
    else:
        assert predictor.chosen == "linear"
    assert predictor.chosen != "gbt"  # a linear law is best described by the cost model


def test_auto_mode_takes_trees_when_the_cost_model_misses_a_law():
    # Latency doubles above a resolution threshold: no sum of costs says that, trees can.
    rows, y = _synthetic(120, seed=6, noise=0.01)
    y = np.array(
        [t * (2.0 if r["resolution"] > 64 else 1.0) for r, t in zip(rows, y, strict=True)]
    )
    predictor = LearnedPredictor()
    predictor.fit(rows, y)
    assert predictor.chosen in ("linear+gbt", "gbt")
    assert predictor.cv_mape[predictor.chosen] < predictor.cv_mape["linear"] * (1 - AUTO_MARGIN)


def test_cost_model_resists_measurements_slowed_by_other_processes():
    # A tenth of the measurements are slowed down by 30-60% (another process ran): the Huber fit
    # keeps predicting the true latency of every model within 4% (1% on average).
    rows, truth = _synthetic(80, seed=7, noise=0.0)
    slowed = np.random.default_rng(7).choice(80, size=8, replace=False)
    y = truth.copy()
    y[slowed] *= np.linspace(1.3, 1.6, len(slowed))
    predictor = LearnedPredictor("linear")
    predictor.fit(rows, y)
    error = np.abs(predictor.predict(rows) - truth) / truth
    assert error.max() < 0.04, error.max()  # least squares: 10% max, 2.8% mean
    assert error.mean() < 0.01


def test_cost_model_separates_activation_types():
    # Models alike but for hard-swish and SiLU layers in varying numbers, each type at its own
    # cost per layer and per byte: the cost model learns both and applies them to unseen mixes
    # (one lumped "extra activation" term could not fit them both).
    rows, y = _synthetic(60, seed=8, noise=0.0)
    rng = np.random.default_rng(8)
    for row in rows:
        for act in ("hard_swish", "silu"):
            row[f"act_{act}_layers"] = float(rng.integers(0, 30))
            row[f"act_{act}_bytes"] = row[f"act_{act}_layers"] * float(rng.uniform(1e4, 4e4))
    y = y + np.array(
        [
            0.003 * r["act_hard_swish_layers"]
            + 2e-7 * r["act_hard_swish_bytes"]
            + 0.008 * r["act_silu_layers"]
            + 5e-7 * r["act_silu_bytes"]
            for r in rows
        ]
    )
    quality = evaluate(LearnedPredictor("linear"), rows, y, test_fraction=0.25, seed=0)
    assert quality.mape < 0.01


def test_predictor_save_load_round_trip(tmp_path):
    rows, y = _synthetic(40, seed=3)
    predictor = LearnedPredictor("linear+gbt", seed=7)
    predictor.fit(rows, y)
    path = tmp_path / "sub" / "latency_predictor.pkl"
    predictor.save(path)
    loaded = LearnedPredictor.load(path)
    assert loaded.chosen == "linear+gbt"
    np.testing.assert_array_equal(loaded.predict(rows), predictor.predict(rows))
    assert loaded.predict_one(rows[0]) == pytest.approx(float(predictor.predict(rows[:1])[0]))


def test_predictor_refuses_bad_use(tmp_path):
    rows, y = _synthetic(12, seed=4)
    with pytest.raises(UserError, match="not fitted"):
        LearnedPredictor().predict(rows)
    with pytest.raises(UserError, match="Unknown latency predictor mode"):
        LearnedPredictor("forest")
    with pytest.raises(UserError, match="at least 4"):
        LearnedPredictor().fit(rows[:3], y[:3])
    with pytest.raises(UserError, match="> 0 ms"):
        LearnedPredictor().fit(rows, [*y[:-1], math.nan])
    predictor = LearnedPredictor("linear")
    predictor.fit(rows, y)
    broken = dict(rows[0])
    del broken["dw3_macs"]
    with pytest.raises(UserError, match="'dw3_macs' is missing"):
        predictor.predict([broken])
    with pytest.raises(UserError, match="No latency predictor"):
        LearnedPredictor.load(tmp_path / "missing.pkl")
    (tmp_path / "junk.pkl").write_bytes(b"not a pickle")
    with pytest.raises(UserError, match="not a readable"):
        LearnedPredictor.load(tmp_path / "junk.pkl")


def test_predictor_is_registered():
    assert PREDICTORS.load("learned") is LearnedPredictor


# --- quality ----------------------------------------------------------------------------


def test_score_on_known_numbers():
    quality = score([1.0, 2.3, 2.9, 5.0], [1.0, 2.0, 3.0, 4.0], n_train=9)
    assert quality.n_train == 9
    assert quality.n_test == 4
    assert quality.mape == pytest.approx((0 + 0.15 + 1 / 30 + 0.25) / 4)
    assert quality.within_10 == pytest.approx(0.5)
    assert quality.kendall_tau == pytest.approx(1.0)
    assert "50% within +-10%" in quality.summary()
    reversed_order = score([4.0, 3.0, 2.0, 1.0], [1.0, 2.0, 3.0, 4.0])
    assert reversed_order.kendall_tau == pytest.approx(-1.0)


def test_cross_validation_predicts_every_measurement_once():
    rows, y = _synthetic(40, seed=5)
    quality = cross_validate(lambda: LearnedPredictor("linear"), rows, y, folds=4, seed=0)
    assert quality.n_test == 40
    assert quality.n_train == 30
    assert quality.within_10 >= 0.9
    with pytest.raises(UserError, match="folds"):
        cross_validate(LearnedPredictor, rows[:3], y[:3], folds=5)
    with pytest.raises(UserError, match="test_fraction"):
        evaluate(LearnedPredictor(), rows, y, test_fraction=1.5)
