"""optimize --train-data: channels pruned (Torch-Pruning), fine-tuned, measured and guarded.

A small CNN is trained in a fixture on real CIFAR-10 images (3 classes, 32 px), so the accuracy
guard sees real top-1 numbers; pruning half its channels leaves about a quarter of the MACs.
"""

import sys
import tarfile
import textwrap
from pathlib import Path

import numpy as np
import pytest

import hwfit
from hwfit.artifacts import read_manifest
from hwfit.errors import UserError
from hwfit.records import RowState
from hwfit.tune.prune import parse_ratios

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
CLASSES = ("airplane", "automobile", "frog")
# The knob tuner (on by default) has its own tests: tests/integration/test_knobs.py.
QUICK = {"duration_s": 0.3, "min_time_s": 0.1, "save": False, "tune_trials": 0}
PRE = "mean=0.5,0.5,0.5;std=0.25,0.25,0.25;crop_pct=1.0"  # as the fixture trained with

pytestmark = pytest.mark.skipif(
    not (SHARED / "cifar10-train-jpeg.tar.gz").exists(), reason="CIFAR-10 archives not found"
)


def _extract(archive: Path, out: Path, per_class: int) -> Path:
    counts: dict[str, int] = {}
    with tarfile.open(archive) as tf:
        picked = []
        for m in tf:
            parts = Path(m.name).parts
            if not m.isfile() or len(parts) != 3 or parts[1] not in CLASSES:
                continue
            if counts.get(parts[1], 0) >= per_class:
                continue
            counts[parts[1]] = counts.get(parts[1], 0) + 1
            picked.append(m)
            if len(picked) == per_class * len(CLASSES):
                break
        tf.extractall(out, members=picked, filter="data")
    return out / Path(picked[0].name).parts[0]


@pytest.fixture(scope="module")
def cifar(tmp_path_factory):
    root = tmp_path_factory.mktemp("cifar3")
    train = _extract(SHARED / "cifar10-train-jpeg.tar.gz", root, 100)
    val = _extract(SHARED / "cifar10-test-jpeg.tar.gz", root, 40)
    return train, val


