"""Every model source, for real, and the errors a user meets with bad input."""

import pytest

from hwfit.errors import InputShapeError, ModelSourceError, UnknownNameError, UserError
from hwfit.models import load_model

TINY = "timm:test_resnet"


def test_timm_shape_from_config_and_stable_hash():
    a = load_model(TINY)
    b = load_model(TINY)
    assert a.info.kind == "torch"
    assert a.info.input.shape == (1, 3, 160, 160)
    assert a.info.content_hash == b.info.content_hash  # random weights, but seeded
    assert a.info.params == sum(p.numel() for p in a.torch_module().parameters())
    assert a.info.macs
    assert a.info.macs > 10_000_000


def test_timm_unknown_name_suggests_close_names():
    with pytest.raises(UnknownNameError, match=r"Unknown timm model 'resnet_18'.*resnet18"):
        load_model("timm:resnet_18")


def test_timm_weights_change_the_hash_and_bad_weights_are_refused(tmp_path, tiny_module):
    import torch

    state = {k: v + 1 if v.is_floating_point() else v for k, v in tiny_module.state_dict().items()}
    good = tmp_path / "w.pth"
    torch.save({"state_dict": state}, good)
    loaded = load_model(TINY, weights=str(good))
    assert loaded.info.content_hash != load_model(TINY).info.content_hash
    assert loaded.info.weights == str(good.resolve())

    bad = tmp_path / "bad.pth"
    torch.save({"conv.weight": torch.zeros(1)}, bad)
    with pytest.raises(ModelSourceError, match="do not fit model"):
        load_model(TINY, weights=str(bad))
    with pytest.raises(ModelSourceError, match="not found"):
        load_model(TINY, weights=str(tmp_path / "missing.pth"))


def test_torchvision_source():
    art = load_model("torchvision:mobilenet_v3_small")
    assert art.info.input.shape == (1, 3, 224, 224)
    assert art.info.params
    assert 2e6 < art.info.params < 3e6
    with pytest.raises(UnknownNameError, match="mobilenet_v3_small"):
        load_model("torchvision:mobilenet_v3_smal")


def test_onnx_file_shape_from_graph(onnx_file):
    art = load_model(str(onnx_file))
    assert art.info.kind == "onnx"
    assert art.info.input.name == "pixels"
    assert art.info.input.shape == (1, 3, 160, 160)
    assert art.info.batch_fixed


def test_dynamic_onnx_needs_a_shape(dynamic_onnx_file):
    with pytest.raises(InputShapeError, match=r"dynamic input shape \?x3x\?x\?"):
        load_model(str(dynamic_onnx_file))
    art = load_model(str(dynamic_onnx_file), input_shape="1x3x96x96")
    assert art.info.input.shape == (1, 3, 96, 96)
    assert not art.info.batch_fixed


def test_corrupt_onnx_is_a_clear_error(corrupt_onnx):
    with pytest.raises(ModelSourceError, match="Cannot read ONNX model") as info:
        load_model(str(corrupt_onnx))
    assert "export it again" in (info.value.hint or "")


def test_openvino_ir(ir_file):
    art = load_model(str(ir_file))
    assert art.info.kind == "openvino"
    assert art.info.input.shape == (1, 3, 160, 160)
    assert art.info.params
    assert art.info.params > 400_000


def test_openvino_ir_without_bin_is_a_clear_error(tmp_path, ir_file):
    lone = tmp_path / "lone.xml"
    lone.write_bytes(ir_file.read_bytes())
    with pytest.raises(ModelSourceError, match="Cannot read OpenVINO IR"):
        load_model(str(lone))


def test_torchscript_needs_a_shape_then_loads(torchscript_file):
    with pytest.raises(InputShapeError, match="does not say what input shape"):
        load_model(str(torchscript_file))
    art = load_model(str(torchscript_file), input_shape="1x3x160x160")
    assert art.info.kind == "torch"
    assert art.info.macs


def test_torch_export_shape_from_program(export_file):
    art = load_model(str(export_file))
    assert art.info.input.shape == (1, 3, 64, 64)


def test_factory_source(factory_module):
    art = load_model(f"{factory_module}:small_cnn", input_shape="1x3x32x32")
    assert art.info.params == 3 * 8 * 9 + 8 + 8 * 10 + 10
    with pytest.raises(ModelSourceError, match=r"not a torch\.nn\.Module"):
        load_model(f"{factory_module}:not_a_model", input_shape="1x3x32x32")
    with pytest.raises(ModelSourceError, match="Cannot import"):
        load_model("no_such_module_hwfit:make", input_shape="1x3x32x32")


def test_wrong_shape_is_rejected_by_the_model():
    with pytest.raises(InputShapeError, match="does not fit model"):
        load_model(TINY, input_shape="1x4x160x160")


def test_missing_file_and_unknown_spec():
    with pytest.raises(ModelSourceError, match="not found"):
        load_model("missing/model.onnx")
    with pytest.raises(UnknownNameError, match="Cannot tell what model"):
        load_model("resnet18")


def test_weights_with_a_model_file_is_refused(onnx_file, tmp_path):
    with pytest.raises(UserError, match="--weights applies to"):
        load_model(str(onnx_file), weights=str(tmp_path / "w.pth"))
