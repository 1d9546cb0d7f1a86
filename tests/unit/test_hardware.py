"""Hardware probing on this machine, the fingerprint, and the profile record."""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import hwfit.hardware
from hwfit.errors import UnknownNameError
from hwfit.hardware import (
    ISA_FEATURES,
    CpuInfo,
    GpuInfo,
    HardwareProfile,
    fingerprint,
    probe,
    probe_cpu,
    probe_gpus,
)
from hwfit.hardware.cpu import features_from_flags, normalize_arch
from hwfit.hardware.gpu import parse_nvidia_smi
from hwfit.records import Availability

SRC = Path(hwfit.hardware.__file__).resolve().parents[2]
GIB = 1024**3


def _run_python(code: str, **env: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        env={**os.environ, "PYTHONPATH": str(SRC), **env},
    )
    return done.stdout.strip()


@pytest.fixture(scope="module")
def profile() -> HardwareProfile:
    return probe(include_runtimes=False)


def _cpu(**changes: object) -> CpuInfo:
    base = CpuInfo(
        vendor="AMD",
        brand="AMD EPYC 9R14",
        arch="x86_64",
        physical_cores=8,
        logical_threads=16,
        usable_threads=16,
        features=("avx2", "avx512_vnni", "avx512f", "fma"),
        l1d_cache_bytes=32 * 1024,
        l2_cache_bytes=1024 * 1024,
        l3_cache_bytes=32 * 1024 * 1024,
        frequency_mhz=2600.0,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


# --- probing this machine ---------------------------------------------------------------


def test_probe_reports_sane_values(profile: HardwareProfile) -> None:
    cpu = profile.cpu
    assert cpu.physical_cores >= 1
    assert cpu.logical_threads >= cpu.physical_cores
    assert 1 <= cpu.usable_threads <= cpu.logical_threads
    assert cpu.brand
    assert cpu.vendor
    assert cpu.arch == normalize_arch(platform.machine())
    assert profile.memory_bytes > 0
    assert profile.os == platform.platform()
    assert profile.python == platform.python_version()
    assert profile.runtimes == ()
    assert len(profile.fingerprint) == 16
    int(profile.fingerprint, 16)


def test_probe_features_are_a_sorted_tuple_of_known_names(profile: HardwareProfile) -> None:
    features = profile.cpu.features
    assert isinstance(features, tuple)
    assert set(features) <= set(ISA_FEATURES)
    assert list(features) == sorted(set(features))


def test_probe_cache_sizes_are_positive_and_grow_with_level(profile: HardwareProfile) -> None:
    cpu = profile.cpu
    known = [s for s in (cpu.l1d_cache_bytes, cpu.l2_cache_bytes, cpu.l3_cache_bytes) if s]
    assert all(isinstance(s, int) and s > 0 for s in known)
    assert known == sorted(known)
    if Path("/sys/devices/system/cpu/cpu0/cache/index0").is_dir():
        assert cpu.l1d_cache_bytes is not None
        assert cpu.l2_cache_bytes is not None
    assert cpu.frequency_mhz is None or cpu.frequency_mhz > 0


def _kernel_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.partition(":")[2].split())
    return set()


# On x86 Linux the kernel spells these flags exactly as hwfit does.
@pytest.mark.parametrize("feature", [f for f in ISA_FEATURES if f not in ("neon", "sve")])
def test_probe_features_match_the_kernel_flags_when_on_x86_linux(
    profile: HardwareProfile, feature: str
) -> None:
    flags = _kernel_flags()
    if not flags:
        pytest.skip("no x86 flags line in /proc/cpuinfo")
    assert profile.has(feature) == (feature in flags)


def test_probe_cpu_matches_the_profile(profile: HardwareProfile) -> None:
    assert probe_cpu() == profile.cpu


def test_probe_includes_runtime_availability_when_asked() -> None:
    with_runtimes = probe(include_runtimes=True)
    assert isinstance(with_runtimes.runtimes, tuple)
    assert all(isinstance(a, Availability) for a in with_runtimes.runtimes)
    names = [a.name for a in with_runtimes.runtimes]
    assert len(names) == len(set(names))
    assert all(a.ok or a.reason for a in with_runtimes.runtimes)


# --- fingerprint --------------------------------------------------------------------------


def test_fingerprint_is_stable_across_probes(profile: HardwareProfile) -> None:
    assert probe(include_runtimes=False).fingerprint == profile.fingerprint


