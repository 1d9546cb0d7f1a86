"""Do the runtimes' own knobs buy speed here? Each knob against the runtime's defaults (issue 14).

For each model (random weights, a plain TorchScript ONNX export), in one process: OpenVINO INT8
(NNCF PERFORMANCE preset, 32 random calibration inputs) and BF16 (the FP32 IR at the CPU's fast
float), each with its defaults and with one knob changed (``ENABLE_CPU_PINNING`` on and off,
``CPU_DENORMALS_OPTIMIZATION``, and for INT8 the float layers' precision), and ONNX Runtime
FP32 with its defaults and with intra-op spinning off, denormals as zero, and the EXTENDED
graph optimization level instead of ALL. All are timed interleaved (rounds of 0.25-s blocks,
alternating order); printed: each setting's median and its speed over its defaults (median of
the per-round ratios with the 95% interval). A knob is worth tuning on this machine only where
the interval lies above 1.

    python benchmarks/runtime_knobs.py resnet18 efficientnet_b0
"""

from __future__ import annotations

import contextlib
import io
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from plain_reference import median_interval

from hwfit.precisions.ov_quant import quantize
from hwfit.runtimes.ov_runtime import fast_float


def _settings(onnx: Path, x: np.ndarray, calib: list[np.ndarray]) -> dict[str, tuple[str, Any]]:
    """Setting name -> (its defaults' name, a call that runs it once)."""
    import onnxruntime as ort
    import openvino as ov

    core = ov.Core()
    fp32 = ov.convert_model(str(onnx))
    with contextlib.redirect_stdout(io.StringIO()):
        int8 = quantize(fp32, calib, onnx.stem)
    hint = fast_float(core)
    base = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": hint}
    ov_settings = {
        "ov-int8 defaults": (int8, base),
        "ov-int8 pinning on": (int8, {**base, "ENABLE_CPU_PINNING": True}),
        "ov-int8 pinning off": (int8, {**base, "ENABLE_CPU_PINNING": False}),
        "ov-int8 denormals opt": (int8, {**base, "CPU_DENORMALS_OPTIMIZATION": True}),
        "ov-int8 float f32": (int8, {**base, "INFERENCE_PRECISION_HINT": "f32"}),
        "ov-float defaults": (fp32, base),
        "ov-float pinning on": (fp32, {**base, "ENABLE_CPU_PINNING": True}),
        "ov-float denormals opt": (fp32, {**base, "CPU_DENORMALS_OPTIMIZATION": True}),
    }
    out: dict[str, tuple[str, Callable[[], Any]]] = {}
    for name, (model, config) in ov_settings.items():
        request = core.compile_model(model, "CPU", config).create_infer_request()
        request.set_input_tensor(ov.Tensor(x))
        out[name] = (name.rsplit(" ", 2)[0] + " defaults", request.infer)
    ort_settings: dict[str, dict[str, str]] = {
        "ort defaults": {},
        "ort spinning off": {"session.intra_op.allow_spinning": "0"},
        "ort denormals as zero": {"session.set_denormal_as_zero": "1"},
        "ort extended graph opt": {},
    }
    for name, entries in ort_settings.items():
        options = ort.SessionOptions()
        options.log_severity_level = 3
        if name == "ort extended graph opt":
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
        for key, value in entries.items():
            options.add_session_config_entry(key, value)
        session = ort.InferenceSession(str(onnx), options, providers=["CPUExecutionProvider"])
        feed = {session.get_inputs()[0].name: x}
        out[name] = ("ort defaults", lambda s=session, f=feed: s.run(None, f))
    return out


def main(names: list[str]) -> None:
    import timm
    import torch

    print(f"fast float here: {fast_float()}")
    rng = np.random.default_rng(0)
    calib = [rng.standard_normal((1, 3, 224, 224)).astype(np.float32) for _ in range(32)]
    for name in names:
        torch.manual_seed(0)
        module = timm.create_model(name).eval()
        with tempfile.TemporaryDirectory() as tmp:
            onnx = Path(tmp) / f"{name}.onnx"
            with warnings.catch_warnings(), torch.no_grad():
                warnings.simplefilter("ignore")
                torch.onnx.export(module, (torch.zeros(1, 3, 224, 224),), str(onnx), dynamo=False)
            settings = _settings(onnx, calib[0], calib)
        for _, run in settings.values():
            for _ in range(10):
                run()
        medians: dict[str, list[float]] = {k: [] for k in settings}
        for r in range(16):
            for key in settings if r % 2 == 0 else reversed(list(settings)):
                time.sleep(0.05)
                times = []
                end = time.perf_counter() + 0.25
                while time.perf_counter() < end:
                    start = time.perf_counter()
                    settings[key][1]()
                    times.append((time.perf_counter() - start) * 1e3)
                medians[key].append(statistics.median(times))
        print(f"\n{name}")
        for key, (defaults, _) in settings.items():
            ratios = [a / b for a, b in zip(medians[defaults], medians[key], strict=True)]
            low, high = median_interval(ratios)
            print(
                f"  {key:26s} {statistics.median(medians[key]):7.3f} ms   vs {defaults:18s} "
                f"{statistics.median(ratios):.3f}x [{low:.3f}-{high:.3f}]"
            )


if __name__ == "__main__":
    main(sys.argv[1:] or ["resnet18", "efficientnet_b0"])
