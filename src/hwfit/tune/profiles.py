"""Where the measured candidates' time goes, per layer type, and what that says about precision.

After the candidates are measured, each one that ran on a runtime with per-layer counters
(OpenVINO's ``PERF_COUNT``, ONNX Runtime's profiler) is run again in a worker with the counters
on: the time per layer type and the precision its kernels ran in. :func:`layer_reasons` reads
from two such profiles why a lower precision did or did not pay off against FP32 on the same
runtime: which layer types got faster, which got slower, and what the conversions cost.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hwfit.bench import layer_profile
from hwfit.records import LayerProfile, Outcome, RowState
from hwfit.runtimes import get_runtime

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from hwfit.records import Candidate
    from hwfit.tune._run import RunSetup, Side

__all__ = ["MAX_PROFILES", "layer_reasons", "profile_outcomes"]

MAX_PROFILES = 8  # profiled candidates per run at most (the fastest first; the winner always)
RUNS = 30  # inferences each profile's per-layer medians are taken over
#: Layer types that only move data between precisions or layouts.
CONVERSIONS = frozenset(
    {
        "Reorder", "FakeQuantize", "Convert",  # OpenVINO
        "QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear", "Cast",  # ONNX Runtime
        "ReorderInput", "ReorderOutput",
    }
)  # fmt: skip
#: Quantized operators and the float operator they stand for (compared with it).
_FAMILIES = {
    "QLinearConv": "Conv", "ConvInteger": "Conv", "QGemm": "Gemm", "MatMulInteger": "MatMul",
    "QLinearMatMul": "MatMul", "DynamicQuantizeMatMul": "MatMul", "QLinearAdd": "Add",
    "QLinearMul": "Mul", "QLinearGlobalAveragePool": "GlobalAveragePool",
    "QLinearSigmoid": "Sigmoid", "FusedConv": "Conv", "NhwcFusedConv": "Conv",
    "QLinearAveragePool": "AveragePool", "QLinearConcat": "Concat",
}  # fmt: skip


def _counters(runtime: str) -> str | None:
    try:
        return get_runtime(runtime).layer_counters
    except Exception:  # an unknown or unloadable runtime has no counters to read
        return None


def profile_outcomes(
    setup: RunSetup,
    outcomes: Sequence[Outcome],
    side: Callable[[Outcome], Side],
    notes: list[str],
    *,
    first: Outcome | None = None,
) -> dict[Candidate, LayerProfile]:
    """Profile ``first`` and the fastest measured outcomes on runtimes with per-layer counters.

    A profile that fails adds a note; the run goes on without it.
    """
    measured = [
        o
        for o in outcomes
        if o.state in (RowState.COMPLETE, RowState.REJECTED)
        and o.p50_ms is not None
        and _counters(o.candidate.runtime)
    ]
    measured.sort(key=lambda o: o.p50_ms or 0.0)
    if first is not None and first in measured:
        measured.remove(first)
        measured.insert(0, first)
    profiles: dict[Candidate, LayerProfile] = {}
    for outcome in measured[:MAX_PROFILES]:
        got = layer_profile(
            side(outcome), runs=RUNS, timeout_s=setup.timeout_s,
            trust_model=setup.artifact.trust_model,
        )  # fmt: skip
        if isinstance(got, str):
            notes.append(f"No per-layer times for {outcome.candidate.label}: {got}")
            continue
        layers, executed = got
        profiles[outcome.candidate] = LayerProfile(
            label=outcome.candidate.label,
            executed=executed,
            runs=RUNS,
            layers=layers,
            source=_counters(outcome.candidate.runtime) or "",
        )
    return profiles


def _families(times: dict[str, float]) -> dict[str, float]:
    """Times per layer family: an INT8 operator counts with the float one it replaces.

    OpenVINO's ``FullyConnectedQuantizedLegacy`` is a FullyConnected; ONNX Runtime's
    ``QLinearConv`` a Conv.
    """
    out: dict[str, float] = {}
    for kind, us in times.items():
        family = "FullyConnected" if kind.startswith("FullyConnected") else kind
        family = family.removeprefix("Nhwc")  # ONNX Runtime's channels-last variants
        family = _FAMILIES.get(family, family)
        out[family] = out.get(family, 0.0) + us
    return out


def layer_reasons(mine: LayerProfile, fp32: LayerProfile, precision: str) -> str:
    """Why ``precision`` did or did not pay off, read from the two profiles' layer-type times.

    Example: "measured per layer type (OpenVINO PERF_COUNT, us per inference, int8 vs fp32):
    Convolution 2344 vs 3344 (faster), GroupConvolution 744 vs 570 (slower); conversions
    (Reorder, FakeQuantize) 410 vs 179".
    """
    a, b = _families(mine.by_kind()), _families(fp32.by_kind())
    kinds = sorted(set(a) | set(b), key=lambda k: -(a.get(k, 0.0) + b.get(k, 0.0)))
    compute = [k for k in kinds if k not in CONVERSIONS][:4]
    parts = []
    for kind in compute:
        x, y = a.get(kind, 0.0), b.get(kind, 0.0)
        verdict = "faster" if x < 0.95 * y else "slower" if x > 1.05 * y else "no change"
        parts.append(f"{kind} {x:.0f} vs {y:.0f} ({verdict})")
    conv_a = sum(a.get(k, 0.0) for k in CONVERSIONS)
    conv_b = sum(b.get(k, 0.0) for k in CONVERSIONS)
    text = (
        f"measured per layer type ({mine.source}, us per inference, {precision} vs fp32): "
        + ", ".join(parts)
        + f"; conversions between precisions and layouts (reorders, (de)quantize) {conv_a:.0f} "
        f"vs {conv_b:.0f}"
    )
    in_kernels = sorted({t.precision for t in mine.layers if t.kind not in CONVERSIONS} - {"-"})
    if in_kernels:
        text += f"; its kernels ran in {', '.join(in_kernels)}"
    return text