def test_fingerprint_is_stable_across_processes(profile: HardwareProfile) -> None:
    code = "from hwfit.hardware import probe; print(probe(include_runtimes=False).fingerprint)"
    assert _run_python(code) == profile.fingerprint


def test_fingerprint_ignores_cpu_affinity_when_restricted(profile: HardwareProfile) -> None:
    if not hasattr(os, "sched_setaffinity"):
        pytest.skip("CPU affinity cannot be set on this OS")
    code = textwrap.dedent(
        """
        import os
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
        from hwfit.hardware import probe
        p = probe(include_runtimes=False)
        print(p.fingerprint, p.cpu.usable_threads)
        """
    )
    fp, usable = _run_python(code).split()
    assert fp == profile.fingerprint
    assert usable == "1"


def test_fingerprint_changes_when_the_feature_set_changes() -> None:
    cpu = _cpu()
    more = _cpu(features=(*cpu.features, "avx512_bf16"))
    fewer = _cpu(features=("avx2", "fma"))
    ids = {fingerprint(c, 16 * GIB) for c in (cpu, more, fewer)}
    assert len(ids) == 3


def test_fingerprint_ignores_feature_order_and_duplicates() -> None:
    cpu = _cpu(features=("avx2", "fma"))
    shuffled = _cpu(features=("fma", "avx2", "fma"))
    assert fingerprint(cpu, 16 * GIB) == fingerprint(shuffled, 16 * GIB)


@pytest.mark.parametrize(
    "change",
    [
        {"arch": "aarch64"},
        {"brand": "AMD EPYC 9654"},
        {"physical_cores": 4},
        {"logical_threads": 8},
    ],
    ids=lambda c: next(iter(c)),
)
def test_fingerprint_changes_when_performance_relevant_cpu_fields_change(
    change: dict[str, object],
) -> None:
    assert fingerprint(_cpu(), 16 * GIB) != fingerprint(_cpu(**change), 16 * GIB)


def test_fingerprint_ignores_fields_that_do_not_identify_the_machine() -> None:
    cpu = _cpu()
    other = _cpu(usable_threads=1, frequency_mhz=3100.0, l3_cache_bytes=None, vendor="x")
    assert fingerprint(cpu, 16 * GIB) == fingerprint(other, 16 * GIB)


def test_fingerprint_rounds_memory_to_whole_gib() -> None:
    cpu = _cpu()
    assert fingerprint(cpu, 16 * GIB) == fingerprint(cpu, 16 * GIB - 50 * 1024**2)
    assert fingerprint(cpu, 16 * GIB) != fingerprint(cpu, 32 * GIB)


def test_fingerprint_depends_on_gpu_names_not_order() -> None:
    cpu = _cpu()
    a, b = GpuInfo("NVIDIA A100-SXM4-80GB"), GpuInfo("NVIDIA L4", driver_version="550.1")
    none = fingerprint(cpu, 16 * GIB)
    assert fingerprint(cpu, 16 * GIB, (a, b)) == fingerprint(cpu, 16 * GIB, [b, a])
    assert fingerprint(cpu, 16 * GIB, (a,)) not in (none, fingerprint(cpu, 16 * GIB, (a, b)))


# --- features -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "arch", "expected"),
    [
        (["avx2", "fma", "avx512_vnni", "sse4_2"], "x86_64", ("avx2", "avx512_vnni", "fma")),
        (
            ["avx512vnni", "avxvnni", "amxbf16", "amx_int8"],
            "x86_64",
            ("amx_bf16", "amx_int8", "avx512_vnni", "avx_vnni"),
        ),
        (["AVX512_BF16", "avx512-fp16", "fma4"], "x86_64", ("avx512_bf16", "avx512_fp16")),
        (["fp", "asimd", "sve2"], "aarch64", ("neon", "sve")),
        ([], "aarch64", ("neon",)),
        ([], "x86_64", ()),
    ],
    ids=["linux-x86", "cpuid-spelling", "case-and-dash", "linux-arm", "arm-no-flags", "none"],
)
def test_features_from_flags_maps_to_known_names(
    flags: list[str], arch: str, expected: tuple[str, ...]
) -> None:
    assert features_from_flags(flags, arch) == expected


@pytest.mark.parametrize(
    ("machine", "arch"),
    [("x86_64", "x86_64"), ("AMD64", "x86_64"), ("arm64", "aarch64"), ("aarch64", "aarch64")],
)
def test_normalize_arch_spells_each_architecture_once(machine: str, arch: str) -> None:
    assert normalize_arch(machine) == arch


