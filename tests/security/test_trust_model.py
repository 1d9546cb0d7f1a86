"""Model files that run code when loaded are refused unless trusted; plain formats need no trust.

Every crafted file carries a payload that creates a marker file. Each attack is first shown to
work against a bare ``torch.export.load`` / ``torch.load`` (the control), then shown to run
nothing through hwfit without ``trust_model``.
"""

import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from crafted_files import ConvScale, payload_bytes, rewrite_archive, weight_as_pickle

from hwfit.errors import ModelSourceError, UntrustedModelError
from hwfit.models import load_model
from hwfit.models.trust import export_archive_risks

TINY = "timm:test_resnet"


def _cli(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "hwfit.cli.main", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
        timeout=300,
        check=False,
        cwd=cwd,
    )


def _one_line_error(proc, starts):
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert lines[0].startswith(starts), proc.stderr
    assert len(lines) == 2, proc.stderr  # the error, then the hint
    return lines


# --- crafted torch.export archives ------------------------------------------------------------


def _constant(path_name: str, marker: Path):
    def edit(records):
        name = "data/constants/model_constants_config.json"
        config = json.loads(records[name])
        config["config"]["evil"] = {
            "path_name": path_name,
            "is_param": False,
            "use_pickle": True,
            "tensor_meta": None,
        }
        records[name] = json.dumps(config).encode()
        records[f"data/constants/{path_name}"] = payload_bytes(marker)

    return edit


def _sample_inputs(marker: Path):
    def edit(records):
        # torch tries weights_only=True first, then falls back to the full unpickler.
        records["data/sample_inputs/model.pt"] = payload_bytes(marker)

    return edit


def _legacy_weights(marker: Path):
    def edit(records):
        records["data/weights/model.pt"] = payload_bytes(marker)

    return edit


def _symbolic_shape(marker: Path):
    def edit(records):
        text = records["models/model.json"].decode()
        symbol = "Symbol('s77', positive=True, integer=True)"
        assert symbol in text
        evil = f"{symbol} + 0*len(str(__import__('pathlib').Path('{marker}').touch()))"
        records["models/model.json"] = text.replace(
            json.dumps(symbol)[1:-1], json.dumps(evil)[1:-1]
        ).encode()

    return edit


ATTACKS = {
    "weight-use_pickle": (
        "plain",
        lambda m: weight_as_pickle(lambda _raw: payload_bytes(m)),
        "weight 'conv.bias' is stored as a pickle (use_pickle)",
    ),
    "constant-use_pickle": (
        "plain",
        lambda m: _constant("tensor_evil", m),
        "constant 'evil' is stored as a pickle (use_pickle)",
    ),
    "opaque-object": (
        "plain",
        lambda m: _constant("opaque_obj_0", m),
        "constant 'evil' is a pickled Python object",
    ),
    "sample-inputs": ("plain", _sample_inputs, "its sample inputs are a pickle of more than"),
    "legacy-weights": ("plain", _legacy_weights, "its weights are a pickle of more than tensors"),
    "symbolic-shape": ("dynamic", _symbolic_shape, "a symbolic shape is not plain arithmetic"),
}


@pytest.fixture(params=sorted(ATTACKS))
def attack(request, tmp_path, plain_pt2, dynamic_pt2, marker):
    base, make_edit, reason = ATTACKS[request.param]
    src = plain_pt2 if base == "plain" else dynamic_pt2
    return rewrite_archive(src, tmp_path / f"{request.param}.pt2", make_edit(marker)), reason


def test_crafted_archive_runs_its_payload_in_bare_torch(attack, marker):
    """The control: each crafted archive is a real attack on torch.export.load."""
    import torch

    path, _ = attack
    with contextlib.suppress(Exception):  # the payload ran before the archive turns out broken
        torch.export.load(str(path))
    assert marker.exists()


def test_crafted_archive_is_refused_and_runs_nothing(attack, marker):
    path, reason = attack
    with pytest.raises(UntrustedModelError, match="would run code when loaded") as info:
        load_model(str(path))
    assert reason in info.value.message
    assert "--trust-model" in (info.value.hint or "")
    assert not marker.exists()


