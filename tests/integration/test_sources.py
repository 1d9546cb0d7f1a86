"""Every model source, for real, and the errors a user meets with bad input."""

import pytest

from hwfit.errors import (
    InputShapeError,
    ModelSourceError,
    UnknownNameError,
    UntrustedModelError,
    UserError,
)
from hwfit.models import load_model
from hwfit.models.sources import model_format

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


def test_onnx_and_ir_params_and_macs_match_pytorch(onnx_file, dynamic_onnx_file, ir_file):
    torch_info = load_model(TINY).info
    for path, shape in ((onnx_file, None), (dynamic_onnx_file, "4x3x160x160"), (ir_file, None)):
        info = load_model(str(path), input_shape=shape).info
        # The same convolutions and matrix products, counted from the graph's shapes.
        assert info.macs == torch_info.macs, path
        assert info.macs_note is None
        # PyTorch also counts BatchNorm's scale and shift, which the export folds into convs.
        assert info.params
        assert 0.99 * torch_info.params < info.params <= torch_info.params


def _onnx_graph(tmp_path, nodes, initializers=(), out_shape=("n", "c", "h", "w"), name="g.onnx"):
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, list(out_shape))],
        initializer=list(initializers),
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.example", 1)],
    )
    model.ir_version = 8
    path = tmp_path / name
    onnx.save(model, str(path))
    return path


def test_onnx_weights_in_constant_nodes_are_counted(tmp_path):
    import numpy as np
    from onnx import helper, numpy_helper

    w = numpy_helper.from_array(np.ones((4, 3, 3, 3), np.float32), "w")
    nodes = [
        helper.make_node("Constant", [], ["w"], value=w),
        helper.make_node("Conv", ["x", "w"], ["y"]),
    ]
    info = load_model(str(_onnx_graph(tmp_path, nodes))).info
    assert info.params == 4 * 3 * 3 * 3  # not 0: weights need not be initializers
    assert info.macs == (4 * 6 * 6) * (3 * 3 * 3)


def test_onnx_macs_unknown_says_why(tmp_path):
    import numpy as np
    from onnx import helper, numpy_helper

    w = numpy_helper.from_array(np.ones((8, 2), np.float32), "w")
    nodes = [  # an operator shape inference knows nothing of, feeding a MatMul
        helper.make_node("Mystery", ["x"], ["h"], domain="com.example"),
        helper.make_node("MatMul", ["h", "w"], ["y"], name="head"),
    ]
    info = load_model(str(_onnx_graph(tmp_path, nodes, [w]))).info
    assert info.params == 16
    assert info.macs is None
    assert info.macs_note == "shape inference could not size MatMul 'head'"


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


def test_torchscript_needs_trust_and_a_shape_then_loads(torchscript_file):
    with pytest.raises(UntrustedModelError, match="is TorchScript"):
        load_model(str(torchscript_file), input_shape="1x3x160x160")
    with pytest.raises(InputShapeError, match="does not say what input shape"):
        load_model(str(torchscript_file), trust_model=True)
    art = load_model(str(torchscript_file), input_shape="1x3x160x160", trust_model=True)
    assert art.info.kind == "torch"
    assert model_format(art.info) == "torchscript"
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


def test_timm_model_at_another_resolution():
    # A convnet runs at any size: the shape is accepted and the MACs follow it.
    art = load_model(TINY, input_shape="2x3x224x224")
    assert art.info.input.shape == (2, 3, 224, 224)
    assert art.info.macs
    assert art.info.macs > load_model(TINY).info.macs
    # A ViT whose position embeddings are fixed cannot: the forward pass says so.
    with pytest.raises(InputShapeError, match=r"rejects input shape 1x3x288x288.*160") as info:
        load_model("timm:test_vit3", input_shape="1x3x288x288")
    assert info.value.hint == "Omit --input-shape to use the model's own, 1x3x160x160."


def test_missing_file_and_unknown_spec():
    with pytest.raises(ModelSourceError, match="not found"):
        load_model("missing/model.onnx")
    with pytest.raises(UnknownNameError, match="Cannot tell what model"):
        load_model("resnet18")


def test_weights_with_a_model_file_is_refused(onnx_file, tmp_path):
    with pytest.raises(UserError, match="--weights applies to"):
        load_model(str(onnx_file), weights=str(tmp_path / "w.pth"))
