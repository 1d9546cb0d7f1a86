"""Can this hardware make a precision faster? One place for every skip reason."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from hwfit.precisions import Precision

if TYPE_CHECKING:
    from hwfit.hardware import HardwareProfile

__all__ = ["Verdict", "verdict"]

_GPU_RUNTIMES = ("-cuda", "-tensorrt", "-gpu")


@dataclasses.dataclass(frozen=True)
class Verdict:
    """Whether this hardware can make a precision pay off, and why not."""

    ok: bool
    reason: str | None = None


def verdict(runtime: str, precision: Precision, hardware: HardwareProfile) -> Verdict:
    """Say whether ``runtime`` on this hardware can run ``precision`` faster than FP32.

    The rules follow what the CPU's instruction set offers: INT8 pays off with VNNI or AMX
    (otherwise int8 dot products are emulated with several instructions; OpenVINO's AVX2
    kernels still win, ONNX Runtime's do not), BF16 with
    AVX512-BF16 or AMX, FP16 only with native FP16 arithmetic (AVX512-FP16 or AMX-FP16);
    GPUs have all three.

    Example:
        >>> from hwfit.hardware import probe
        >>> verdict("openvino", Precision.FP32, probe(include_runtimes=False)).ok
        True
    """
    if precision is Precision.FP32 or runtime.endswith(_GPU_RUNTIMES):
        return Verdict(True)
    cpu = hardware.cpu
    if precision.is_int8:
        if cpu.arch == "aarch64":
            return Verdict(True)  # NEON dot-product int8 kernels in both runtimes
        if any(f in cpu.features for f in ("avx512_vnni", "avx_vnni", "amx_int8")):
            return Verdict(True)
        if runtime.startswith("openvino") and "avx2" in cpu.features:
            # OpenVINO's AVX2 INT8 kernels (VPMADDUBSW: 32 products per instruction, then a
            # widening add) still beat FP32's 8 per FMA: on an AMD EPYC with AVX2 and no VNNI,
            # NNCF INT8 ran 1.2-2.1x the samples/s of OpenVINO FP32 while ONNX Runtime's QDQ
            # INT8 ran at 0.3-0.7x of its FP32 (`benchmarks/peers.py --objective throughput`,
            # mobilenetv3_large_100, resnet18, efficientnet_b0).
            return Verdict(True)
        return Verdict(
            False,
            "INT8 needs VNNI or AMX to be faster; this CPU has neither (int8 dot products "
            "would take several instructions each)",
        )
    if precision is Precision.BF16:
        if any(f in cpu.features for f in ("avx512_bf16", "amx_bf16")):
            return Verdict(True)
        return Verdict(
            False, "BF16 needs AVX512-BF16 or AMX; without them it is emulated, slower than FP32"
        )
    if precision is Precision.FP16:
        if any(f in cpu.features for f in ("avx512_fp16", "amx_fp16")):
            return Verdict(True)
        return Verdict(
            False,
            "this CPU has no native FP16 arithmetic (AVX512-FP16 or AMX-FP16); FP16 would be "
            "converted to FP32 for every operation",
        )
    return Verdict(True)
