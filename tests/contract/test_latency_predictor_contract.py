"""The LatencyPredictor contract, run against every registered predictor."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from hwfit.errors import UserError
from hwfit.nas.latency import FEATURE_KEYS, PREDICTORS, PredictorQuality, evaluate

ALL = PREDICTORS.names()


def measurements(n: int = 16) -> tuple[list[dict[str, float]], list[float]]:
    """Feature dicts with every key, and latencies that follow a known positive law."""
    rows = [
        {k: random.Random(i * 1000 + j).uniform(1, 10) for j, k in enumerate(FEATURE_KEYS)}
        for i in range(n)
    ]
    return rows, [0.2 + 0.03 * r["layers"] + 0.01 * r["conv1x1_macs"] for r in rows]


@pytest.mark.parametrize("name", ALL)
def test_declares_its_name(name):
    assert PREDICTORS.load(name).name == name


@pytest.mark.parametrize("name", ALL)
def test_fit_then_predict_is_finite_positive_and_pure(name):
    rows, latencies = measurements()
    predictor = PREDICTORS.load(name)()
    with pytest.raises(UserError):
        predictor.predict(rows[:1])  # not fitted yet
    predictor.fit(rows, latencies)
    first = predictor.predict(rows)
    assert first.shape == (len(rows),)
    assert np.all(np.isfinite(first))
    assert np.all(first > 0)
    assert np.array_equal(predictor.predict(rows), first)  # predicting changes nothing
    assert predictor.predict_one(rows[0]) == pytest.approx(float(first[0]))


@pytest.mark.parametrize("name", ALL)
def test_save_then_load_predicts_the_same(name, tmp_path):
    rows, latencies = measurements()
    predictor = PREDICTORS.load(name)()
    predictor.fit(rows, latencies)
    predictor.save(tmp_path / "predictor")
    loaded = PREDICTORS.load(name).load(tmp_path / "predictor")
    assert np.array_equal(loaded.predict(rows), predictor.predict(rows))


@pytest.mark.parametrize("name", ALL)
def test_quality_is_a_record(name):
    rows, latencies = measurements()
    quality = evaluate(PREDICTORS.load(name)(), rows, latencies, test_fraction=0.25, seed=0)
    assert isinstance(quality, PredictorQuality)
    assert quality.n_test == 4
    assert quality.n_train == 12
    assert math.isfinite(quality.mape)
    assert quality.mape >= 0
    assert 0.0 <= quality.within_10 <= 1.0
    assert quality.summary().startswith("MAPE ")
