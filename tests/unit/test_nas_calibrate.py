import math

import pytest
from scipy import stats

from hwfit.errors import UserError
from hwfit.nas.calibrate import MIN_POINTS, Estimator, calibrate

ACC = {"a": 70.0, "b": 60.0, "c": 50.0, "d": 40.0, "e": 30.0, "f": 20.0}
KEYS = sorted(ACC, key=ACC.__getitem__, reverse=True)  # a..f, best first


def _scores(values):
    return dict(zip(KEYS, values, strict=True))


def test_calibrate_gives_known_taus_and_chooses_best():
    perfect = _scores([6, 5, 4, 3, 2, 1])
    one_swap = _scores([6, 5, 3, 4, 2, 1])  # 14 concordant, 1 discordant pair of 15
    reversed_ = _scores([1, 2, 3, 4, 5, 6])
    cal = calibrate({"params": one_swap, "synflow": perfect, "zen": reversed_}, ACC)

    assert cal.chosen == "synflow"
    assert cal.get("synflow").kendall_tau == pytest.approx(1.0)
    assert cal.get("params").kendall_tau == pytest.approx(13 / 15)
    assert cal.get("zen").kendall_tau == pytest.approx(-1.0)
    assert cal.get("params").spearman == pytest.approx(1 - 6 * 2 / (6 * 35))
    assert cal.get("synflow").n == 6
    assert next(c.proxy for c in cal.correlations) == "synflow"
    assert "synflow" in cal.reason


def test_calibrate_matches_scipy_on_ties():
    scores = _scores([3, 3, 2, 2, 1, 5])
    cal = calibrate({"naswot": scores}, ACC)
    expected = stats.kendalltau([scores[k] for k in KEYS], [ACC[k] for k in KEYS]).statistic
    assert cal.get("naswot").kendall_tau == pytest.approx(expected)


def test_calibrate_ties_go_to_the_simplest_proxy():
    same = _scores([6, 5, 4, 3, 2, 1])
    cal = calibrate({"zen": same, "synflow": same, "params": dict(same)}, ACC, combine=True)
    assert cal.chosen == "params"  # equal tau: params is simpler than synflow and zen
    # the combination of the two best ties too, and loses to a single proxy
    assert cal.get("params+synflow").kendall_tau == pytest.approx(1.0)


def test_calibrate_chooses_the_combination_when_it_ranks_better():
    # each proxy misorders a different pair; their rank average only ties those pairs
    snip = _scores([6, 5, 3, 4, 2.2, 1])
    grad = _scores([6, 5, 4, 3, 1, 2.5])
    # equal taus: grad_norm is the simpler; without combine=True no combination competes
    assert calibrate({"snip": snip, "grad_norm": grad}, ACC).chosen == "grad_norm"
    cal = calibrate({"snip": snip, "grad_norm": grad}, ACC, combine=True)
    assert cal.get("snip").kendall_tau < 1.0
    assert cal.chosen == "grad_norm+snip"
    assert cal.chosen_proxies == ("grad_norm", "snip")


def test_calibrate_skips_nan_and_missing_keys():
    scores = _scores([6, 5, math.nan, 3, 2, 1])
    trained = dict(ACC, b=math.nan, g=10.0)  # g has no score, b failed to train
    cal = calibrate({"snip": scores, "flops": {"x": 1.0}}, trained)
    snip = cal.get("snip")
    assert snip.n == 4  # a, d, e, f
    assert snip.kendall_tau == pytest.approx(1.0)
    assert cal.chosen == "snip"
    assert cal.get("flops").n == 0
    assert math.isnan(cal.get("flops").kendall_tau)
    assert cal.correlations[-1].proxy == "flops"  # NaN taus sort last


def test_calibrate_with_too_few_points_chooses_none_or_the_fallback():
    few = {k: ACC[k] for k in KEYS[: MIN_POINTS - 1]}
    scores = {"synflow": _scores([6, 5, 4, 3, 2, 1])}
    cal = calibrate(scores, few)
    assert cal.chosen is None
    assert f"at least {MIN_POINTS}" in cal.reason
    assert cal.get("synflow").n == MIN_POINTS - 1
    assert calibrate(scores, few, fallback="synflow").chosen == "synflow"
    assert calibrate({}, ACC).chosen is None


def test_calibrate_constant_scores_have_no_tau():
    cal = calibrate({"params": _scores([1, 1, 1, 1, 1, 1])}, ACC)
    assert math.isnan(cal.get("params").kendall_tau)
    assert cal.chosen is None
    assert "constant" in cal.reason


def test_estimator_fits_a_line_on_percentiles_and_keeps_the_order():
    population = {"synflow": {f"k{i}": float(i) for i in range(10)}}
    population["synflow"].update(a=100.0, f=-100.0)
    est = Estimator(["synflow"], population, {"a": 80.0, "f": 20.0})
    low, mid, high = (est.estimate({"synflow": s}) for s in (-100.0, 4.5, 100.0))
    assert low == pytest.approx(20.0)
    assert high == pytest.approx(80.0)
    assert low < mid < high
    assert est.estimate({"synflow": math.nan}) == pytest.approx(est.estimate({"synflow": -1e9}))
    assert est.points == 2


def test_estimator_rank_averages_two_proxies():
    population = {"a": {"x": 1.0, "y": 2.0, "z": 3.0}, "b": {"x": 30.0, "y": 20.0, "z": 10.0}}
    est = Estimator(["a", "b"], population, {})
    # x: top of b, bottom of a -> middle; with no trained points the estimate is 100 * percentile
    assert est.estimate({"a": 1.0, "b": 30.0}) == pytest.approx(50.0)
    assert est.estimate({"a": 3.0, "b": 30.0}) > est.estimate({"a": 2.0, "b": 20.0})


def test_estimator_rejects_missing_proxies():
    with pytest.raises(UserError, match="no finite score"):
        Estimator(["zen"], {"zen": {"a": math.nan}}, {})
    est = Estimator(["zen"], {"zen": {"a": 1.0}}, {"a": 50.0})
    assert est.estimate({"zen": 3.0}) == pytest.approx(50.0, abs=1e-3)
    with pytest.raises(UserError, match="'zen'"):
        est.estimate({"snip": 1.0})


def test_estimator_fit_and_predict_for_one_proxy():
    est = Estimator.fit("snip", {"a": 1.0, "b": 2.0, "c": 3.0, "d": 4.0}, {"a": 30.0, "d": 60.0})
    values = est.predict([1.0, 4.0, 2.5])
    assert values.tolist() == pytest.approx([30.0, 60.0, 45.0])
    two = Estimator(["a", "b"], {"a": {"x": 1.0}, "b": {"x": 2.0}}, {})
    with pytest.raises(UserError, match="one proxy"):
        two.predict([1.0])


def test_calibration_to_dict_is_json_friendly():
    import json

    cal = calibrate(
        {"params": _scores([1, 1, 1, 1, 1, 1]), "snip": _scores([6, 5, 4, 3, 2, 1])}, ACC
    )
    data = json.loads(json.dumps(cal.to_dict(), allow_nan=False))
    assert data["chosen"] == "snip"
    assert data["correlations"][1] == {
        "proxy": "params",
        "kendall_tau": None,
        "spearman": None,
        "p_value": None,
        "n": 6,
    }
