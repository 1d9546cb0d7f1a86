"""ServedModel: a model compiled in a worker, called from this process (real ONNX Runtime)."""

import numpy as np
import pytest

from hwfit.bench.serve import ServedModel
from hwfit.errors import InputShapeError, RuntimeFailure
from hwfit.models import load_model
from hwfit.records import RunConfig
from hwfit.runtimes import RUNTIMES, get_runtime


@pytest.fixture(scope="module")
def tiny(onnx_file):
    return load_model(str(onnx_file))


def test_outputs_are_the_runtimes_own_for_any_number_of_samples(tiny):
    config = RunConfig(runtime="onnxruntime", batch=1, precision="fp32")
    x = np.random.default_rng(0).standard_normal((3, 3, 160, 160)).astype(np.float32)
    direct = get_runtime("onnxruntime")().compile(tiny, config).infer_all(x, 1)
    with ServedModel(tiny.info, config, label="tiny") as served:
        assert (served.runtime, served.precision, served.batch) == ("onnxruntime", "fp32", 1)
        np.testing.assert_allclose(served(x), direct, rtol=1e-5, atol=1e-5)
        pid = served._pool.pid
        assert pid is not None
        np.testing.assert_allclose(served(x[:1]), direct[:1], rtol=1e-5, atol=1e-5)
        assert served._pool.pid == pid  # compiled once, the worker kept
        with pytest.raises(InputShapeError, match=r"predict\(\) got inputs shaped \(2, 3, 8, 8\)"):
            served(np.zeros((2, 3, 8, 8), np.float32))
    assert served._pool.pid is None  # the worker ended with the block


def test_a_native_crash_in_the_served_model_is_an_error_here(tiny):
    with RUNTIMES.override("test-crash-infer", "misbehaving_runtimes:CrashingOnInferRuntime"):
        config = RunConfig(runtime="test-crash-infer", batch=1, precision="fp32")
        with ServedModel(tiny.info, config, timeout_s=120, label="crashy") as served:
            x = np.zeros((1, 3, 160, 160), np.float32)
            with pytest.raises(
                RuntimeFailure, match="running crashy failed: worker crashed with SIGSEGV"
            ):
                served(x)
            with pytest.raises(RuntimeFailure, match="SIGSEGV"):  # a new worker, compiled again
                served(x)
