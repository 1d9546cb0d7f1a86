"""Models that are not classifiers: several outputs, per-pixel maps, one number per sample.

Real runtimes: every output comes back from each runtime, the label-free guard compares every
output with the FP32 model's, and an artifact's predictor returns them all.
"""

import numpy as np
import pytest
from test_optimize import QUICK as OPTIMIZE_QUICK
from test_optimize import _write_images

import hwfit
from hwfit.errors import UserError
from hwfit.models import load_model
from hwfit.records import RowState, RunConfig
from hwfit.runtimes import get_runtime

QUICK = {**OPTIMIZE_QUICK, "input_shape": "1x3x32x32"}  # the colour models' images


@pytest.fixture(scope="module")
def flat(tmp_path_factory):
    return _write_images(tmp_path_factory.mktemp("flat"), per_class=8, labelled=False)


@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    return _write_images(tmp_path_factory.mktemp("labelled"), per_class=8, labelled=True)


@pytest.mark.parametrize("runtime", ["torch", "onnxruntime", "openvino"])
def test_every_runtime_returns_every_output(runtime):
    model = load_model("colour_model:colour_two_heads", input_shape="1x3x32x32")
    x = np.random.default_rng(0).standard_normal((3, 3, 32, 32)).astype(np.float32)
    expected = get_runtime("torch")().compile(model, RunConfig(runtime="torch")).infer_outputs(x)
    assert [e.shape for e in expected] == [(3, 3), (3, 4, 32, 32)]
    compiled = get_runtime(runtime)().compile(model, RunConfig(runtime=runtime, precision="fp32"))
    outputs = compiled.infer_all_outputs(x, 1)  # three chunks of the static batch
    assert len(outputs) == 2
    for got, want in zip(outputs, expected, strict=True):
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(compiled.infer_all(x, 1), outputs[0])


def test_openvino_throughput_queue_returns_every_output():
    model = load_model("colour_model:colour_two_heads", input_shape="2x3x32x32")
    x = np.random.default_rng(0).standard_normal((5, 3, 32, 32)).astype(np.float32)
    plain = get_runtime("openvino")().compile(model, RunConfig(runtime="openvino", batch=2))
    queued = get_runtime("openvino")().compile(
        model,
        RunConfig(runtime="openvino", batch=2, options=(("PERFORMANCE_HINT", "THROUGHPUT"),)),
    )
    for got, want in zip(
        queued.infer_all_outputs(x, 2), plain.infer_all_outputs(x, 2), strict=True
    ):
        assert got.shape[0] == 5
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


@pytest.fixture(scope="module")
def two_heads_run(flat, tmp_path_factory):
    return hwfit.optimize(
        "colour_model:colour_two_heads",
        str(flat),
        out=tmp_path_factory.mktemp("out") / "two",
        runtimes=["openvino"],
        precisions=["fp32", "int8"],
        max_accuracy_drop="100",
        metric="user_evaluators:feature_error",
        **QUICK,
    )


def test_label_free_guard_compares_every_output(two_heads_run):
    """Fidelity to the FP32 model is computed for every output, whatever the metric."""
    result = two_heads_run
    by_precision = {o.candidate.precision: o for o in result.outcomes}
    fp32, int8 = by_precision["fp32"], by_precision["int8"]
    for outcome in (fp32, int8):
        keys = set(outcome.accuracy)
        assert {"cosine_0", "cosine_1", "max_abs_error_0", "max_abs_error_1"} <= keys
        assert outcome.accuracy["cosine"] == min(
            outcome.accuracy["cosine_0"], outcome.accuracy["cosine_1"]
        )
        assert outcome.accuracy["max_abs_error"] == max(
            outcome.accuracy["max_abs_error_0"], outcome.accuracy["max_abs_error_1"]
        )
    assert fp32.accuracy["max_abs_error_1"] < 1e-3  # the same float computation
    assert int8.accuracy["max_abs_error_1"] > fp32.accuracy["max_abs_error_1"]  # INT8 moved it


