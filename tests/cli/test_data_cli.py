"""Bad data on the command line: one line, a hint, exit 2, no traceback, nothing measured."""

import io
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from PIL import Image


@pytest.fixture(scope="module")
def tiny_onnx(tmp_path_factory) -> str:
    """A 32x32 ONNX classifier: the CLI loads it without importing PyTorch."""
    import torch

    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten()
    ).eval()
    path = tmp_path_factory.mktemp("model") / "tiny.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(net, (torch.zeros(1, 3, 32, 32),), str(path), dynamo=False)
    return str(path)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hwfit.cli.main", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "220"},
        timeout=300,
        check=False,
    )


def _images(folder: Path, n: int, colour: tuple[int, int, int]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.new("RGB", (40, 36), colour).save(folder / f"{i}.png")


def _truncated_jpeg(path: Path) -> None:
    buffer = io.BytesIO()
    Image.effect_noise((200, 150), 60).convert("RGB").save(buffer, "JPEG", quality=95)
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])


def _one_error_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 2, proc.stderr  # the error, then its hint
    assert lines[0].startswith("Error: ")
    return " ".join(proc.stderr.split())


@pytest.fixture
def corrupt_folder(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    _images(data / "red", 4, (200, 20, 20))
    _images(data / "blue", 4, (20, 20, 200))
    _truncated_jpeg(data / "blue" / "2_cut.jpg")
    (data / "red" / "9_text.jpg").write_text("not an image")
    return data


@pytest.mark.parametrize("command", ["optimize", "search"])
def test_strict_data_names_the_first_unreadable_image(
    command, corrupt_folder, tmp_path, tiny_onnx
):
    out = tmp_path / "out"
    model = [tiny_onnx, "--no-save"] if command == "optimize" else ["--baseline", "resnet18"]
    proc = _cli(command, *model, "--data", str(corrupt_folder), "--out", str(out), "--strict-data")
    text = _one_error_line(proc)
    assert f"Error: Cannot read image '{corrupt_folder / 'blue' / '2_cut.jpg'}'" in text
    assert "--strict-data" in text  # the hint says how to skip instead
    assert not (out / "hwfit.json").exists()


@pytest.mark.parametrize("command", ["optimize", "search"])
def test_one_class_folder_is_refused(command, tmp_path, tiny_onnx):
    data = tmp_path / "data"
    _images(data / "only", 4, (200, 20, 20))
    model = [tiny_onnx, "--no-save"] if command == "optimize" else ["--baseline", "resnet18"]
    proc = _cli(command, *model, "--data", str(data), "--out", str(tmp_path / "out"))
    text = _one_error_line(proc)
    assert "has one class ('only'); accuracy needs labelled images of at least 2 classes" in text
    assert "directly in the folder" in text


def test_a_folder_of_unreadable_images_is_the_no_images_error(tmp_path, tiny_onnx):
    data = tmp_path / "data"
    for name in ("a", "b"):
        (data / name).mkdir(parents=True)
        _truncated_jpeg(data / name / "x.jpg")
    out = str(tmp_path / "o")
    proc = _cli("optimize", tiny_onnx, "--data", str(data), "--out", out, "--no-save")
    text = _one_error_line(proc)
    assert "has no images: all 2 image files are unreadable (a/x.jpg, b/x.jpg)" in text


def test_strict_data_is_offered_where_data_is_read():
    from typer.main import get_command

    from hwfit.cli.main import app

    group = get_command(app)
    for name in ("optimize", "search"):
        command = group.commands[name]  # type: ignore[attr-defined]
        options = {o.name: o for o in command.params}
        assert options["strict_data"].is_flag
        assert options["strict_data"].default is False