def test_archive_with_compiled_code_is_refused(tmp_path, plain_pt2):
    def edit(records):
        records["data/aotinductor/model/model.so"] = b"\x7fELF"

    path = rewrite_archive(plain_pt2, tmp_path / "aoti.pt2", edit)
    assert export_archive_risks(path) == [
        "it holds AOTInductor compiled code (a shared library torch.export.load runs)"
    ]


def test_bench_refuses_the_crafted_archive_in_one_line(evil_pt2, marker, tmp_path):
    proc = _cli("bench", str(evil_pt2), "--no-save", cwd=tmp_path)
    lines = _one_line_error(proc, f"Error: Model '{evil_pt2}' would run code when loaded: ")
    assert "use_pickle" in lines[0]
    assert "--trust-model" in lines[1]
    assert not marker.exists()


@pytest.mark.parametrize("command", ["bench", "optimize", "gap"])
def test_every_command_refuses_the_crafted_archive(command, evil_pt2, marker, tmp_path):
    import hwfit

    calls = {
        "bench": lambda: hwfit.bench(str(evil_pt2), save=False),
        "optimize": lambda: hwfit.optimize(
            str(evil_pt2), str(tmp_path), out=tmp_path / "out", save=False
        ),
        "gap": lambda: hwfit.gap(str(evil_pt2), db=str(tmp_path / "r.db"), save=False),
    }
    with pytest.raises(UntrustedModelError, match="use_pickle"):
        calls[command]()
    assert not marker.exists()


def test_plain_archives_load_without_trust(plain_pt2, dynamic_pt2):
    art = load_model(str(plain_pt2))
    assert art.info.input.shape == (1, 3, 16, 16)
    assert art.info.params == 4 * 3 * 9 + 4
    assert export_archive_risks(dynamic_pt2) == []  # sympy shapes of a real dynamic export
    dynamic = load_model(str(dynamic_pt2), input_shape="1x3x16x16")
    assert dynamic.info.input.shape == (1, 3, 16, 16)


def test_pickled_archive_needs_trust_then_loads(pickled_pt2):
    import torch

    with pytest.raises(UntrustedModelError, match=r"'conv\.bias' is stored as a pickle"):
        load_model(str(pickled_pt2))
    art = load_model(str(pickled_pt2), trust_model=True)
    assert art.trust_model
    x = torch.randn(1, 3, 16, 16)
    with torch.inference_mode():
        expected = ConvScale.build()(x)
        np_out = art.torch_module()(x)
    torch.testing.assert_close(np_out, expected)


def test_bench_with_trust_model_measures_the_pickled_archive(pickled_pt2, tmp_path):
    # The worker process rebuilds the model: the permission travels with the job.
    proc = _cli(
        "bench", str(pickled_pt2), "-r", "torch", "--duration", "0.2", "--min-runs", "3",
        "--no-save", "--json", "--trust-model", cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)["results"]
    assert [r["state"] for r in rows] == ["complete"]


def test_not_an_archive_is_a_clear_error(tmp_path):
    import torch

    renamed = tmp_path / "renamed.pt2"
    torch.save({"w": torch.zeros(2)}, renamed)
    with pytest.raises(ModelSourceError, match=r"not a torch\.export archive"):
        load_model(str(renamed))


# --- pickles and TorchScript as .pt -----------------------------------------------------------


def test_full_pickle_model_is_refused_and_runs_nothing(tmp_path, marker):
    evil = tmp_path / "evil.pt"
    evil.write_bytes(payload_bytes(marker))
    with pytest.raises(UntrustedModelError, match="is a full pickle"):
        load_model(str(evil), input_shape="1x3x16x16")
    assert not marker.exists()


def test_full_pickle_model_loads_with_trust(tmp_path):
    import torch

    path = tmp_path / "whole.pt"
    torch.save(torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU()), path)
    with pytest.raises(UntrustedModelError):
        load_model(str(path), input_shape="1x3x16x16")
    art = load_model(str(path), input_shape="1x3x16x16", trust_model=True)
    assert art.info.params == 4 * 3 * 9 + 4


