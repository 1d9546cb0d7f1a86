"""The PrecisionRecipe contract, run against every registered recipe (a new one is tested at once).

Each recipe declares what it needs, says whether the hardware can make it pay off without
raising, refuses cleanly when its data is missing, and writes a model that its runtime then
compiles and runs here. The model is the small CNN of ``tests/conftest.py`` at 32x32.
"""

import numpy as np
import pytest

from hwfit.errors import UserError
from hwfit.hardware import probe
from hwfit.models import load_model
from hwfit.precisions import RECIPES, Precision
from hwfit.precisions.base import PrecisionRecipe, PreparedModel, QuantData
from hwfit.precisions.capability import Verdict
from hwfit.records import RunConfig
from hwfit.runtimes import RUNTIMES, get_runtime

ALL = RECIPES.names()
SHAPE = (1, 3, 32, 32)


def _recipe(key: str) -> PrecisionRecipe:
    runtime, _, precision = key.partition(":")
    return RECIPES.load(key)(runtime, Precision(precision))


def _runtime_here(key: str):
    runtime = key.partition(":")[0]
    cls = get_runtime(runtime)
    availability = cls.probe()
    if not availability.ok:
        pytest.skip(f"{runtime} not available here: {availability.reason}")
    return cls


@pytest.fixture
def small(factory_module):
    # A fresh artifact per test: the torch runtime casts its module in place for BF16.
    return load_model(f"{factory_module}:small_cnn", input_shape="1x3x32x32")


@pytest.fixture(scope="module")
def hardware():
    return probe(include_runtimes=False)


def _data(n: int = 8) -> QuantData:
    rng = np.random.default_rng(0)
    calibration = rng.standard_normal((n, *SHAPE[1:])).astype(np.float32)
    validation = rng.standard_normal((n, *SHAPE[1:])).astype(np.float32)
    return QuantData(calibration, validation, metric=lambda outputs: 1.0, max_drop=1.0)


@pytest.mark.parametrize("key", ALL)
def test_key_names_a_registered_runtime_and_a_precision_it_offers(key):
    runtime, _, precision = key.partition(":")
    assert runtime in RUNTIMES.names()
    assert precision in {p.value for p in Precision}
    assert precision in get_runtime(runtime).precisions


@pytest.mark.parametrize("key", ALL)
def test_declares_what_it_needs(key):
    cls = RECIPES.load(key)
    assert issubclass(cls, PrecisionRecipe)
    assert isinstance(cls.needs_calibration, bool)
    assert isinstance(cls.needs_validation, bool)
    assert cls.needs_calibration or not cls.needs_validation  # validation comes with calibration


@pytest.mark.parametrize("key", ALL)
def test_verdict_never_raises_and_says_why_not(key, hardware):
    verdict = _recipe(key).applicable(hardware)
    assert isinstance(verdict, Verdict)
    assert verdict.ok or verdict.reason


@pytest.mark.parametrize("key", [k for k in ALL if RECIPES.load(k).needs_calibration])
def test_refuses_cleanly_without_its_data(key, small, tmp_path):
    _runtime_here(key)
    with pytest.raises(UserError):
        _recipe(key).prepare(small, small.info.input, tmp_path, None)


# torch-compile shares TorchFloatRecipe with torch; inductor's compile would cost ~10 s each.
@pytest.mark.parametrize("key", [k for k in ALL if not k.startswith("torch-compile:")])
def test_prepared_model_runs_on_its_runtime(key, small, tmp_path):
    runtime_cls = _runtime_here(key)
    recipe = _recipe(key)
    prepared = recipe.prepare(small, small.info.input, tmp_path, _data())
    assert isinstance(prepared, PreparedModel)
    assert prepared.seconds >= 0
    assert all(isinstance(v, str) for v in prepared.details.values())
    if prepared.path is None:  # PyTorch recipes run the source module
        model = small
    else:
        assert prepared.path.is_file()
        if recipe.needs_calibration:  # new weights go under out_dir; FP32 files are cached
            assert prepared.path.resolve().is_relative_to(tmp_path.resolve())
        model = load_model(str(prepared.path), input_shape=SHAPE)
    runtime, _, precision = key.partition(":")
    compiled = runtime_cls().compile(model, RunConfig(runtime, precision=precision))
    x = np.random.default_rng(1).standard_normal(SHAPE).astype(np.float32)
    out = compiled.infer(x)
    assert out.shape[0] == 1
    assert np.isfinite(out).all()
    assert compiled.executed.precision
