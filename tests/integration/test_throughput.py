"""The throughput objective: batch sizes as a choice, per-sample paired figures, an artifact
that runs the way it was measured (OpenVINO's THROUGHPUT hint, an asynchronous queue)."""

import json

import numpy as np
import pytest
from test_optimize import COLOUR, QUICK, _write_images

import hwfit
from hwfit.records import RowState


@pytest.fixture(scope="module")
def colour_data(tmp_path_factory):
    return _write_images(tmp_path_factory.mktemp("colours"), per_class=8)


@pytest.fixture(scope="module")
def throughput_run(colour_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("out") / "throughput"
    return hwfit.optimize(
        COLOUR, str(colour_data), out=out, input_shape="1x3x32x32", runtimes=["openvino"],
        precisions=["fp32"], objective="throughput", batch=[1, 4], **QUICK,
    )  # fmt: skip


def test_each_batch_is_a_candidate_measured_per_sample_against_the_baseline(throughput_run):
    outcomes = {o.candidate.label: o for o in throughput_run.outcomes}
    assert set(outcomes) == {"openvino fp32 t-default b1", "openvino fp32 t-default b4"}
    assert throughput_run.baseline.candidate.batch == 4  # the baseline at the largest batch
    for o in outcomes.values():
        assert o.state is RowState.COMPLETE, o.reason
        figure = o.bench.speedup
        assert figure is not None, o.bench.speedup_reason
        # Per sample: a batch-4 call takes longer than a batch-1 call, but per sample it is
        # not 4x slower; a ratio of calls would put b4 near a quarter of b1.
        assert figure.ci_low <= figure.speedup <= figure.ci_high
    b1 = outcomes["openvino fp32 t-default b1"].bench.speedup.speedup
    b4 = outcomes["openvino fp32 t-default b4"].bench.speedup.speedup
    assert b4 > 0.5 * b1
    loser = next(o for o in outcomes.values() if o is not throughput_run.winner)
    assert "throughput" in loser.reason or "tied" in loser.reason


def test_the_artifact_records_the_batch_and_the_hint_and_loads_with_them(throughput_run):
    winner = throughput_run.winner
    manifest = json.loads(throughput_run.manifest_path.read_text())
    options = manifest["runtime_options"]
    assert options["batch"] == winner.candidate.batch
    assert options["PERFORMANCE_HINT"] == "THROUGHPUT"
    predictor = hwfit.load(throughput_run.out_dir)
    executed = predictor._compiled.executed  # read back from the compiled model
    assert executed.details["PERFORMANCE_HINT"] == "THROUGHPUT"
    assert executed.streams >= 1
    x = np.random.default_rng(0).standard_normal((9, 3, 32, 32)).astype(np.float32)
    together = predictor.predict(x)
    one_by_one = np.concatenate([predictor.predict(x[i : i + 1]) for i in range(9)])
    np.testing.assert_allclose(together, one_by_one, rtol=1e-4, atol=1e-4)
    call, samples = predictor.throughput_runner(x[: predictor.batch])
    call()
    assert samples % predictor.batch == 0


def test_a_hint_hwfit_does_not_write_is_refused_at_load(throughput_run, tmp_path):
    import shutil

    from hwfit.errors import ModelSourceError

    copy = tmp_path / "edited"
    shutil.copytree(throughput_run.out_dir, copy)
    path = copy / "hwfit.json"
    manifest = json.loads(path.read_text())
    manifest["runtime_options"]["PERFORMANCE_HINT"] = "CUMULATIVE_THROUGHPUT"
    path.write_text(json.dumps(manifest))
    with pytest.raises(ModelSourceError, match="PERFORMANCE_HINT"):
        hwfit.load(copy)


def test_a_file_with_a_fixed_batch_is_measured_at_that_batch_and_the_run_says_so(
    onnx_file, colour_data, tmp_path
):
    result = hwfit.optimize(
        str(onnx_file), str(colour_data), out=tmp_path / "o", runtimes=["openvino"],
        precisions=["fp32"], objective="throughput", max_accuracy_drop="100", **QUICK,
    )  # fmt: skip
    assert result.baseline.candidate.batch == 1
    assert [o.candidate.batch for o in result.outcomes] == [1]
    assert result.winner is not None
    assert any("fixed batch of 1" in n and "dynamic batch" in n for n in result.notes)