def test_has_answers_for_known_features() -> None:
    cpu = _cpu(features=("avx2", "avx512_vnni"))
    assert cpu.has("avx512_vnni")
    assert not cpu.has("amx_int8")


def test_has_raises_when_the_feature_name_is_unknown(profile: HardwareProfile) -> None:
    with pytest.raises(UnknownNameError, match=r"'avx512vnni'.*Did you mean 'avx512_vnni'"):
        profile.has("avx512vnni")


def test_isa_summary_lists_readable_labels() -> None:
    profile = HardwareProfile("0" * 16, _cpu(), 16 * GIB, "os", "3.11")
    assert profile.isa_summary == "AVX2 FMA AVX-512 AVX512-VNNI"
    bare = dataclasses.replace(profile, cpu=_cpu(features=()))
    assert bare.isa_summary == "none"


# --- the record ---------------------------------------------------------------------------


def test_profile_round_trips_through_json(profile: HardwareProfile) -> None:
    full = dataclasses.replace(
        profile,
        gpus=(GpuInfo("NVIDIA L4", 23034 * 1024**2, "550.54.15"),),
        runtimes=(
            Availability("onnxruntime", ok=True, version="1.22.0", devices=("CPU",)),
            Availability("openvino", ok=False, reason="not installed"),
        ),
    )
    data = json.loads(json.dumps(full.to_dict()))
    assert HardwareProfile.from_dict(data) == full
    assert HardwareProfile.from_dict(profile.to_dict()) == profile


def test_profile_is_frozen(profile: HardwareProfile) -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        profile.memory_bytes = 1  # type: ignore[misc]


# --- GPUs ---------------------------------------------------------------------------------


def test_probe_gpus_returns_empty_when_nvidia_smi_is_absent(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert probe_gpus() == ()


def _fake_nvidia_smi(directory: Path, script: str) -> None:
    exe = directory / "nvidia-smi"
    exe.write_text("#!/bin/sh\n" + script)
    exe.chmod(0o755)


posix_only = pytest.mark.skipif(os.name != "posix", reason="fake tools are shell scripts")


@posix_only
@pytest.mark.parametrize(
    "script",
    ['echo "NVIDIA-SMI has failed" >&2\nexit 9\n', "echo garbage\n", "exec sleep 5\n"],
    ids=["fails", "garbage", "hangs"],
)
def test_probe_gpus_returns_empty_when_nvidia_smi_misbehaves(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, script: str
) -> None:
    _fake_nvidia_smi(tmp_path, script)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ.get('PATH', '')}")
    assert probe_gpus(timeout_s=0.5) == ()


@posix_only
def test_probe_gpus_reads_each_gpu_when_nvidia_smi_answers(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _fake_nvidia_smi(
        tmp_path,
        'echo "NVIDIA H100 80GB HBM3, 81559, 550.54.15"\necho "NVIDIA L4, 23034, 550.54.15"\n',
    )
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ.get('PATH', '')}")
    gpus = probe_gpus()
    assert [g.name for g in gpus] == ["NVIDIA H100 80GB HBM3", "NVIDIA L4"]
    assert gpus[0].memory_bytes == 81559 * 1024**2
    assert gpus[1].driver_version == "550.54.15"


def test_parse_nvidia_smi_skips_malformed_lines_and_unknown_values() -> None:
    text = "NVIDIA A10G, [N/A], [N/A]\n\nnot a gpu line\nTesla T4, 15360, 535.104.05\n"
    assert parse_nvidia_smi(text) == (
        GpuInfo("NVIDIA A10G", None, None),
        GpuInfo("Tesla T4", 15360 * 1024**2, "535.104.05"),
    )


# --- import cost --------------------------------------------------------------------------


def test_import_hardware_imports_no_framework() -> None:
    code = textwrap.dedent(
        """
        import sys
        import hwfit.hardware
        heavy = ("torch", "onnxruntime", "openvino", "nncf", "timm", "onnx", "torchvision")
        print(",".join(m for m in heavy if m in sys.modules))
        """
    )
    assert _run_python(code) == ""


def test_probe_without_runtimes_imports_no_framework() -> None:
    code = textwrap.dedent(
        """
        import sys
        from hwfit.hardware import probe
        probe(include_runtimes=False)
        print(",".join(m for m in ("torch", "onnxruntime", "openvino") if m in sys.modules))
        """
    )
    assert _run_python(code) == ""
