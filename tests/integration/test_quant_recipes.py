"""INT8 recipes end to end: real ONNX Runtime, OpenVINO and NNCF on timm's ``test_resnet``.

Each recipe quantizes the tiny model on smooth synthetic images, and hwfit's own runtime then
loads the file, reads back the precision it executes and runs it on held-out images.

test_resnet has random weights: its raw top-1 is one of two classes for nearly every input, so
top-1 agreement with FP32 is easy to keep. The tests also compare the input-dependent part of
the logits (minus their FP32 mean over the inputs), which quantization error does move.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np
import pytest

from hwfit.errors import InputShapeError, RuntimeFailure, UserError
from hwfit.models import load_model
from hwfit.precisions import RECIPES, Precision
from hwfit.precisions.base import QuantData
from hwfit.records import RunConfig
from hwfit.runtimes import get_runtime
from hwfit.runtimes.executed import precision_name
from hwfit.runtimes.ov_runtime import fast_float

TINY = "timm:test_resnet"  # 0.47 M params, 1x3x160x160


def _patterns(n: int, seed: int, size: int = 160) -> np.ndarray:
    """Smooth images: three plane waves and a Gaussian blob per channel, standardized."""
    rng = np.random.default_rng(seed)
    yy, xx = np.meshgrid(np.linspace(0, 1, size), np.linspace(0, 1, size), indexing="ij")
    images = np.zeros((n, 3, size, size))
    for image in images:
        for channel in image:
            for _ in range(3):
                fx, fy = rng.uniform(0.5, 6, 2)
                channel += rng.uniform(0.3, 1) * np.sin(
                    2 * np.pi * (fx * xx + fy * yy) + rng.uniform(0, 2 * np.pi)
                )
            cx, cy = rng.uniform(0.2, 0.8, 2)
            width = rng.uniform(0.05, 0.3)
            channel += rng.uniform(-2, 2) * np.exp(
                -((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * width**2)
            )
    return ((images - images.mean()) / images.std()).astype(np.float32)


def _infer(compiled, x: np.ndarray, batch: int = 1) -> np.ndarray:
    return np.concatenate([compiled.infer(x[i : i + batch]) for i in range(0, len(x), batch)])


def _agreement(reference: np.ndarray, logits: np.ndarray) -> float:
    return float(np.mean(reference.argmax(1) == logits.argmax(1)))


def _centered_agreement(reference: np.ndarray, logits: np.ndarray) -> float:
    mean = reference.mean(0)
    return _agreement(reference - mean, logits - mean)


def _centered_correlation(reference: np.ndarray, logits: np.ndarray) -> float:
    mean = reference.mean(0)
    return float(np.corrcoef((reference - mean).ravel(), (logits - mean).ravel())[0, 1])


@pytest.fixture(scope="module")
def tiny():
    return load_model(TINY)


@pytest.fixture(scope="module")
def calibration() -> np.ndarray:
    return _patterns(64, seed=1)


@pytest.fixture(scope="module")
def validation() -> np.ndarray:
    return _patterns(32, seed=2)


@pytest.fixture(scope="module")
def reference(tiny, validation) -> np.ndarray:
    """FP32 logits on the validation images, from hwfit's ONNX Runtime."""
    compiled = get_runtime("onnxruntime")().compile(tiny, RunConfig(runtime="onnxruntime"))
    return _infer(compiled, validation)


@pytest.fixture(scope="module")
def data(calibration, validation, reference) -> QuantData:
    return QuantData(
        calibration=calibration,
        validation=validation,
        metric=lambda outputs: _agreement(reference, outputs[0]),  # every output; one here
        max_drop=0.5,  # generous: accuracy control keeps plain INT8
    )


def _recipe(key: str):
    runtime, precision = key.split(":")
    return RECIPES.load(key)(runtime, Precision(precision))


@dataclasses.dataclass(frozen=True)
class Case:
    key: str  # "runtime:precision"
    file: str  # what prepare() writes under out_dir
    kind: str
    executed: str  # the precision the runtime reads back ("int8": every compute layer, u8 or i8)
    int8_layers: str  # details["int8_compute_layers"]


CASES = [
    Case("onnxruntime:int8", "model_int8.onnx", "onnx", "int8", "16 of 16"),
    Case("openvino:int8", "model_int8.xml", "openvino", "int8", "16 of 16"),
    Case("openvino:int8-mixed", "model_int8_mixed.xml", "openvino", "int8", "16 of 16"),
    # Dynamic INT8 leaves convolutions in FP32: only the classifier changes on a CNN.
    Case("onnxruntime:int8-dynamic", "model_int8_dynamic.onnx", "onnx", "fp32", "1 of 16"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.key for c in CASES])
def test_recipe_writes_a_model_its_runtime_runs_close_to_fp32(
    case, tiny, data, validation, reference, tmp_path, capsys
):
    runtime, precision = case.key.split(":")
    prepared = _recipe(case.key).prepare(tiny, tiny.info.input, tmp_path, data)

    assert capsys.readouterr().out == ""  # no progress bars or log lines on stdout
    assert prepared.path == tmp_path / case.file
    assert prepared.kind == case.kind
    assert prepared.seconds > 0
    assert prepared.details["int8_compute_layers"] == case.int8_layers
    compiled = get_runtime(runtime)().compile(
        load_model(str(prepared.path)), RunConfig(runtime=runtime, precision=precision)
    )
    assert compiled.executed.precision == case.executed
    logits = _infer(compiled, validation)
    # Measured on this model and data: raw top-1 agreement 1.0 for every recipe; the
    # input-dependent part correlates at 0.995 (ORT static), 0.96 (OpenVINO/NNCF: its default
    # activation ranges clip the rare extremes of these synthetic images), 0.999 (dynamic).
    assert _agreement(reference, logits) >= 0.9
    assert _centered_correlation(reference, logits) >= 0.9


