"""The knob tuner with real runtimes: trials measured paired, the kept settings shipped, the
artifact loaded with them and read back, a bad setting failing alone."""

import json

import numpy as np
import pytest
from test_optimize import COLOUR, QUICK, _write_images

import hwfit
from hwfit.bench import sweep_rows
from hwfit.cli.main import run
from hwfit.errors import ModelSourceError
from hwfit.models import load_model
from hwfit.records import RunConfig


@pytest.fixture(scope="module")
def colour_data(tmp_path_factory):
    return _write_images(tmp_path_factory.mktemp("colours"), per_class=8)


@pytest.fixture(scope="module")
def tuned_run(colour_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("out") / "tuned"
    return hwfit.optimize(
        COLOUR, str(colour_data), out=out, input_shape="1x3x32x32", runtimes=["openvino"],
        precisions=["fp32"], **{**QUICK, "tune_trials": 3},
    )  # fmt: skip


def test_the_winners_settings_are_tried_paired_and_recorded(tuned_run):
    tuning = tuned_run.knobs
    assert tuning is not None
    assert tuning.runtime == "openvino"
    space = dict(tuning.space)
    assert "INFERENCE_NUM_THREADS" in space or "ENABLE_CPU_PINNING" in space
    assert 1 <= len(tuning.trials) <= 3
    assert len({t.settings for t in tuning.trials}) == len(tuning.trials)
    for trial in tuning.trials:
        assert {k for k, _ in trial.settings} == set(space)
        assert trial.verdict
        if trial.ratio is not None:
            assert trial.ratio.ci_low <= trial.ratio.speedup <= trial.ratio.ci_high
    if tuning.chosen:  # shipped only when faster beyond the noise when measured again
        assert tuning.confirmed.ci_low > 1.0
    else:
        assert tuning.confirmed is None
        assert tuning.note


def test_the_manifest_and_report_say_what_was_tuned(tuned_run):
    manifest = json.loads(tuned_run.manifest_path.read_text())
    options = manifest["runtime_options"]
    tuning = tuned_run.knobs
    assert options.get("tuned", {}) == dict(tuning.chosen)
    for key, value in tuning.chosen:  # read back from the runtime, not copied
        assert options[key] == value
    html = tuned_run.report_path.read_text()
    assert "Runtime settings tried on the winner" in html
    for trial in tuning.trials:
        assert trial.verdict.split(":")[0] in html


def test_an_artifact_loads_with_its_tuned_settings_and_reads_them_back(tuned_run, tmp_path):
    import shutil

    folder = tmp_path / "artifact"
    shutil.copytree(tuned_run.out_dir, folder)
    path = folder / "hwfit.json"
    manifest = json.loads(path.read_text())
    tuned = {"ENABLE_CPU_PINNING": "NO", "INFERENCE_NUM_THREADS": "1"}
    manifest["runtime_options"]["tuned"] = tuned
    path.write_text(json.dumps(manifest))
    predictor = hwfit.load(folder)
    details = predictor._compiled.executed.details
    assert details["ENABLE_CPU_PINNING"] == "NO"
    assert details["INFERENCE_NUM_THREADS"] == "1"
    assert predictor._compiled.executed.threads == 1
    x = np.zeros((2, 3, 32, 32), np.float32)
    assert predictor.predict(x).shape[0] == 2


@pytest.mark.parametrize(
    ("tuned", "message"),
    [
        ({"LOG_LEVEL": "LOG_TRACE"}, "not a setting hwfit tunes"),
        ({"ENABLE_CPU_PINNING": "../../etc"}, "plain values"),
        ({"ENABLE_CPU_PINNING": 1}, "plain values"),
    ],
    ids=["unknown-setting", "path-like-value", "not-a-string"],
)
def test_an_edited_tuned_setting_is_refused_with_one_line(tuned_run, tmp_path, tuned, message):
    import shutil

    folder = tmp_path / "artifact"
    shutil.copytree(tuned_run.out_dir, folder)
    path = folder / "hwfit.json"
    manifest = json.loads(path.read_text())
    manifest["runtime_options"]["tuned"] = tuned
    path.write_text(json.dumps(manifest))
    with pytest.raises(ModelSourceError, match=message) as info:
        hwfit.load(folder)
    assert "\n" not in info.value.message


def test_a_sweep_variant_that_fails_fails_alone(factory_module):
    small = load_model(f"{factory_module}:small_cnn", input_shape="1x3x32x32")
    base = RunConfig(runtime="openvino", min_time_s=0.1, duration_s=0.3)
    bad = RunConfig(runtime="openvino", options=(("NOT_A_SETTING", "1"),))
    good = RunConfig(runtime="openvino", options=(("ENABLE_CPU_PINNING", "NO"),))
    figures = sweep_rows(
        (small.info, base), [(small.info, bad), (small.info, good)], min_time_s=0.1,
        max_time_s=0.3, timeout_s=120,
    )  # fmt: skip
    assert not isinstance(figures, str), figures
    assert figures[0].ratio is None
    assert "NOT_A_SETTING" in figures[0].error
    assert figures[1].ratio is not None
    assert figures[1].error is None
    assert figures[1].executed.details["ENABLE_CPU_PINNING"] == "NO"


def test_a_negative_trial_count_is_a_one_line_error(colour_data, tmp_path, capsys):
    code = run(
        ["optimize", COLOUR, "--data", str(colour_data), "--out", str(tmp_path / "o"),
         "--tune-trials", "-1", "--no-save"]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code != 0
    assert "--tune-trials must be 0 or more" in err
    assert "Traceback" not in err
    assert not (tmp_path / "o").exists()  # refused before anything was built or written


def test_ctrl_c_while_tuning_ships_the_winner_as_measured(colour_data, tmp_path, monkeypatch):
    import importlib

    optimize_module = importlib.import_module("hwfit.tune.optimize")  # the module, not the API

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt  # what Ctrl-C raises in the middle of a tuning round

    monkeypatch.setattr(optimize_module, "tune_knobs", interrupted)
    result = hwfit.optimize(
        COLOUR, str(colour_data), out=tmp_path / "o", input_shape="1x3x32x32",
        runtimes=["openvino"], precisions=["fp32"], **{**QUICK, "tune_trials": 4},
    )  # fmt: skip
    assert result.interrupted
    assert result.winner is not None
    assert result.knobs is None
    assert any("Interrupted while tuning" in note for note in result.notes)
    manifest = json.loads(result.manifest_path.read_text())
    assert "tuned" not in manifest["runtime_options"]
    assert result.report_path is not None
    assert result.report_path.exists()
    assert hwfit.load(result.out_dir).predict(np.zeros((1, 3, 32, 32), np.float32)).shape[0] == 1
