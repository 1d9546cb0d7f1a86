"""The records of ``hwfit search`` (``hwfit.records.search``): JSON form and round trip."""

from __future__ import annotations

import json
import math

from hwfit.records.search import (
    ArchResult,
    Calibration,
    PredictorQuality,
    ProxyCorrelation,
    SearchCost,
    SearchResult,
    TrialRecord,
)


def _calibration() -> Calibration:
    return Calibration(
        correlations=(
            ProxyCorrelation("synflow", 0.6, 0.7, 0.01, 8),
            ProxyCorrelation("zen", math.nan, math.nan, math.nan, 8),
        ),
        chosen="synflow",
        n=8,
        reason="highest Kendall tau",
        short_epochs=1.0,
        estimator="Estimator(synflow)",
    )


def test_calibration_json_has_the_keys_of_calibration_json_with_nan_as_null() -> None:
    data = _calibration().to_dict()
    assert list(data) == [
        "chosen",
        "n",
        "reason",
        "correlations",
        "kendall_tau",
        "short_epochs",
        "estimator",
    ]
    assert data["kendall_tau"] == {"synflow": 0.6, "zen": None}
    assert data["correlations"][1]["spearman"] is None
    json.dumps(data, allow_nan=False)  # valid JSON: no NaN left
    back = Calibration.from_dict(data)
    assert back.chosen == "synflow"
    assert back.kendall_tau == {"synflow": 0.6, "zen": None}
    assert math.isnan(back.correlations[1].spearman)


def test_search_result_round_trips_through_its_json() -> None:
    def arch(key: str, role: str) -> ArchResult:
        return ArchResult(key, role, "d", {"w": 8}, 1.0, 1.1, 50.0, 60.0, 1000,
                          measured_ci_ms=(1.0, 1.2))  # fmt: skip

    base = arch("base", "baseline")
    result = SearchResult(
        out="out",
        space="mobilenetv2_100",
        target="onnxruntime:fp32:bs1:cpu",
        baseline=base,
        scaled=[arch("s", "scaled w0.5 d1")],
        found=[arch("f", "found")],
        front=[arch("p", "front")],
        trials=[TrialRecord(0, "base", {"w": 8}, 1.0, 50.0, feasible=False)],
        predictor_quality=PredictorQuality(6, 2, 0.05, 0.9, 0.8),
        calibration=_calibration(),
        cost=SearchCost(60.0, 0.03, 10, 4, 12, runs=2, this_run_wall_s=30.0),
        best=None,
        speedup=None,
        notes=["a note"],
    )
    data = json.loads(json.dumps(result.to_dict()))
    assert data["predictor_quality"]["within_10"] == 0.9
    assert data["trials"][0]["feasible"] is False
    assert data["cost"]["runs"] == 2
    back = SearchResult.from_dict(data)
    assert back.baseline == base
    assert back.trials == result.trials
    assert back.cost == result.cost
    assert back.predictor_quality == result.predictor_quality
    assert back.calibration.kendall_tau == result.calibration.kendall_tau


def test_predictor_quality_summary_is_one_line() -> None:
    q = PredictorQuality(n_train=45, n_test=15, mape=0.041, within_10=0.93, kendall_tau=0.91)
    assert q.summary() == "MAPE 4.1%, 93% within +-10%, Kendall tau 0.91 (45 train / 15 test)"