def test_a_users_evaluator_gets_every_output(two_heads_run):
    """The run's budget guards the evaluator's error of the second output (a tuple reached it)."""
    result = two_heads_run
    assert result.metric == "feature_error"
    assert result.higher_is_better is False
    by_precision = {o.candidate.precision: o for o in result.outcomes}
    assert by_precision["fp32"].accuracy["feature_error"] < 1e-6
    assert by_precision["int8"].accuracy["feature_error"] > 0


def test_the_artifact_predicts_every_output(two_heads_run):
    predictor = hwfit.load(two_heads_run.out_dir)
    x = np.random.default_rng(2).standard_normal((3, 3, 32, 32)).astype(np.float32)
    outputs = predictor.predict(x)
    assert isinstance(outputs, tuple)
    assert [o.shape for o in outputs] == [(3, 3), (3, 4, 32, 32)]
    assert predictor.self_check() < 1e-3


def test_a_per_pixel_map_is_guarded_by_pixel_agreement(labelled, tmp_path):
    result = hwfit.optimize(
        "colour_model:colour_segmenter",
        str(labelled),
        out=tmp_path / "out",
        runtimes=["onnxruntime"],
        precisions=["fp32"],
        **QUICK,
    )
    assert result.metric == "agreement"
    assert any("is a map shaped (3, 32, 32) per sample" in n for n in result.notes)
    winner = result.winner
    assert winner is not None
    assert winner.state is RowState.COMPLETE
    assert winner.accuracy["agreement"] == 100.0
    assert "top1" not in winner.accuracy  # the labels were not used


def test_a_segmenter_with_masks_is_guarded_by_mean_iou(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((12, 3, 32, 32)).astype(np.float32)
    masks = x.argmax(axis=1)  # what the colour segmenter finds, per pixel...
    masks[:, :8] = (masks[:, :8] + 1) % 3  # ...but a quarter of the rows labelled otherwise
    masks[:, -2:] = 255  # ignored
    np.savez(tmp_path / "seg.npz", x=x, masks=masks)
    result = hwfit.optimize(
        "colour_model:colour_segmenter",
        str(tmp_path / "seg.npz"),
        out=tmp_path / "out",
        runtimes=["onnxruntime"],
        precisions=["fp32"],
        calib_size=4,
        val_size=8,
        **QUICK,
    )
    assert result.metric == "miou"  # masks given: mean IoU by default
    reference = result.baseline.accuracy
    winner = result.winner
    assert winner is not None
    assert winner.state is RowState.COMPLETE
    # 8 of the 30 labelled rows of every image disagree, whichever images validate.
    assert reference["pixel_accuracy"] == pytest.approx(100 * 22 / 30)
    assert 30.0 < reference["miou"] < 80.0
    assert winner.accuracy["miou"] == pytest.approx(reference["miou"], abs=0.01)
    assert winner.accuracy["pixel_accuracy"] == pytest.approx(
        reference["pixel_accuracy"], abs=0.01
    )
    np.savez(tmp_path / "bad.npz", x=x, masks=masks[:, 0])
    with pytest.raises(UserError, match=r"'masks' in .* shaped \(12, 32\)"):
        hwfit.optimize(
            "colour_model:colour_segmenter", str(tmp_path / "bad.npz"), out=tmp_path / "bad",
            runtimes=["onnxruntime"], precisions=["fp32"], calib_size=4, val_size=8, **QUICK,
        )  # fmt: skip


def test_one_number_per_sample_needs_a_users_metric(flat, tmp_path):
    with pytest.raises(UserError, match=r"shaped \(1,\) per sample, with no class axis") as info:
        hwfit.optimize(
            "colour_model:colour_brightness",
            str(flat),
            out=tmp_path / "out",
            runtimes=["onnxruntime"],
            precisions=["fp32"],
            **QUICK,
        )
    assert "--metric module:function" in info.value.hint
