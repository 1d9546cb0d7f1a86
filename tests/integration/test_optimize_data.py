"""optimize on real CIFAR-10 files with a really trained 32x32 CNN: what it evaluates, and on what.

The model is an ONNX file, which carries no preprocessing config: its 32x32 input must be fed
the images' own 32x32 pixels (no resize, no crop), and unreadable files must be skipped,
counted and named, not end the run.
"""

import json
import shutil
import tarfile
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import hwfit
from hwfit.accuracy import IMAGENET_MEAN, IMAGENET_STD, load_dataset, preprocess_for
from hwfit.cli.main import run
from hwfit.models import load_model

CIFAR = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "cifar10-test-jpeg.tar.gz"
PER_CLASS = 30
# The knob tuner (on by default) has its own tests: tests/integration/test_knobs.py.
QUICK = {"duration_s": 0.3, "min_time_s": 0.1, "save": False, "tune_trials": 0}

pytestmark = pytest.mark.skipif(
    not CIFAR.exists(), reason=f"CIFAR-10 test archive not found at {CIFAR}"
)


def _extract(folder: Path, per_class: int) -> Path:
    """``per_class`` JPEGs of each CIFAR-10 class, as ``folder/<class>/<name>.jpg``."""
    taken: dict[str, int] = {}
    with tarfile.open(CIFAR) as tar:
        for member in tar:
            parts = Path(member.name).parts
            if not member.isfile() or len(parts) < 3 or taken.get(parts[-2], 0) >= per_class:
                continue
            taken[parts[-2]] = taken.get(parts[-2], 0) + 1
            target = folder / parts[-2] / parts[-1]
            target.parent.mkdir(parents=True, exist_ok=True)
            source = tar.extractfile(member)
            assert source is not None
            target.write_bytes(source.read())
            if len(taken) == 10 and all(n >= per_class for n in taken.values()):
                break
    return folder


def _raw_pixels(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """Every image in folder order, its own pixels normalised (no resize, no crop), and labels."""
    classes = sorted(p.name for p in folder.iterdir() if p.is_dir())
    xs, ys = [], []
    for label, name in enumerate(classes):
        for path in sorted((folder / name).glob("*.jpg")):
            with Image.open(path) as img:
                xs.append(np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0)
            ys.append(label)
    x = (np.stack(xs) - np.float32(IMAGENET_MEAN)) / np.float32(IMAGENET_STD)
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2), dtype=np.float32), np.array(ys)


@pytest.fixture(scope="module")
def cifar(tmp_path_factory) -> Path:
    return _extract(tmp_path_factory.mktemp("cifar") / "test", PER_CLASS)


@pytest.fixture(scope="module")
def trained_onnx(cifar, tmp_path_factory):
    """A small CNN trained for a few seconds on the images, exported with a 1x3x32x32 input."""
    import torch

    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 16, 3, stride=2, padding=1),
        torch.nn.ReLU(),
        torch.nn.Conv2d(16, 32, 3, stride=2, padding=1),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(32, 10),
    )
    x, y = _raw_pixels(cifar)
    inputs, labels = torch.from_numpy(x), torch.from_numpy(y)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a few seconds on one core; more threads only contend here
    try:
        for _ in range(40):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(inputs), labels).backward()
            opt.step()
    finally:
        torch.set_num_threads(threads)
    net.eval()
    path = tmp_path_factory.mktemp("trained") / "cifar_cnn.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            net,
            (torch.zeros(1, 3, 32, 32),),
            str(path),
            dynamo=False,
            opset_version=17,
            input_names=["pixels"],
            output_names=["logits"],
        )
    with torch.no_grad():
        top1 = float((net(inputs).argmax(1) == labels).double().mean() * 100)
    return path, top1


def test_onnx_32x32_model_is_evaluated_on_the_images_own_pixels(cifar, trained_onnx, tmp_path):
    path, torch_top1 = trained_onnx
    assert torch_top1 > 25.0  # trained: well above chance (10%), so top-1 is the metric

    pre = preprocess_for(load_model(str(path)))
    assert (pre.resize, pre.crop_pct, pre.source) == (32, 1.0, "the model's input size")
    x, _ = _raw_pixels(cifar)
    np.testing.assert_allclose(load_dataset(cifar, pre).x, x, rtol=0, atol=1e-6)

    result = hwfit.optimize(
        str(path),
        str(cifar),
        out=tmp_path / "out",
        runtimes=["onnxruntime"],
        precisions=["fp32"],
        calib_size=0,
        val_size=10 * PER_CLASS,  # every image: the same set PyTorch evaluated
        **QUICK,
    )
    assert result.metric == "top1"
    assert result.validation_samples == 10 * PER_CLASS
    assert result.baseline.accuracy is not None
    assert result.baseline.accuracy["top1"] == pytest.approx(torch_top1, abs=1e-9)
    assert result.preprocess == pre
    assert result.preprocess.source == "the model's input size"
    manifest = json.loads((tmp_path / "out" / "hwfit.json").read_text())
    assert manifest["input"]["preprocess"]["resize"] == 32
    assert manifest["input"]["preprocess"]["crop_pct"] == 1.0
    assert manifest["input"]["preprocess"]["source"] == "the model's input size"
    assert manifest["accuracy"]["skipped_images"] == []


def test_optimize_cli_skips_unreadable_images_and_prints_the_preprocessing(
    cifar, trained_onnx, tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("COLUMNS", "250")
    data = tmp_path / "data"
    shutil.copytree(cifar, data)
    whole = next((data / "cat").glob("*.jpg")).read_bytes()
    (data / "cat" / "0000_cut.jpg").write_bytes(whole[: len(whole) // 2])  # truncated
    (data / "dog" / "0000_notes.jpg").write_text("not an image, named .jpg")
    out = tmp_path / "out"
    code = run(
        [
            "optimize",
            str(trained_onnx[0]),
            "--data",
            str(data),
            "--out",
            str(out),
            "-r",
            "onnxruntime",
            "-p",
            "fp32",
            "--duration",
            "0.3",
            "--no-save",
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    text = " ".join(captured.out.split())  # wrapped lines joined
    assert (
        "Preprocessing: resize 32 (shorter side, bilinear; none for 32x32 images), center crop "
        "32, mean (0.485, 0.456, 0.406), std (0.229, 0.224, 0.225) (ImageNet defaults) - from "
        "the model's input size"
    ) in text
    assert (
        "Skipped 2 unreadable images (cat/0000_cut.jpg, dog/0000_notes.jpg) in "
        f"'{data}' (--strict-data fails instead); accuracy is over the 150 validation images"
    ) in text
    assert "Data: top1 over 150 validation samples, 150 calibration samples, 2 unreadable " in text
    manifest = json.loads((out / "hwfit.json").read_text())
    assert manifest["accuracy"]["skipped_images"] == ["cat/0000_cut.jpg", "dog/0000_notes.jpg"]
    assert manifest["accuracy"]["validation_samples"] == 150
    assert manifest["accuracy"]["calibration_samples"] == 150
    assert manifest["input"]["preprocess"]["source"] == "the model's input size"

    # --strict-data: the first bad file, one line, exit 2, before anything is measured
    strict = ["--data", str(data), "--out", str(tmp_path / "o2"), "--strict-data", "--no-save"]
    code = run(["optimize", str(trained_onnx[0]), *strict])
    err = capsys.readouterr().err
    assert code == 2
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert lines[0].startswith("Error: Cannot read image ")
    assert "0000_cut.jpg" in " ".join(err.split())
    assert "Traceback" not in err
    assert not (tmp_path / "o2" / "hwfit.json").exists()
