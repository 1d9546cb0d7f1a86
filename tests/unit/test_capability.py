"""The precision verdicts: what an instruction set says about INT8, per runtime."""

import dataclasses

import pytest

from hwfit.hardware import CpuInfo, HardwareProfile
from hwfit.precisions import Precision
from hwfit.precisions.capability import verdict

GIB = 1024**3


def _profile(*features: str, arch: str = "x86_64") -> HardwareProfile:
    cpu = CpuInfo(
        vendor="AMD",
        brand="AMD EPYC",
        arch=arch,
        physical_cores=2,
        logical_threads=2,
        usable_threads=2,
        features=features,
        l1d_cache_bytes=32 * 1024,
        l2_cache_bytes=512 * 1024,
        l3_cache_bytes=32 * 1024 * 1024,
        frequency_mhz=2600.0,
    )
    return HardwareProfile("0" * 16, cpu, 16 * GIB, "os", "3.11")


@pytest.mark.parametrize("precision", [Precision.INT8, Precision.INT8_MIXED])
def test_avx2_without_vnni_runs_openvino_int8_but_not_onnxruntime_int8(precision):
    avx2 = _profile("avx2", "fma", "f16c")
    assert verdict("openvino", precision, avx2).ok
    refused = verdict("onnxruntime", Precision.INT8, avx2)
    assert not refused.ok
    assert "VNNI" in (refused.reason or "")


def test_vnni_or_amx_runs_int8_on_both_runtimes():
    for features in (("avx2", "avx512_vnni"), ("avx2", "avx_vnni"), ("amx_int8",)):
        for runtime in ("openvino", "onnxruntime"):
            assert verdict(runtime, Precision.INT8, _profile(*features)).ok, (runtime, features)


def test_a_cpu_without_avx2_refuses_int8_everywhere_and_says_why():
    old = _profile("sse4_2")
    for runtime in ("openvino", "onnxruntime"):
        refused = verdict(runtime, Precision.INT8, old)
        assert not refused.ok
        assert refused.reason


def test_bf16_and_fp16_follow_their_own_instructions_not_int8s():
    avx2 = _profile("avx2", "fma")
    assert not verdict("openvino", Precision.BF16, avx2).ok
    assert not verdict("openvino", Precision.FP16, avx2).ok
    assert verdict("openvino", Precision.BF16, _profile("avx2", "avx512_bf16")).ok
    arm = dataclasses.replace(_profile(), cpu=dataclasses.replace(_profile().cpu, arch="aarch64"))
    assert verdict("onnxruntime", Precision.INT8, arm).ok
