"""``hwfit.nas.search``: a tiny search end to end, resume after a killed run, two workers."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from hwfit.db import ResultStore
from hwfit.nas.search import SearchPlan, search

TINY = SearchPlan(
    measure=8,
    proxy_pool=6,
    short_train=4,
    short_epochs=0.2,
    trials=12,
    population=6,
    front_measure=3,
    screen=2,
    screen_epochs=0.2,
    top_k=1,
    full_epochs=0.2,
    duration_s=0.2,
    scaled=((0.5, 1.0),),
)
# Two workers at once on 2 cores: the least work that still runs every phase.
SHARED = dataclasses.replace(
    TINY, proxy_pool=4, short_train=3, front_measure=2, screen=1, scaled=(), full_epochs=0.1
)
ARGS = {"resolution": 32, "train_size": 200, "val_size": 100, "optimize_found": False}


def _latencies(db: Path) -> dict[str, float | None]:
    """Every latency the search cached in the results database ``db``: key -> p50 (ms)."""
    with ResultStore(str(db)) as store:
        return {r.arch_key: None if math.isnan(r.p50_ms) else r.p50_ms for r in store.latencies()}


@pytest.mark.slow  # ~1.5 min: every phase once; tests/cli/test_search_cli.py runs the early ones
@pytest.mark.timeout(900)
def test_tiny_search_end_to_end(tmp_path: Path) -> None:
    phases: list[str] = []
    db = tmp_path / "results.db"
    result = search(
        "timm:mobilenetv2_050",
        None,
        tmp_path,
        db=str(db),
        plan=TINY,
        progress=lambda e: phases.append(e.phase),
        **ARGS,
    )
    # Every phase ran, in order.
    order = [
        "latency",
        "accuracy: proxies",
        "accuracy: short",
        "search",
        "verify: screen",
        "verify: full",
    ]
    firsts = [next(i for i, p in enumerate(phases) if p.startswith(o)) for o in order]
    assert firsts == sorted(firsts)
    # The baseline and its scaled variant were trained with the same recipe and measured.
    assert result.baseline.role == "baseline"
    assert result.baseline.trained_top1 is not None
    assert result.baseline.measured_ms is not None
    assert result.baseline.measured_ms > 0
    assert [r.role for r in result.scaled] == ["scaled w0.5 d1"]
    assert result.scaled[0].measured_ms is not None
    # The search ran its trials through NSGA-II and kept a front; the front was measured.
    assert result.cost.trials == TINY.trials
    assert 1 <= len(result.front) <= TINY.front_measure
    assert all(r.measured_ms is not None for r in result.front)
    # Without a latency budget the search aimed at the speed-up goal: one threshold (the
    # baseline's measured latency / 1.5) splits the trials into feasible and not.
    assert any(n.startswith("No latency budget given") for n in result.notes)
    feasible = [t.predicted_ms for t in result.trials if t.feasible]
    infeasible = [t.predicted_ms for t in result.trials if not t.feasible]
    assert infeasible  # the baseline itself is enqueued and is not 1.5x faster than itself
    assert not feasible or max(feasible) < min(infeasible)
    # The baseline was screened with the candidates (same short recipe) before the finalists
    # were chosen, and the finalists come from the screened ones.
    assert result.baseline.screened_top1 is not None
    screened = json.loads((tmp_path / "screen.json").read_text())
    assert result.baseline.key in screened
    assert all(r.key in screened for r in result.found)
    # Predictor quality and calibration are reported.
    q = result.predictor_quality
    assert {"mape", "within_10", "kendall_tau", "n_train", "n_test"} <= set(dataclasses.asdict(q))
    assert q.n_train + q.n_test >= TINY.measure - 1
    assert result.calibration.chosen is not None
    # Files a user (or a resumed run) needs.
    for name in ("search.json", "search.html", "calibration.json"):
        assert (tmp_path / name).exists(), name
    assert result.baseline.key in _latencies(db)  # the latency cache, in the results database
    saved = json.loads((tmp_path / "search.json").read_text())
    assert saved["baseline"]["key"] == result.baseline.key
    html = (tmp_path / "search.html").read_text()
    assert "Verified" in html
    assert result.baseline.key in html
    # A found architecture (if any) is faster than the baseline when measured.
    for r in result.found:
        assert r.key != result.baseline.key


_KILLED_RUN = textwrap.dedent(
    """
    import sys
    from hwfit.nas.search import SearchPlan, search
    plan = SearchPlan(**{plan!r})
    plan = SearchPlan(**{{**plan.__dict__, "scaled": tuple(tuple(s) for s in plan.scaled)}})
    if __name__ == "__main__":
        storage = sys.argv[2] if len(sys.argv) > 2 else None
        search("timm:mobilenetv2_050", None, sys.argv[1], plan=plan, storage=storage, **{args!r})
    """
)


@pytest.mark.slow  # ~1.5 min; the Ctrl-C test in tests/cli covers what is kept and the hint
@pytest.mark.timeout(900)
def test_search_resumes_after_kill(tmp_path: Path) -> None:

    out = tmp_path / "out"
    db = tmp_path / "results.db"
    script = tmp_path / "run.py"
    script.write_text(_KILLED_RUN.format(plan=dataclasses.asdict(TINY), args=ARGS))
    proc = subprocess.Popen(
        [sys.executable, str(script), str(out)],
        env={**os.environ, "HWFIT_DB": str(db)},  # the search's default results database
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    # Kill it (SIGKILL: no clean-up at all) once the latency phase is done and proxies run.
    deadline = time.monotonic() + 600
    try:
        while not (out / "proxy-scores.json").exists():
            assert proc.poll() is None, "the search ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.5)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    before = _latencies(db)
    assert len(before) >= TINY.measure - 1
    scores_before = json.loads((out / "proxy-scores.json").read_text())

    phases: list[tuple[str, str]] = []
    result = search(
        "timm:mobilenetv2_050",
        None,
        out,
        db=str(db),
        plan=TINY,
        progress=lambda e: phases.append((e.phase, e.note)),
        **ARGS,
    )
    # Nothing measured before the kill was measured again in the latency phase ...
    after = _latencies(db)
    final = {result.baseline.key, *(r.key for r in result.scaled), *(r.key for r in result.found)}
    for key, ms in before.items():
        if key not in final:  # the verification re-measures these on purpose
            assert after[key] == ms
    # ... and proxy scores computed before the kill were kept.
    scores_after = json.loads((out / "proxy-scores.json").read_text())
    for key, scores in scores_before.items():
        assert scores_after[key] == scores
    assert result.cost.trials == TINY.trials
    assert (out / "search.html").exists()


@pytest.mark.slow  # two searches at once: ~5 min on 2 cores, each retrying the other's contention
@pytest.mark.timeout(900)
def test_two_workers_share_one_study(tmp_path: Path) -> None:
    """Two processes, one storage URL: one study of plan.trials trials, not one each."""
    import optuna

    storage = f"sqlite:///{tmp_path / 'shared-study.sqlite'}"
    script = tmp_path / "run.py"
    script.write_text(_KILLED_RUN.format(plan=dataclasses.asdict(SHARED), args=ARGS))
    workers = [
        subprocess.Popen(
            [sys.executable, str(script), str(tmp_path / f"worker{i}"), storage],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    for proc in workers:
        _, err = proc.communicate(timeout=800)
        assert proc.returncode == 0, err[-2000:]
    (name,) = optuna.get_all_study_names(storage)
    study = optuna.load_study(study_name=name, storage=storage)
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    # The workers stopped together (the other may finish the trial it had started): without
    # the shared stop each would have run TINY.trials of its own.
    assert SHARED.trials <= len(complete) <= SHARED.trials + 1
    assert all(t.user_attrs.get("worker") for t in complete)
    # Each worker reports the whole shared study, whoever ran its trials.
    for i in range(2):
        saved = json.loads((tmp_path / f"worker{i}" / "search.json").read_text())
        assert saved["cost"]["trials"] >= SHARED.trials