def test_state_dict_as_model_says_to_use_weights(tmp_path):
    import torch

    path = tmp_path / "state.pt"
    torch.save(torch.nn.Linear(2, 2).state_dict(), path)
    with pytest.raises(ModelSourceError, match="holds only tensors") as info:
        load_model(str(path))
    assert not isinstance(info.value, UntrustedModelError)
    assert "--weights" in (info.value.hint or "")


def test_unknown_pt_file_is_not_handed_to_torchscript(tmp_path):
    path = tmp_path / "mobile.pt"
    path.write_bytes(b"\x18\x00\x00\x00PTMF" + bytes(64))  # e.g. a flatbuffer mobile module
    with pytest.raises(ModelSourceError, match=r"neither a TorchScript archive nor a torch\.save"):
        load_model(str(path), input_shape="1x3x8x8")


def test_torchscript_needs_trust(torchscript_file):
    with pytest.raises(UntrustedModelError, match="is TorchScript"):
        load_model(str(torchscript_file), input_shape="1x3x160x160")
    art = load_model(str(torchscript_file), input_shape="1x3x160x160", trust_model=True)
    assert art.info.macs


# --- weights files -----------------------------------------------------------------------------


def test_weights_with_a_payload_are_refused_and_run_nothing(tmp_path, marker):
    evil = tmp_path / "evil.pth"
    evil.write_bytes(payload_bytes(marker))
    with pytest.raises(UntrustedModelError, match="other than tensors"):
        load_model(TINY, weights=str(evil))
    assert not marker.exists()
    proc = _cli("bench", TINY, "--weights", str(evil), "--no-save", cwd=tmp_path)
    _one_line_error(proc, f"Error: Weights '{evil}' hold Python objects other than tensors")
    assert not marker.exists()


def test_checkpoint_with_python_objects_loads_with_trust(tmp_path, tiny_module):
    import torch

    path = tmp_path / "ckpt.pth"
    args = argparse.Namespace(lr=0.1)  # what training scripts save next to the weights
    torch.save({"state_dict": tiny_module.state_dict(), "args": args}, path)
    with pytest.raises(UntrustedModelError):
        load_model(TINY, weights=str(path))
    art = load_model(TINY, weights=str(path), trust_model=True)
    assert art.info.weights == str(path.resolve())


def test_plain_state_dict_weights_need_no_trust(tmp_path, tiny_module):
    import torch

    path = tmp_path / "plain.pth"
    buffer = io.BytesIO()
    torch.save(tiny_module.state_dict(), buffer)
    path.write_bytes(buffer.getvalue())
    assert load_model(TINY, weights=str(path)).info.weights == str(path.resolve())


# --- module.path:factory -----------------------------------------------------------------------


def test_factory_must_return_a_module(tmp_path):
    proc = _cli("bench", "os:getcwd", "--input-shape", "1x3x8x8", "--no-save", cwd=tmp_path)
    _one_line_error(proc, "Error: Factory 'os:getcwd' returned str, not a torch.nn.Module.")


def test_default_bench_of_trusted_torchscript_skips_other_runtimes(torchscript_file, tmp_path):
    proc = _cli(
        "bench", str(torchscript_file), "--input-shape", "1x3x160x160", "--trust-model",
        "--duration", "0.3", "--min-runs", "3", "--no-save", "--json", cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    rows = {r["config"]["runtime"]: r for r in json.loads(proc.stdout)["results"]}
    assert rows["torch"]["state"] == "complete"
    for name in ("onnxruntime", "openvino"):
        assert rows[name]["state"] == "skipped"
        assert rows[name]["reason"] == (
            "TorchScript runs only on torch; export it with torch.export or ONNX"
        )


def test_archive_with_a_record_twice_is_refused(tmp_path, plain_pt2):
    import zipfile

    path = tmp_path / "twice.pt2"
    path.write_bytes(plain_pt2.read_bytes())
    with zipfile.ZipFile(path, "a") as archive, pytest.warns(UserWarning, match="Duplicate"):
        archive.writestr("plain/data/weights/model_weights_config.json", b'{"config": {}}')
    assert "it holds two records under one name" in export_archive_risks(path)
