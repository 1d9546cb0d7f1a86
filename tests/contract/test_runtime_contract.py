"""The Runtime contract, run against every registered runtime (a new one is tested at once)."""

import numpy as np
import pytest

from hwfit.models import load_model
from hwfit.records import Availability, RunConfig
from hwfit.runtimes import RUNTIMES, get_runtime

ALL = RUNTIMES.names()


@pytest.fixture(scope="module")
def small(factory_module):
    return load_model(f"{factory_module}:small_cnn", input_shape="1x3x32x32")


def _available(name):
    availability = get_runtime(name).probe()
    if not availability.ok:
        pytest.skip(f"{name} not available here: {availability.reason}")
    return get_runtime(name)


@pytest.mark.parametrize("name", ALL)
def test_probe_reports_and_never_raises(name):
    availability = get_runtime(name).probe()
    assert isinstance(availability, Availability)
    assert availability.name == name
    assert availability.ok or availability.reason  # unavailable always says why


@pytest.mark.parametrize("name", ALL)
def test_declares_capabilities(name):
    cls = get_runtime(name)
    assert cls.name == name
    assert "fp32" in cls.precisions
    assert cls.accepts <= {"torch", "torchscript", "onnx", "openvino"}


@pytest.mark.parametrize("name", ALL)
def test_compiled_model_matches_pytorch_and_reports_what_ran(name, small):
    cls = _available(name)
    compiled = cls().compile(small, RunConfig(runtime=name, batch=2, threads=1))
    x = np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32)
    import torch

    with torch.inference_mode():
        expected = small.torch_module()(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(compiled.infer(x), expected, rtol=1e-4, atol=1e-4)
    compiled.bind(x)
    compiled.run()
    compiled.run_copy(x)
    ex = compiled.executed
    assert ex.precision.startswith("fp32")  # fp32 asked, fp32 read back (not BF16)
    assert ex.threads == 1  # the requested count, read back from the runtime
    assert ex.device
    assert compiled.artifact_size_bytes
    assert compiled.artifact_size_bytes > 0
    compiled.close()


@pytest.mark.parametrize("name", ALL)
def test_default_threads_are_read_back(name, small):
    cls = _available(name)
    if cls.name == "torch-compile":
        pytest.skip("same settings code as torch; compiling again only costs time")
    compiled = cls().compile(small, RunConfig(runtime=name, batch=1))
    assert compiled.executed.threads
    assert compiled.executed.threads >= 1


@pytest.mark.parametrize("name", ALL)
def test_skip_reason_for_unaccepted_model_kind(name):
    cls = get_runtime(name)
    for kind in ("torch", "torchscript", "onnx", "openvino"):
        reason = cls.skip_reason(kind, "fp32")
        assert (reason is None) == (kind in cls.accepts)
    assert cls.skip_reason("torch", "int3") is not None


@pytest.mark.parametrize("name", ALL)
def test_a_setting_the_runtime_does_not_have_is_refused(name, small):
    from hwfit.errors import UnsupportedModelError

    cls = _available(name)
    if cls.name == "torch-compile":
        pytest.skip("same settings code as torch; compiling again only costs time")
    config = RunConfig(runtime=name, batch=1, threads=1, options=(("NOT_A_SETTING", "1"),))
    with pytest.raises(UnsupportedModelError, match="NOT_A_SETTING"):
        cls().compile(small, config)


@pytest.mark.parametrize(
    ("name", "key", "value"),
    [
        ("openvino", "INFERENCE_PRECISION_HINT", "f32"),
        ("onnxruntime", "session.intra_op.allow_spinning", "0"),
    ],
)
def test_a_setting_is_applied_and_read_back_from_the_runtime(name, key, value, small):
    cls = _available(name)
    config = RunConfig(runtime=name, batch=1, threads=1, options=((key, value),))
    compiled = cls().compile(small, config)
    assert compiled.executed.details[key] == value
    x = np.zeros((1, 3, 32, 32), np.float32)
    assert compiled.infer(x).shape[0] == 1
    compiled.close()


@pytest.mark.parametrize("name", ALL)
def test_the_throughput_runner_runs_whole_batches_and_says_how_many_samples(name, small):
    cls = _available(name)
    compiled = cls().compile(small, RunConfig(runtime=name, batch=2, threads=1))
    x = np.random.default_rng(1).standard_normal((2, 3, 32, 32)).astype(np.float32)
    call, samples = compiled.throughput_runner(x)
    call()
    assert samples >= 2
    assert samples % 2 == 0  # whole batches of the compiled model
    compiled.close()


def test_openvino_with_the_throughput_hint_predicts_like_one_request(small):
    cls = _available("openvino")
    config = RunConfig(runtime="openvino", batch=2, options=(("PERFORMANCE_HINT", "THROUGHPUT"),))
    compiled = cls().compile(small, config)
    assert compiled.executed.details["PERFORMANCE_HINT"] == "THROUGHPUT"
    x = np.random.default_rng(2).standard_normal((7, 3, 32, 32)).astype(np.float32)
    together = compiled.infer_all(x, 2)  # four chunks through the queue, the last one padded
    one_by_one = np.concatenate([compiled.infer_all(x[i : i + 1], 2) for i in range(7)])
    assert together.shape == (7, one_by_one.shape[1])
    np.testing.assert_allclose(together, one_by_one, rtol=1e-4, atol=1e-4)
    call, samples = compiled.throughput_runner(x[:2])
    call()
    assert samples >= 2 * 2  # two rounds of requests of batch 2
    assert samples % (2 * 2) == 0
    compiled.close()


@pytest.mark.parametrize("objective", ["latency", "throughput"])
@pytest.mark.parametrize("name", ALL)
def test_every_tunable_setting_is_applied_and_read_back(name, objective, small):
    from hwfit.hardware import probe

    cls = get_runtime(name)
    space = cls.tunables(probe(include_runtimes=False), objective) if cls.probe().ok else {}
    assert set(space) <= cls.tunable_names  # load() checks artifacts against the names
    for key, values in space.items():
        assert len(values) == len(set(values)) > 1, key
        for value in values:  # each value on its own, over the runtime's defaults
            compiled = cls().compile(small, RunConfig(runtime=name, options=((key, value),)))
            assert compiled.executed.details[key] == value, (key, value)
            assert compiled.infer(np.zeros((1, 3, 32, 32), np.float32)).shape[0] == 1
            compiled.close()
