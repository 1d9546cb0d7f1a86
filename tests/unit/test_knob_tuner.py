"""The knob tuner's decisions and the spaces runtimes declare, per machine.

The sweep is replaced by figures chosen here: the subject is what the tuner makes of measured
figures (which setting ships, which does not and why), not the measuring, which
tests/integration/test_knobs.py exercises with real runtimes.
"""

import dataclasses
from pathlib import Path

import pytest

from hwfit.bench.jobs import SweepFigure
from hwfit.hardware import CpuInfo, HardwareProfile
from hwfit.records import Executed, InputSpec, ModelInfo, PairedRatio, RunConfig
from hwfit.runtimes import get_runtime
from hwfit.tune import knobs
from hwfit.tune.knobs import tune_knobs

GIB = 1024**3


def _profile(cores: int, threads: int | None = None) -> HardwareProfile:
    threads = threads or cores
    cpu = CpuInfo("AMD", "AMD EPYC", "x86_64", cores, threads, threads, ("avx2",))
    return HardwareProfile("0" * 16, cpu, 16 * GIB, "os", "3.11")


@pytest.mark.parametrize(
    ("cores", "threads", "objective", "expected"),
    [
        (2, 2, "latency", {"INFERENCE_NUM_THREADS": ("2", "1"), "ENABLE_CPU_PINNING": 2}),
        (2, 2, "throughput", {"NUM_STREAMS": ("1", "2")}),
        (
            8,
            16,
            "latency",
            {"INFERENCE_NUM_THREADS": ("16", "8", "4"), "ENABLE_HYPER_THREADING": ("YES", "NO")},
        ),
        (1, 1, "latency", {"ENABLE_CPU_PINNING": 2}),
    ],
    ids=["2-cores", "2-cores-throughput", "smt", "1-core"],
)
def test_openvino_space_follows_the_machine(cores, threads, objective, expected):
    space = get_runtime("openvino").tunables(_profile(cores, threads), objective)
    for key, values in expected.items():
        assert (len(space[key]) if isinstance(values, int) else space[key]) == values
    assert ("NUM_STREAMS" in space) == (objective == "throughput" and threads > 1)
    assert ("ENABLE_HYPER_THREADING" in space) == (threads > cores)
    assert ("INFERENCE_NUM_THREADS" in space) == (threads > 1)  # one value: nothing to try


def test_onnxruntime_has_nothing_to_tune_on_one_thread():
    ort = get_runtime("onnxruntime")
    assert ort.tunables(_profile(1), "latency") == {}
    assert set(ort.tunables(_profile(2), "latency")) == {
        "session.intra_op.allow_spinning",
        "session.dynamic_block_base",
    }


def _ratio(speedup, low, high, noise=()):
    return PairedRatio(speedup, low, high, pairs=20, a_ms=1.0, b_ms=1.0 / speedup, noise=noise)


@dataclasses.dataclass
class _Setup:
    hardware: HardwareProfile
    objective: str = "latency"
    min_time_s: float = 0.1
    duration_s: float = 0.3

    artifact = dataclasses.make_dataclass("A", [("trust_model", bool, False)])()

    def timeout(self, remaining_s):
        return 30.0


SIDE = (
    ModelInfo("m", "onnx", "abc", InputSpec("x", (1, 3, 8, 8)), path=str(Path("m.onnx"))),
    RunConfig("onnxruntime"),
)


def _tune(monkeypatch, answer, trials=8, cores=2):
    """Tune with ``answer(settings, call)`` giving each sweep's figures; return the calls too."""
    calls = []

    def sweep(setup, a, variants, timeout_s):
        calls.append([dict(v[1].options) for v in variants])
        return tuple(answer(dict(v[1].options), len(calls)) for v in variants)

    monkeypatch.setattr(knobs, "sweep", sweep)
    tuning, executed = tune_knobs(
        _Setup(_profile(cores)), SIDE, trials=trials, remaining_s=lambda: None
    )
    return tuning, executed, calls


SPIN_OFF = {"session.intra_op.allow_spinning": "0", "session.dynamic_block_base": "4"}
READ_BACK = Executed("fp32", 2, details={"session.dynamic_block_base": "4"})


def test_a_setting_faster_twice_beyond_the_noise_ships(monkeypatch):
    def answer(settings, call):
        if settings == SPIN_OFF:
            return SweepFigure(ratio=_ratio(1.10, 1.06, 1.12), executed=READ_BACK)
        return SweepFigure(ratio=_ratio(1.0, 0.98, 1.02))

    tuning, executed, calls = _tune(monkeypatch, answer)
    assert tuning.sampler == "grid"
    assert len(tuning.trials) == 4  # 2 x 2: every setting, once
    assert len({t.settings for t in tuning.trials}) == 4
    assert calls[-1] == [SPIN_OFF]  # the best one measured again, alone
    assert dict(tuning.chosen) == SPIN_OFF
    assert tuning.confirmed.speedup == pytest.approx(1.10)
    assert executed is READ_BACK
    kept = [t for t in tuning.trials if t.verdict.startswith("kept")]
    assert [dict(t.settings) for t in kept] == [SPIN_OFF]
    assert {t.verdict for t in tuning.trials if t not in kept} == {"tied with the defaults"}