@pytest.fixture(scope="module")
def trained(cifar, tmp_path_factory):
    """A factory module and state-dict weights trained here on the three classes."""
    import torch

    from hwfit.accuracy import Preprocess, load_dataset

    folder = tmp_path_factory.mktemp("prunable")
    (folder / "prunable_cnn.py").write_text(
        textwrap.dedent(
            """
            import torch
            from torch import nn

            def block(cin, cout, stride):
                return nn.Sequential(
                    nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()
                )

            def cnn():
                return nn.Sequential(
                    block(3, 64, 1), block(64, 128, 2), block(128, 128, 1), block(128, 128, 2),
                    nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, 3),
                )
            """
        )
    )
    sys.path.insert(0, str(folder))
    import prunable_cnn

    pre = Preprocess.create((3, 32, 32), crop_pct=1.0, mean=(0.5,) * 3, std=(0.25,) * 3)
    data = load_dataset(cifar[0], pre)
    torch.manual_seed(0)
    model = prunable_cnn.cnn()
    optimizer = torch.optim.Adam(model.parameters(), 3e-3)
    x, y = torch.from_numpy(data.x), torch.from_numpy(data.y)
    model.train()
    for _ in range(6):
        for idx in torch.randperm(len(y)).split(32):
            loss = torch.nn.functional.cross_entropy(model(x[idx]), y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    weights = folder / "cnn.pt"
    torch.save(model.state_dict(), weights)
    return "prunable_cnn:cnn", str(weights), pre


@pytest.fixture(scope="module")
def pruned_run(cifar, trained, tmp_path_factory):
    spec, weights, _ = trained
    return hwfit.optimize(
        spec, str(cifar[1]), out=tmp_path_factory.mktemp("pruned") / "out",
        weights=weights, input_shape="1x3x32x32", preprocess=PRE,
        runtimes=["openvino"], precisions=["fp32"], max_accuracy_drop="100",
        train_data=str(cifar[0]), prune=[0.5], prune_epochs=2, prune_time_s=60, **QUICK,
    )  # fmt: skip


def test_each_ratio_gives_a_pruned_candidate_with_fewer_macs(pruned_run):
    by_source = {o.candidate.source: o for o in pruned_run.outcomes}
    assert set(by_source) == {"", "pruned-50"}, pruned_run.notes
    pruned, whole = by_source["pruned-50"], by_source[""]
    assert pruned.candidate.label == "openvino fp32 t-default b1 pruned-50"
    assert pruned.state is RowState.COMPLETE
    assert pruned.prepare_details["pruned_channels"] == "50%"
    macs, _, _, before, _ = pruned.prepare_details["macs"].split()  # "X M of Y M"
    assert float(macs) < 0.4 * float(before)  # half the channels: about a quarter of the MACs
    assert "epochs" in pruned.prepare_details["fine_tune"]
    assert pruned.artifact_size_bytes < 0.4 * whole.artifact_size_bytes


def test_the_pruned_model_is_guarded_against_the_unpruned_reference(pruned_run):
    reference = pruned_run.baseline.accuracy["top1"]
    assert pruned_run.metric == "top1"
    assert reference > 50.0  # trained: well above chance (33%)
    pruned = next(o for o in pruned_run.outcomes if o.candidate.source)
    assert pruned.drop == pytest.approx(reference - pruned.accuracy["top1"])
    assert pruned.accuracy["top1"] > 40.0  # the fine-tune brought it back above chance


def test_a_pruned_winner_ships_with_what_was_done_to_it(pruned_run):
    winner = pruned_run.winner
    assert winner is not None
    # A quarter of the MACs is faster on any CPU: the pruned model wins at a 100-point budget.
    assert winner.candidate.source == "pruned-50"
    manifest = read_manifest(pruned_run.out_dir)
    assert manifest.source["pruning"]["pruned_channels"] == "50%"
    predictor = hwfit.load(pruned_run.out_dir)
    check = np.load(pruned_run.out_dir / "check.npz")
    np.testing.assert_allclose(
        predictor.predict(check["x"]), check["outputs"], atol=1e-3, rtol=1e-3
    )


def test_a_tight_budget_rejects_a_pruned_model_that_lost_accuracy(cifar, trained, tmp_path):
    spec, weights, _ = trained
    result = hwfit.optimize(
        spec, str(cifar[1]), out=tmp_path / "out", weights=weights, input_shape="1x3x32x32",
        preprocess=PRE, runtimes=["openvino"],
        precisions=["fp32"], max_accuracy_drop="0", train_data=str(cifar[0]), prune=[0.9],
        prune_epochs=0.05, prune_time_s=10, **QUICK,
    )  # fmt: skip
    pruned = next(o for o in result.outcomes if o.candidate.source)
    if pruned.drop > 0:
        assert pruned.state is RowState.REJECTED
        assert "accuracy drop" in pruned.reason
        assert result.winner.candidate.source == ""
    else:  # kept every answer: then it may win
        assert pruned.state is RowState.COMPLETE


def test_bad_pruning_input_fails_before_measuring(cifar, trained, tmp_path):
    spec, weights, _ = trained
    common = dict(out=tmp_path / "o", weights=weights, input_shape="1x3x32x32", **QUICK)
    with pytest.raises(UserError, match="--prune needs --train-data"):
        hwfit.optimize(spec, str(cifar[1]), prune=[0.5], **common)
    with pytest.raises(UserError, match="not found"):
        hwfit.optimize(spec, str(cifar[1]), train_data=str(tmp_path / "nope"), **common)
    with pytest.raises(UserError, match="share of channels"):
        parse_ratios("0.5,1.5")
    flat = tmp_path / "flat"
    flat.mkdir()
    for image in list(Path(cifar[0], CLASSES[0]).iterdir())[:6]:
        (flat / image.name).write_bytes(image.read_bytes())
    with pytest.raises(UserError, match="no labels"):
        hwfit.optimize(
            spec, str(cifar[1]), train_data=str(flat), prune=[0.5], runtimes=["openvino"],
            precisions=["fp32"], **common,
        )  # fmt: skip
    assert not (tmp_path / "o" / ".work").exists()  # the scratch folder goes with the error


def test_an_onnx_model_is_not_pruned_and_the_note_says_why(cifar, onnx_file, tmp_path):
    result = hwfit.optimize(
        str(onnx_file), str(cifar[1]), out=tmp_path / "o", runtimes=["openvino"],
        precisions=["fp32"], max_accuracy_drop="100", train_data=str(cifar[0]), **QUICK,
    )  # fmt: skip
    assert not any(o.candidate.source for o in result.outcomes)
    assert any("cannot be pruned" in note for note in result.notes)


def test_the_cli_refuses_a_bad_ratio_in_one_line(cifar, trained, tmp_path, capsys):
    from hwfit.cli.main import run

    spec, weights, _ = trained
    code = run(
        ["optimize", spec, "--data", str(cifar[1]), "--out", str(tmp_path / "o"),
         "--weights", weights, "--input-shape", "1x3x32x32", "-r", "openvino", "-p", "fp32",
         "--train-data", str(cifar[0]), "--prune", "2", "--no-save"],
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code != 0
    assert "share of channels" in err
    assert "Traceback" not in err
