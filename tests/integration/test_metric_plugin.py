"""A user's evaluator guards optimize: it drives the choice, and its failures fail one candidate.

Real runtimes, real images, the evaluators of ``user_evaluators.py`` as a user writes them.
"""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import user_evaluators
from test_optimize import QUICK as OPTIMIZE_QUICK
from test_optimize import _write_images

import hwfit
from hwfit.accuracy import Score
from hwfit.artifacts import read_manifest
from hwfit.errors import UnknownNameError, UserError
from hwfit.records import RowState

COLOUR = "colour_model:colour_classifier"
QUICK = {**OPTIMIZE_QUICK, "input_shape": "1x3x32x32"}  # the colour models' images
HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def colour_data(tmp_path_factory):
    return _write_images(tmp_path_factory.mktemp("colours"), per_class=10)


@pytest.fixture(scope="module")
def error_run(colour_data, tmp_path_factory):
    """Guarded by the user's max_error (lower is better), budget 0.001 in its own units."""
    user_evaluators.SEEN.clear()
    result = hwfit.optimize(
        COLOUR,
        str(colour_data),
        out=tmp_path_factory.mktemp("out") / "err",
        runtimes=["openvino"],
        precisions=["fp32", "int8"],
        max_accuracy_drop="0.001",
        metric="user_evaluators:max_error@max_error",
        **QUICK,
    )
    return result, list(user_evaluators.SEEN)


def test_a_users_lower_is_better_metric_drives_the_choice(error_run):
    result, seen = error_run
    assert result.metric == "max_error"
    assert result.higher_is_better is False
    assert result.evaluator == "user_evaluators:max_error@max_error"
    by_precision = {o.candidate.precision: o for o in result.outcomes}
    int8, fp32 = by_precision["int8"], by_precision["fp32"]
    # INT8 keeps every class (the default top-1 guard would pass it) but moves the outputs:
    assert int8.accuracy["agreement"] == 100.0
    assert int8.accuracy["max_error"] > 0.001
    assert int8.state is RowState.REJECTED
    assert "accuracy drop" in int8.reason
    assert "on max_error" in int8.reason
    assert int8.drop == pytest.approx(int8.accuracy["max_error"])  # its rise is the drop
    assert result.winner is fp32
    assert fp32.accuracy["max_error"] <= 0.001
    assert fp32.accuracy["accuracy"] == 100.0  # the evaluator's second number is kept too
    # The evaluator ran in this process on the baseline and on each measured candidate.
    assert seen[0].startswith("torch fp32")
    assert {"openvino fp32 t-default b1", "openvino int8 t-default b1"} <= set(seen)


def test_the_artifact_and_report_record_the_users_metric(error_run):
    result, _ = error_run
    manifest = read_manifest(result.out_dir)
    assert manifest.accuracy["metric"] == "max_error"
    assert manifest.accuracy["higher_is_better"] is False
    assert manifest.accuracy["evaluator"] == "user_evaluators:max_error@max_error"
    page = (result.out_dir / "report.html").read_text()
    assert "budget ceiling" in page
    assert "drop<br>points" not in page  # its units are the metric's own, not points


def test_a_crashing_evaluator_fails_only_its_candidate(colour_data, tmp_path):
    result = hwfit.optimize(
        COLOUR,
        str(colour_data),
        out=tmp_path / "out",
        runtimes=["openvino", "onnxruntime"],
        precisions=["fp32"],
        metric="user_evaluators:fails_on_onnxruntime",
        **QUICK,
    )
    by_runtime = {o.candidate.runtime: o for o in result.outcomes}
    ort = by_runtime["onnxruntime"]
    assert ort.state is RowState.FAILED
    assert ort.reason == (
        "the evaluator user_evaluators:fails_on_onnxruntime raised RuntimeError: "
        "no boxes in this output"
    )
    assert ort.bench is not None
    assert ort.bench.latency is not None
    assert result.winner is by_runtime["openvino"]
    assert result.metric == "fails_on_onnxruntime"  # one number: named after the function
    assert result.winner.accuracy["fails_on_onnxruntime"] == 100.0