def test_a_setting_faster_once_only_does_not_ship(monkeypatch):
    def answer(settings, call):
        if settings == SPIN_OFF and call == 1:  # the first figure, not the confirmation
            return SweepFigure(ratio=_ratio(1.10, 1.06, 1.12))
        return SweepFigure(ratio=_ratio(1.0, 0.97, 1.03))

    tuning, executed, _ = _tune(monkeypatch, answer)
    assert tuning.chosen == ()
    assert executed is None
    lost = next(t for t in tuning.trials if dict(t.settings) == SPIN_OFF)
    assert lost.verdict.startswith("faster at first, not when measured again")
    assert "defaults were kept" in tuning.note


def test_noisy_slower_and_failed_settings_never_ship(monkeypatch):
    figures = iter(
        [
            SweepFigure(ratio=_ratio(1.30, 1.10, 1.50, noise=("others took 30% of the CPU",))),
            SweepFigure(ratio=_ratio(0.80, 0.78, 0.82)),
            SweepFigure(error="ONNX Runtime cannot load the model: boom"),
            SweepFigure(ratio=_ratio(1.0, 0.99, 1.01)),
        ]
    )
    tuning, _, _ = _tune(monkeypatch, lambda settings, call: next(figures))
    assert tuning.chosen == ()
    verdicts = [t.verdict for t in tuning.trials]
    assert verdicts[0].startswith("noisy: others took 30%")
    assert verdicts[1] == "slower than the defaults"
    assert verdicts[2] == "failed: ONNX Runtime cannot load the model: boom"
    assert tuning.trials[2].ratio is None
    assert "No setting ran faster" in tuning.note


def test_a_space_larger_than_the_trials_is_sampled_without_repeats(monkeypatch):
    space = {"A": ("1", "2", "3"), "B": ("1", "2", "3"), "C": ("x", "y")}  # 18 settings
    monkeypatch.setattr(
        get_runtime("onnxruntime"), "tunables", classmethod(lambda cls, hw, objective: space)
    )

    def answer(settings, call):
        speed = 1.0 + 0.05 * int(settings["A"])  # A=3 is fastest: TPE should find it
        return SweepFigure(ratio=_ratio(speed, speed - 0.01, speed + 0.01))

    tuning, _, calls = _tune(monkeypatch, answer, trials=10)
    assert tuning.sampler == "tpe"
    assert len(tuning.trials) == 10
    assert len({t.settings for t in tuning.trials}) == 10
    assert all(len(batch) <= knobs.ROUND for batch in calls)
    assert dict(tuning.chosen)["A"] == "3"


def test_the_time_budget_stops_tuning_between_rounds(monkeypatch):
    left = iter([10.0, 10.0, 0.0, 0.0, 0.0])
    monkeypatch.setattr(knobs, "ROUND", 2)

    def sweep(setup, a, variants, timeout_s):
        return tuple(SweepFigure(ratio=_ratio(1.0, 0.99, 1.01)) for _ in variants)

    monkeypatch.setattr(knobs, "sweep", sweep)
    tuning, _ = tune_knobs(
        _Setup(_profile(2)), SIDE, trials=8, remaining_s=lambda: next(left, 0.0)
    )
    assert len(tuning.trials) == 2
    assert "time budget ran out" in tuning.note


def test_nothing_to_tune_or_no_trials_gives_no_tuning(monkeypatch):
    assert tune_knobs(_Setup(_profile(1)), SIDE, trials=8, remaining_s=lambda: None) == (
        None,
        None,
    )
    assert tune_knobs(_Setup(_profile(2)), SIDE, trials=0, remaining_s=lambda: None) == (
        None,
        None,
    )


@pytest.mark.parametrize(
    ("low", "high", "verdict"),
    [
        (0.993, 0.998, "tied with the defaults"),  # printed 1.00x [0.99-1.00]: not "slower"
        (1.002, 1.004, "tied with the defaults"),  # printed [1.00-1.00]: not "faster"
        (0.97, 0.994, "slower than the defaults"),
        (1.006, 1.03, "faster than the defaults"),
    ],
)
def test_a_verdict_agrees_with_the_figure_as_printed(low, high, verdict):
    figure = SweepFigure(ratio=_ratio((low + high) / 2, low, high))
    assert knobs._verdict(figure) == verdict
