"""optimize() refuses bad options before it loads or measures anything."""

import numpy as np
import pytest

import hwfit
from hwfit.errors import UnknownNameError, UserError


@pytest.fixture
def data(tmp_path):
    path = tmp_path / "x.npz"
    np.savez(path, x=np.zeros((4, 3, 8, 8), dtype=np.float32))
    return str(path)


def test_optimize_refuses_an_unknown_objective(data, tmp_path):
    with pytest.raises(UserError, match="Unknown objective 'speed'"):
        hwfit.optimize("timm:no_such_model", data, out=tmp_path / "o", objective="speed")


def test_optimize_refuses_an_unknown_strategy_before_loading_the_model(data, tmp_path):
    with pytest.raises(UnknownNameError, match="Unknown search strategy 'gird'"):
        hwfit.optimize("timm:no_such_model", data, out=tmp_path / "o", strategy="gird")
    assert not (tmp_path / "o").exists()


def test_optimize_takes_one_batch_for_latency_and_a_choice_for_throughput(data, tmp_path):
    with pytest.raises(UserError, match="one batch for the latency objective") as info:
        hwfit.optimize("timm:no_such_model", data, out=tmp_path / "o", batch=[1, 8])
    assert "throughput" in (info.value.hint or "")
    for bad in ([1, 0], []):
        with pytest.raises(UserError, match="--batch"):
            hwfit.optimize(
                "timm:no_such_model", data, out=tmp_path / "o", batch=bad, objective="throughput"
            )
    assert not (tmp_path / "o").exists()