def test_a_closure_guards_unlabelled_data(colour_data, tmp_path):
    """The API takes any callable, closures included: it runs here, the model in a worker."""
    flat = _write_images(tmp_path / "flat", per_class=6, labelled=False)
    calls = []

    def mse(predict, data):
        assert data.y is None
        assert data.path == flat
        outputs = predict(data.x)
        calls.append((predict.precision, outputs.shape))
        reference = outputs if data.reference is None else data.reference
        return Score(float(np.mean((outputs - reference) ** 2)), higher_is_better=False)

    result = hwfit.optimize(
        COLOUR,
        str(flat),
        out=tmp_path / "out",
        runtimes=["openvino"],
        precisions=["fp32"],
        max_accuracy_drop="0.01",
        evaluate=mse,
        **QUICK,
    )
    assert result.metric == "mse"
    assert result.winner is not None
    assert [c[0] for c in calls] == ["fp32", "fp32"]  # the reference, then the candidate
    assert calls[0][1] == calls[1][1] == (result.validation_samples, 3)  # every sample, 3 classes


def test_an_evaluator_that_fails_on_the_reference_stops_the_run_in_one_line(colour_data, tmp_path):
    """Its other mistakes (two numbers, no such name, not a number) are unit-tested."""
    with pytest.raises(UserError) as info:
        hwfit.optimize(
            COLOUR,
            str(colour_data),
            out=tmp_path / "out",
            runtimes=["openvino"],
            precisions=["fp32"],
            metric="user_evaluators:always_raises",
            **QUICK,
        )
    assert info.value.message == (
        "On the FP32 reference, the evaluator user_evaluators:always_raises raised ValueError: "
        "cannot read the annotations."
    )
    assert "\n" not in info.value.message


def test_metric_names_are_checked_before_anything_runs(colour_data, tmp_path):
    with pytest.raises(
        UnknownNameError, match=r"Unknown metric 'top2'\. Did you mean 'top5' or 'top1'"
    ):
        hwfit.optimize(COLOUR, str(colour_data), out=tmp_path / "a", metric="top2", **QUICK)
    with pytest.raises(UserError, match="Cannot import 'no_such_module'"):
        hwfit.optimize(
            COLOUR, str(colour_data), out=tmp_path / "b", metric="no_such_module:f", **QUICK
        )
    with pytest.raises(UserError, match="has no function 'nope'"):
        hwfit.optimize(
            COLOUR, str(colour_data), out=tmp_path / "c", metric="user_evaluators:nope", **QUICK
        )
    assert not (tmp_path / "a").exists()  # nothing was written


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
    }
    return subprocess.run(
        [sys.executable, "-m", "hwfit.cli.main", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=600,
        check=False,
    )


def test_cli_imports_the_evaluator_from_the_current_folder(colour_data, tmp_path):
    """The module lies in the working folder only; it runs (on the reference, where it fails)."""
    (tmp_path / "myeval.py").write_text(
        "def agree(predict, data):\n"
        "    out = predict(data.x)\n"
        "    raise ValueError(f'ran on {predict.label} with outputs {out.shape}')\n"
    )
    proc = _cli(
        "optimize", COLOUR, "--data", str(colour_data), "--out", str(tmp_path / "out"),
        "--input-shape", "1x3x32x32", "-r", "openvino", "-p", "fp32", "--metric",
        "myeval:agree", "--no-save", cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    first = proc.stderr.strip().splitlines()[0]
    assert first.startswith(
        "Error: On the FP32 reference, the evaluator myeval:agree raised ValueError: ran on "
        "torch fp32 t-default b1 with outputs (15, 3)"
    ), proc.stderr


def test_a_metric_that_needs_labels_refuses_unlabelled_data(tmp_path):
    """Before anything is measured; unknown and unimportable names are checked above."""
    flat = _write_images(tmp_path / "flat", per_class=4, labelled=False)
    with pytest.raises(UserError) as info:
        hwfit.optimize(
            COLOUR, str(flat), out=tmp_path / "out", runtimes=["openvino"], precisions=["fp32"],
            metric="top1", **QUICK,
        )  # fmt: skip
    assert info.value.message.startswith("The metric top1 needs labelled data")
    assert "--metric agreement" in info.value.hint
