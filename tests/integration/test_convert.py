"""The one exporter: the graph ``to_onnx`` caches is the one a plain TorchScript export makes."""

from __future__ import annotations

import warnings

import numpy as np
import onnx
import onnxruntime as ort
import torch

from hwfit.models import load_model
from hwfit.models.convert import to_onnx, to_openvino


def _ops(path) -> list[str]:
    return [node.op_type for node in onnx.load(str(path)).graph.node]


def test_to_onnx_caches_the_torchscript_exporters_graph(factory_module, tmp_path):
    artifact = load_model(f"{factory_module}:small_cnn", input_shape="1x3x32x32")
    path, _ = to_onnx(artifact, artifact.info.input)
    assert path.name.endswith("_fast.onnx")  # the exporter policy is part of the cache key
    plain = tmp_path / "plain.onnx"
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            artifact.torch_module(), (torch.zeros(1, 3, 32, 32),), str(plain), dynamo=False,
            opset_version=18, input_names=["input"], output_names=["output"],
        )  # fmt: skip
    assert _ops(path) == _ops(plain)
    x = np.random.default_rng(0).standard_normal((1, 3, 32, 32)).astype(np.float32)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    with torch.no_grad():
        expected = artifact.torch_module()(torch.from_numpy(x)).numpy()
    got = session.run(None, {session.get_inputs()[0].name: x})[0]
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    ir, _ = to_openvino(artifact, artifact.info.input)
    assert ir.name.endswith("_fast.xml")
