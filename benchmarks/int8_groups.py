"""Which layers should leave INT8? Per-layer timings against whole groups, measured (issue 14).

For each model (random weights, a plain TorchScript ONNX export, NNCF PERFORMANCE preset on 32
random calibration inputs), in one process:

* ``bf16``: the FP32 model at the CPU's fast float (BF16 where the CPU has it);
* ``int8``: everything NNCF quantizes (f32 for the rest, hwfit's ``int8``);
* ``int8/fast``: the same file with the rest in the fast float;
* ``per-layer``: the layers whose INT8 time (with the quantize and reorder operations INT8 put
  in front of them, from OpenVINO's ``PERF_COUNT``) is not below their fast-float time, kept in
  float (NNCF ignored scope);
* the groups of ``hwfit.precisions.ov_selective``: ``se``, ``dw``, ``se+dw`` in float.

All are timed interleaved (rounds of 0.25-s blocks, alternating order); printed: each one's
median and its speed over ``int8/fast`` (median of the per-round ratios, 95% interval).

    python benchmarks/int8_groups.py efficientnet_b0 mobilenetv3_large_100
"""

from __future__ import annotations

import collections
import contextlib
import io
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from plain_reference import median_interval

from hwfit.precisions.ov_quant import quantize
from hwfit.precisions.ov_selective import depthwise_layers, se_blocks
from hwfit.runtimes.ov_runtime import fast_float

COMPUTE = {"Convolution", "GroupConvolution", "MatMul"}


def layer_times(model: Any, x: np.ndarray, hint: str, source: Any) -> dict[str, float]:
    """Median microseconds per compute layer of ``source`` when ``model`` runs; the nodes
    INT8 added (no source operation in them) give their time to the layers they feed."""
    import openvino as ov

    compute = {o.get_friendly_name() for o in source.get_ops() if o.get_type_name() in COMPUTE}
    known = {o.get_friendly_name() for o in source.get_ops()}
    config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": hint, "PERF_COUNT": True}
    compiled = ov.Core().compile_model(model, "CPU", config)
    request = compiled.create_infer_request()
    request.set_input_tensor(ov.Tensor(x))
    samples: dict[str, list[float]] = collections.defaultdict(list)
    for i in range(35):
        request.infer()
        if i >= 5:
            for info in request.get_profiling_info():
                samples[info.node_name].append(info.real_time.total_seconds() * 1e6)
    node_time = {name: statistics.median(v) for name, v in samples.items()}
    holds: dict[str, list[str]] = {}
    added = {}
    for node in compiled.get_runtime_model().get_ops():
        info = node.get_rt_info()
        names = info["originalLayersNames"].astype(str).split(",")
        holds[node.get_friendly_name()] = [n for n in names if n in compute]
        if not any(n in known for n in names) and info["layerType"].astype(str) not in (
            "Input",
            "Output",
        ):
            added[node.get_friendly_name()] = node
    times: dict[str, float] = collections.defaultdict(float)
    for name, layers in holds.items():
        for layer in layers:
            times[layer] += node_time.get(name, 0.0) / len(layers)
    for name, node in added.items():
        fed, todo, seen = set(), [node], set()
        while todo:
            for output in todo.pop().outputs():
                for target in output.get_target_inputs():
                    child = target.get_node()
                    cname = child.get_friendly_name()
                    if cname in seen:
                        continue
                    seen.add(cname)
                    if holds.get(cname):
                        fed.update(holds[cname])
                    elif cname in added:
                        todo.append(child)
        for layer in fed:
            times[layer] += node_time.get(name, 0.0) / len(fed)
    return dict(times)


def main(names: list[str]) -> None:
    import openvino as ov
    import timm
    import torch

    hint = fast_float()
    print(f"fast float here: {hint}")
    rng = np.random.default_rng(0)
    batches = [rng.standard_normal((1, 3, 224, 224)).astype(np.float32) for _ in range(32)]
    for name in names:
        torch.manual_seed(0)
        module = timm.create_model(name).eval()
        with tempfile.TemporaryDirectory() as tmp:
            onnx = Path(tmp) / "m.onnx"
            with warnings.catch_warnings(), torch.no_grad():
                warnings.simplefilter("ignore")
                torch.onnx.export(module, (torch.zeros(1, 3, 224, 224),), str(onnx), dynamo=False)
            fp32 = ov.convert_model(str(onnx))
        with contextlib.redirect_stdout(io.StringIO()):
            q = quantize(fp32, batches, name)
            float_times = layer_times(fp32, batches[0], hint, fp32)
            int8_times = layer_times(q, batches[0], hint, fp32)
            slower = sorted(n for n, t in float_times.items() if int8_times.get(n, 0.0) >= t)
            se, dw = se_blocks(fp32), depthwise_layers(fp32)
            variants = {
                "bf16": (fp32, hint),
                "int8": (q, "f32"),
                "int8/fast": (q, hint),
                "per-layer": (quantize(fp32, batches, name, ignored=slower), hint),
                "se": (quantize(fp32, batches, name, ignored=se), hint),
                "dw": (quantize(fp32, batches, name, ignored=dw), hint),
                "se+dw": (quantize(fp32, batches, name, ignored=se + dw), hint),
            }
        runs = {}
        core = ov.Core()
        for key, (model, h) in variants.items():
            config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": h}
            request = core.compile_model(model, "CPU", config).create_infer_request()
            request.set_input_tensor(ov.Tensor(batches[0]))
            for _ in range(10):
                request.infer()
            runs[key] = request.infer
        medians: dict[str, list[float]] = {k: [] for k in runs}
        for r in range(16):
            for key in runs if r % 2 == 0 else reversed(list(runs)):
                times = []
                end = time.perf_counter() + 0.25
                while time.perf_counter() < end:
                    start = time.perf_counter()
                    runs[key]()
                    times.append((time.perf_counter() - start) * 1e3)
                medians[key].append(statistics.median(times))
        print(f"\n{name}: per-layer keeps {len(slower)} layers in float; se {len(se)} ops, "
              f"dw {len(dw)} layers")  # fmt: skip
        for key, values in medians.items():
            ratios = [a / b for a, b in zip(medians["int8/fast"], values, strict=True)]
            low, high = median_interval(ratios)
            print(
                f"  {key:10s} {statistics.median(values):7.3f} ms   speed vs int8/fast "
                f"{statistics.median(ratios):.3f}x [{low:.3f}-{high:.3f}]"
            )


if __name__ == "__main__":
    main(sys.argv[1:] or ["efficientnet_b0", "mobilenetv3_large_100"])