def test_ort_static_int8_details_say_what_was_done(tiny, data, tmp_path):
    details = _recipe("onnxruntime:int8").prepare(tiny, tiny.info.input, tmp_path, data).details

    assert details["format"] == "QDQ"
    assert details["per_channel"] == "true"
    assert details["calibration"] == "MinMax"
    assert details["calibration_samples"] == "64"
    assert details["activations"].startswith("uint8")
    assert details["weights"].startswith("int8")
    assert not list(tmp_path.glob("*preprocessed*"))  # the intermediate file is removed


def test_ort_dynamic_int8_note_says_convolutions_stay_fp32(tiny, tmp_path):
    prepared = _recipe("onnxruntime:int8-dynamic").prepare(tiny, tiny.info.input, tmp_path, None)

    assert "MatMul/Gemm" in prepared.details["note"]
    assert "convolutions stay FP32" in prepared.details["note"]


def test_ort_static_int8_feeds_full_batches_when_samples_do_not_divide(
    tiny, calibration, tmp_path
):
    spec = tiny.info.input.with_batch(4)
    data = QuantData(calibration=calibration[:30])  # 7 full batches and one of 2

    prepared = _recipe("onnxruntime:int8").prepare(tiny, spec, tmp_path, data)

    assert prepared.details["calibration_samples"] == "30"
    compiled = get_runtime("onnxruntime")().compile(
        load_model(str(prepared.path)), RunConfig(runtime="onnxruntime", batch=4, precision="int8")
    )
    assert compiled.executed.precision == "int8"
    assert compiled.infer(calibration[:4]).shape == (4, 1000)


def test_ov_mixed_int8_details_report_accuracy_control(tiny, data, tmp_path):
    details = _recipe("openvino:int8-mixed").prepare(tiny, tiny.info.input, tmp_path, data).details

    assert details["float_compute_layers"] == "0"
    assert details["reverted_to_float"].startswith("0 ")
    assert details["metric_fp32"] == "1.0"
    assert details["validation_samples"] == "32"
    assert logging.getLogger("nncf").level == logging.INFO  # NNCF's own setting, restored


def test_ov_mixed_int8_reverts_layers_when_the_budget_is_strict(
    tiny, calibration, validation, reference, tmp_path
):
    strict = QuantData(
        calibration=calibration,
        validation=validation,
        metric=lambda outputs: _centered_agreement(reference, outputs[0]),
        max_drop=0.0,
    )

    prepared = _recipe("openvino:int8-mixed").prepare(tiny, tiny.info.input, tmp_path, strict)

    assert int(prepared.details["float_compute_layers"]) > 0
    assert not prepared.details["reverted_to_float"].startswith(("0 ", "unknown"))
    compiled = get_runtime("openvino")().compile(
        load_model(str(prepared.path)), RunConfig(runtime="openvino", precision="int8-mixed")
    )
    # Mixed: the label counts each precision, e.g. "int8 (compute layers int8:n, fp32:m)".
    assert "(compute layers " in compiled.executed.precision
    # The reverted layers run in the CPU's fast float (BF16 where it has it), as OpenVINO's
    # defaults would, which NNCF validated them with.
    assert f"{precision_name(fast_float())}:" in compiled.executed.precision


STATIC = ["onnxruntime:int8", "openvino:int8", "openvino:int8-mixed"]


@pytest.mark.parametrize("key", STATIC)
@pytest.mark.parametrize("empty", [True, False], ids=["empty-calibration", "no-data"])
def test_static_recipe_without_calibration_data_raises_user_error(key, empty, tiny, tmp_path):
    data = QuantData(calibration=np.zeros((0, 3, 160, 160), np.float32)) if empty else None

    with pytest.raises(UserError, match="needs calibration data: pass --data"):
        _recipe(key).prepare(tiny, tiny.info.input, tmp_path, data)


def test_ov_mixed_int8_without_validation_data_raises_user_error(tiny, calibration, tmp_path):
    with pytest.raises(UserError, match="needs validation data and a metric") as raised:
        _recipe("openvino:int8-mixed").prepare(
            tiny, tiny.info.input, tmp_path, QuantData(calibration=calibration)
        )
    assert raised.value.hint


@pytest.mark.parametrize("key", STATIC)
def test_static_recipe_with_wrongly_shaped_samples_raises_input_shape_error(key, tiny, tmp_path):
    data = QuantData(calibration=np.zeros((8, 3, 224, 224), np.float32))

    with pytest.raises(InputShapeError, match=r"\(3, 224, 224\)"):
        _recipe(key).prepare(tiny, tiny.info.input, tmp_path, data)


def test_ov_mixed_int8_failing_metric_raises_runtime_failure(
    tiny, calibration, validation, tmp_path
):
    def broken(outputs: tuple[np.ndarray, ...]) -> float:
        raise ValueError("metric exploded")

    data = QuantData(calibration=calibration[:8], validation=validation[:8], metric=broken)

    with pytest.raises(RuntimeFailure, match="metric exploded"):
        _recipe("openvino:int8-mixed").prepare(tiny, tiny.info.input, tmp_path, data)
    assert logging.getLogger("nncf").level == logging.INFO


def test_recipe_output_stays_under_out_dir(tiny, data, tmp_path):
    out_dir = tmp_path / "candidate"
    _recipe("openvino:int8").prepare(tiny, tiny.info.input, out_dir, data)

    written = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert written == [Path("candidate/model_int8.bin"), Path("candidate/model_int8.xml")]
