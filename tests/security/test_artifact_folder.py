"""Artifact folders load only ONNX / OpenVINO IR files inside themselves, after a schema check.

An artifact folder is data that travels; its ``hwfit.json`` must never make ``hwfit.load`` or
``hwfit predict`` open a file outside the folder, or a PyTorch file that runs code when loaded.
"""

import dataclasses
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from crafted_files import ConvScale

import hwfit
from hwfit.artifacts import MANIFEST_NAME, Manifest, write_manifest
from hwfit.errors import ModelSourceError


def _cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "hwfit.cli.main", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="session")
def small_onnx(security_dir: Path) -> Path:
    import torch

    path = security_dir / "small.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            ConvScale.build(),
            (torch.zeros(1, 3, 16, 16),),
            str(path),
            dynamo=False,
            input_names=["input"],
            output_names=["output"],
        )
    return path


@pytest.fixture(scope="session")
def image(security_dir: Path) -> Path:
    from PIL import Image

    path = security_dir / "img.png"
    Image.new("RGB", (16, 16), (200, 30, 30)).save(path)
    return path


def _manifest(**changes) -> Manifest:
    from hwfit.accuracy import Preprocess

    manifest = Manifest(
        model_file="model.onnx",
        runtime="onnxruntime",
        runtime_version=None,
        precision={"requested": "fp32", "executed": "fp32"},
        runtime_options={"batch": 1, "threads": 1, "precision": "fp32"},
        input={
            "name": "input",
            "shape": [1, 3, 16, 16],
            "dtype": "float32",
            "preprocess": Preprocess.create((3, 16, 16), crop_pct=1.0).to_dict(),
        },
        classes=("a", "b", "c", "d"),
        metrics={},
        accuracy={},
        source={"model": "conv"},
        hardware={},
        versions={},
        created_at="2025-01-01T00:00:00+00:00",
    )
    return dataclasses.replace(manifest, **changes)


@pytest.fixture
def artifact(tmp_path: Path, small_onnx: Path) -> Path:
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "model.onnx").write_bytes(small_onnx.read_bytes())
    write_manifest(folder, _manifest())
    return folder


def _edit_json(folder: Path, edit) -> None:
    path = folder / MANIFEST_NAME
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


def test_valid_artifact_loads_and_predicts(artifact, image):
    predictor = hwfit.load(artifact)
    assert predictor.predict(predictor.preprocess([image])).shape == (1, 4)
    proc = _cli("predict", str(artifact), str(image))
    assert proc.returncode == 0, proc.stderr
    assert "onnxruntime" in proc.stdout


def test_model_file_outside_the_folder_runs_nothing(artifact, evil_pt2, marker, image):
    # The case: a manifest pointing at a crafted archive next to the folder.
    assert evil_pt2.parent == artifact.parent
    _edit_json(artifact, lambda d: d.update(model_file="../evil.pt2"))
    with pytest.raises(ModelSourceError, match="is not an ONNX"):
        hwfit.load(artifact)
    proc = _cli("predict", str(artifact), str(image))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 2, proc.stderr
    assert "model_file '../evil.pt2' is not an ONNX (.onnx) or OpenVINO IR (.xml)" in lines[0]
    assert not marker.exists()


def test_onnx_outside_the_folder_is_refused(artifact, small_onnx):
    outside = artifact.parent / "elsewhere.onnx"
    outside.write_bytes(small_onnx.read_bytes())
    for name in ("../elsewhere.onnx", str(outside)):
        _edit_json(artifact, lambda d, n=name: d.update(model_file=n))
        with pytest.raises(ModelSourceError, match="lies outside the artifact folder"):
            hwfit.load(artifact)


def test_links_out_of_the_folder_are_refused(artifact, evil_pt2, small_onnx, marker):
    model = artifact / "model.onnx"
    model.unlink()
    model.symlink_to(evil_pt2)  # named .onnx, a torch.export archive behind it
    with pytest.raises(ModelSourceError, match="lies outside the artifact folder"):
        hwfit.load(artifact)
    inner = artifact / "inner.pt2"
    inner.write_bytes(evil_pt2.read_bytes())
    model.unlink()
    model.symlink_to(inner)  # inside the folder, but not an ONNX file
    with pytest.raises(ModelSourceError, match=r"links to 'inner\.pt2'"):
        hwfit.load(artifact)
    outside = artifact.parent / "elsewhere.onnx"
    outside.write_bytes(small_onnx.read_bytes())
    model.unlink()
    model.symlink_to(outside)
    with pytest.raises(ModelSourceError, match="lies outside the artifact folder"):
        hwfit.load(artifact)
    assert not marker.exists()


def test_ir_weights_outside_the_folder_are_refused(tmp_path, small_onnx):
    import openvino as ov

    folder = tmp_path / "ir"
    folder.mkdir()
    ov.save_model(ov.convert_model(str(small_onnx)), str(tmp_path / "model.xml"))
    (folder / "model.xml").write_bytes((tmp_path / "model.xml").read_bytes())
    (folder / "model.bin").symlink_to(tmp_path / "model.bin")
    write_manifest(folder, _manifest(model_file="model.xml", runtime="openvino"))
    with pytest.raises(ModelSourceError, match=r"model_file's \.bin 'model.bin' lies outside"):
        hwfit.load(folder)
    (folder / "model.bin").unlink()
    (folder / "model.bin").write_bytes((tmp_path / "model.bin").read_bytes())
    assert hwfit.load(folder).predict(__import__("numpy").zeros((1, 3, 16, 16))).shape == (1, 4)


BAD_MANIFESTS = {
    "pytorch-file": (lambda d: d.update(model_file="model.pt2"), "is not an ONNX (.onnx)"),
    "missing-field": (lambda d: d.pop("runtime_options"), "field 'runtime_options' is missing"),
    "unknown-field": (lambda d: d.update(loader="pickle"), "unknown field 'loader'"),
    "wrong-type": (
        lambda d: d["runtime_options"].update(batch="1"),
        "'runtime_options.batch' must be a positive integer",
    ),
    "bad-shape": (
        lambda d: d["input"].update(shape=[1, 3, -1, 16]),
        "'input.shape' must be a list of positive integers",
    ),
    "torch-runtime": (lambda d: d.update(runtime="torch"), "unknown artifact runtime 'torch'"),
    "unknown-runtime": (lambda d: d.update(runtime="onnxrt"), "unknown artifact runtime"),
    "not-an-object": (lambda d: d.update(precision="fp32"), "'precision' must be an object"),
}


@pytest.mark.parametrize("case", sorted(BAD_MANIFESTS))
def test_manifest_breaking_the_schema_is_one_error(artifact, case):
    edit, message = BAD_MANIFESTS[case]
    _edit_json(artifact, edit)
    with pytest.raises(ModelSourceError, match="does not follow the manifest schema") as info:
        hwfit.load(artifact)
    assert message in info.value.message
    assert "\n" not in info.value.message


def test_runtime_that_cannot_run_the_model_file_is_refused(artifact):
    (artifact / "model.xml").write_text("<net/>")
    _edit_json(artifact, lambda d: d.update(model_file="model.xml"))
    with pytest.raises(ModelSourceError, match="does not run openvino files"):
        hwfit.load(artifact)


def test_predict_cli_reports_a_schema_violation_in_one_line(artifact, image):
    _edit_json(artifact, lambda d: d.pop("input"))
    proc = _cli("predict", str(artifact), str(image))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert lines[0].startswith("Error: ")
    assert "does not follow the manifest schema: field 'input' is missing." in lines[0]
    assert len(lines) == 2
