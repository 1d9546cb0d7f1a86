"""Shared fixtures: tiny real models in every source format, a temporary database and cache."""

from __future__ import annotations

import os
import shutil
import sys
import textwrap
import warnings
from pathlib import Path

import pytest

TINY = "timm:test_resnet"  # timm's own test model: 0.47 M params, 160x160 input


@pytest.fixture(scope="session", autouse=True)
def _isolated_dirs(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Keep the model cache and the default database out of the user's folders."""
    base = tmp_path_factory.mktemp("hwfit-home")
    os.environ["HWFIT_CACHE_DIR"] = str(base / "cache")
    os.environ["HWFIT_DB"] = str(base / "default.db")


@pytest.fixture
def db_path(tmp_path: Path) -> str:
    return str(tmp_path / "results.db")


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def tiny_module():
    import timm
    import torch

    torch.manual_seed(0)
    return timm.create_model("test_resnet", pretrained=False).eval()


@pytest.fixture(scope="session")
def onnx_file(model_dir: Path, tiny_module) -> Path:
    """A static-shape ONNX export of the tiny model."""
    import torch

    path = model_dir / "tiny.onnx"
    with warnings.catch_warnings():  # the TorchScript exporter, as many users' files were made
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            tiny_module,
            (torch.zeros(1, 3, 160, 160),),
            str(path),
            dynamo=False,
            opset_version=17,
            input_names=["pixels"],
            output_names=["logits"],
        )
    return path


@pytest.fixture(scope="session")
def dynamic_onnx_file(model_dir: Path, tiny_module) -> Path:
    """An ONNX export whose batch, height and width are dynamic."""
    import torch

    path = model_dir / "tiny_dynamic.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            tiny_module,
            (torch.zeros(1, 3, 160, 160),),
            str(path),
            dynamo=False,
            opset_version=17,
            input_names=["pixels"],
            output_names=["logits"],
            dynamic_axes={"pixels": {0: "batch", 2: "h", 3: "w"}},
        )
    return path


@pytest.fixture(scope="session")
def ir_file(model_dir: Path, onnx_file: Path) -> Path:
    import openvino as ov

    path = model_dir / "tiny.xml"
    ov.save_model(ov.convert_model(str(onnx_file)), str(path), compress_to_fp16=False)
    return path


@pytest.fixture(scope="session")
def torchscript_file(model_dir: Path, tiny_module) -> Path:
    import torch

    path = model_dir / "tiny.pt"
    torch.jit.save(torch.jit.trace(tiny_module, torch.zeros(1, 3, 160, 160)), str(path))
    return path


@pytest.fixture(scope="session")
def export_file(model_dir: Path, tiny_module) -> Path:
    import torch

    path = model_dir / "tiny.pt2"
    torch.export.save(torch.export.export(tiny_module, (torch.zeros(1, 3, 64, 64),)), str(path))
    return path


@pytest.fixture(scope="session")
def factory_module(model_dir: Path) -> str:
    """A user module with a factory, importable by this process and by bench workers."""
    (model_dir / "user_models.py").write_text(
        textwrap.dedent(
            """
            import torch

            def small_cnn():
                return torch.nn.Sequential(
                    torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(),
                    torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(8, 10),
                )

            def not_a_model():
                return 42
            """
        )
    )
    sys.path.insert(0, str(model_dir))
    return "user_models"


@pytest.fixture
def corrupt_onnx(tmp_path: Path, onnx_file: Path) -> Path:
    path = tmp_path / "corrupt.onnx"
    data = onnx_file.read_bytes()
    path.write_bytes(data[: len(data) // 3])  # a truncated download
    return path


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """GPU tests skip with a reason where there is no CUDA device."""
    has_gpu = shutil.which("nvidia-smi") is not None
    if has_gpu:
        try:
            import torch

            has_gpu = torch.cuda.is_available()
        except ImportError:
            has_gpu = False
    for item in items:
        if "gpu" in item.keywords and not has_gpu:
            item.add_marker(pytest.mark.skip(reason="needs a CUDA device; none found"))


class ModelState:
    """What a proxy must leave as it found it: weights, train/eval flags, requires_grad, grads."""

    @staticmethod
    def snapshot(model):
        return (
            {k: v.clone() for k, v in model.state_dict().items()},
            [m.training for m in model.modules()],
            [
                (p.requires_grad, None if p.grad is None else p.grad.clone())
                for p in model.parameters()
            ],
        )

    @staticmethod
    def assert_unchanged(model, before) -> None:
        import torch

        state, flags, grads = ModelState.snapshot(model)
        assert state.keys() == before[0].keys()
        for key, value in state.items():
            assert torch.equal(value, before[0][key]), f"{key} changed"
        assert flags == before[1]
        for (req, grad), (req0, grad0) in zip(grads, before[2], strict=True):
            assert req == req0
            assert (grad is None and grad0 is None) or torch.equal(grad, grad0)


@pytest.fixture
def model_state() -> type[ModelState]:
    """:class:`ModelState`: snapshot a model, then assert nothing in it changed."""
    return ModelState
