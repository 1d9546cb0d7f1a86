"""Why a lower precision did or did not pay off: measured per layer type, and the hardware.

The explanation is built from measurements: the candidate's speed-up over FP32 on the same
runtime and, where the runtime has per-layer counters (OpenVINO, ONNX Runtime), the time each
layer type took in both (:mod:`hwfit.tune.profiles`). Where there are none (PyTorch), it falls
back to the model's structure, counted on the PyTorch module (how much of its arithmetic sits
in depthwise convolutions, how many squeeze-excite gates it has), and says "likely".
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from hwfit.records import Explanation, Payoff
from hwfit.tune.profiles import layer_reasons

if TYPE_CHECKING:
    import torch

    from hwfit.hardware import HardwareProfile
    from hwfit.records import LayerProfile, Outcome

__all__ = ["ModelStructure", "explain", "structure_of"]

PAYS_OFF = 1.10  # a lower precision "pays off" when it is at least 10% faster than FP32


@dataclasses.dataclass(frozen=True)
class ModelStructure:
    """Counts that decide how well a model quantizes for speed."""

    macs: int
    conv_macs: int
    depthwise_macs: int
    linear_macs: int
    se_blocks: int
    layers: int

    @property
    def depthwise_share(self) -> float:
        """Share of multiply-accumulates in depthwise convolutions."""
        return self.depthwise_macs / self.macs if self.macs else 0.0


def structure_of(module: torch.nn.Module, input_shape: tuple[int, ...]) -> ModelStructure | None:
    """Count the model's MACs by layer kind with one forward pass (batch 1); None on failure."""
    import torch

    counts = {"conv": 0, "dw": 0, "linear": 0, "layers": 0}

    def conv_hook(layer: torch.nn.Conv2d, _inputs: object, output: torch.Tensor) -> None:
        kh, kw = layer.kernel_size
        macs = output.numel() * (layer.in_channels // layer.groups) * kh * kw
        counts["layers"] += 1
        if layer.groups > 1 and layer.groups == layer.in_channels:
            counts["dw"] += macs
        else:
            counts["conv"] += macs

    def linear_hook(layer: torch.nn.Linear, _inputs: object, output: torch.Tensor) -> None:
        counts["linear"] += output.numel() * layer.in_features
        counts["layers"] += 1

    handles = []
    se_blocks = 0
    for sub in module.modules():
        if isinstance(sub, torch.nn.Conv2d):
            handles.append(sub.register_forward_hook(conv_hook))
        elif isinstance(sub, torch.nn.Linear):
            handles.append(sub.register_forward_hook(linear_hook))
        if "squeezeexcite" in type(sub).__name__.lower() or type(sub).__name__ in (
            "SEModule",
            "EffectiveSEModule",
        ):
            se_blocks += 1
    try:
        with torch.inference_mode():
            module(torch.zeros((1, *input_shape[1:])))
    except Exception:  # structure is a nicety for the report; never fail optimize over it
        return None
    finally:
        for h in handles:
            h.remove()
    total = counts["conv"] + counts["dw"] + counts["linear"]
    return ModelStructure(
        macs=total,
        conv_macs=counts["conv"],
        depthwise_macs=counts["dw"],
        linear_macs=counts["linear"],
        se_blocks=se_blocks,
        layers=counts["layers"],
    )


def explain(
    outcome: Outcome,
    fp32: Outcome | None,
    structure: ModelStructure | None,
    hardware: HardwareProfile,
    layers: tuple[LayerProfile, LayerProfile] | None = None,
) -> Explanation | None:
    """Say whether ``outcome``'s precision paid off against FP32 on the same runtime, and why.

    Args:
        outcome: The candidate.
        fp32: FP32 on the same runtime, threads and batch.
        structure: The model's counted structure (used only without ``layers``).
        hardware: The machine (its ISA says what the CPU can do natively).
        layers: The candidate's and FP32's per-layer-type profiles, when measured: the
            reasons are then read from them.

    Returns None for FP32 candidates and when either side was not measured.
    """
    precision = outcome.candidate.precision
    if precision == "fp32" or fp32 is None or outcome.p50_ms is None or fp32.p50_ms is None:
        return None
    mine = outcome.bench.speedup if outcome.bench else None
    theirs = fp32.bench.speedup if fp32.bench else None
    if mine is not None and theirs is not None:
        # Both were measured paired against the same baseline: their quotient is the pair's
        # ratio without the drift between the two measurements.
        speedup = mine.speedup / theirs.speedup
    else:
        speedup = fp32.p50_ms / outcome.p50_ms
    runtime = outcome.candidate.runtime
    head = f"{precision} on {runtime} is {speedup:.2f}x the speed of fp32"
    measured = layer_reasons(layers[0], layers[1], precision) if layers else None
    if speedup >= PAYS_OFF:
        tail = f"; {measured}" if measured else ""
        return Explanation(Payoff.PAYS_OFF, f"{head}: it pays off here{tail}.")
    if measured is not None:
        structure = None  # measured layer times replace counted MAC shares
    reasons = []
    features = set(hardware.cpu.features)
    if precision.startswith("int8"):
        if not features & {"avx512_vnni", "avx_vnni", "amx_int8"}:
            reasons.append(
                "this CPU has no VNNI or AMX, so each int8 dot product takes several instructions"
            )
        if precision == "int8-dynamic":
            reasons.append(
                "dynamic quantization only covers MatMul/Gemm; convolutions stay in float and "
                "activations are quantized on every call"
            )
        if structure is not None:
            if structure.depthwise_share >= 0.05 or structure.se_blocks:
                reasons.append(
                    f"depthwise convolutions ({structure.depthwise_share:.0%} of the MACs) and "
                    f"{structure.se_blocks} squeeze-excite gates are memory-bound: int8 saves "
                    "bytes, not time there, and each quantize/dequantize around them adds work"
                )
            if structure.macs < 400e6:
                reasons.append(
                    f"the model is small ({structure.macs / 1e6:.0f} M MACs per image), so fixed "
                    "per-layer costs weigh more than arithmetic"
                )
    elif precision == "bf16":
        if not features & {"avx512_bf16", "amx_bf16"}:
            reasons.append("this CPU has no AVX512-BF16 or AMX, so BF16 is emulated")
        elif "amx_bf16" not in features:
            reasons.append(
                "AVX512-BF16 without AMX gives at most twice the FP32 dot-product rate, and "
                "conversions between FP32 and BF16 around each layer eat into it"
            )
        if structure is not None and structure.depthwise_share >= 0.05:
            reasons.append(
                f"depthwise convolutions ({structure.depthwise_share:.0%} of the MACs) are "
                "memory-bound"
            )
    elif precision == "fp16" and not features & {"avx512_fp16", "amx_fp16"}:
        reasons.append("this CPU has no native FP16 arithmetic")
    if measured is not None:
        return Explanation(
            Payoff.DOES_NOT_PAY_OFF,
            f"{head}: it does not pay off; " + "; ".join([*reasons, measured]) + ".",
        )
    if not reasons:
        reasons.append("the runtime's FP32 kernels are already efficient for this model")
    text = f"{head}: it does not pay off; likely because " + "; ".join(reasons) + "."
    return Explanation(Payoff.DOES_NOT_PAY_OFF, text)
