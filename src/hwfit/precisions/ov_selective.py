"""OpenVINO INT8 where INT8 is measured faster; other parts in the CPU's fast float.

INT8 does not pay off everywhere: a squeeze-excitation block's tiny convolutions gain nothing
from INT8 and pay for the quantize operations around them, and depthwise convolutions gain
little. Which parts pay off depends on the CPU and the model, so it is measured, never assumed.

Per-layer timings alone do not decide it: kept in float one by one (each layer whose INT8 time
with its quantize operations, from OpenVINO's ``PERF_COUNT``, was not below its BF16 time),
efficientnet_b0 and mobilenetv3_large_100 ran 8-13% *slower* than plain INT8 on an AMD EPYC
(AVX-512 BF16), because every float island adds conversions in and out of INT8. So the choice
is made between whole groups of layers, each variant quantized and timed end to end:

* ``all``: every quantizable layer in INT8 (the ``int8`` recipe);
* ``squeeze-excitation``: the squeeze-excitation blocks (global pooling to the gate's
  multiplication) kept in float;
* ``depthwise``: the depthwise (group) convolutions kept in float;
* ``squeeze-excitation+depthwise``: both.

Variants whose group is absent from the model are not built. The variants are timed
interleaved (rounds of short blocks, each round's median per variant) on a calibration input;
a variant replaces ``all`` only when its median over the rounds is at least
:data:`MIN_GAIN` faster. The layers not in INT8 run in the CPU's fast float
(:func:`fast_float`: BF16 where the CPU has it), which the OpenVINO runtime uses as this
precision's ``INFERENCE_PRECISION_HINT``; ``optimize`` then measures and accuracy-checks the
result like every candidate.
"""

from __future__ import annotations

import statistics
import time
from typing import TYPE_CHECKING, ClassVar

from hwfit.errors import RuntimeFailure, first_line
from hwfit.precisions.base import (
    PrecisionRecipe,
    PreparedModel,
    QuantData,
    checked_samples,
    full_batches,
    require_calibration,
)
from hwfit.precisions.ov_quant import quantize, read_fp32, save_ir
from hwfit.runtimes.ov_runtime import fast_float

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    import numpy as np
    import openvino as ov

    from hwfit.models.artifact import ModelArtifact
    from hwfit.records import InputSpec

__all__ = ["OVSelectiveInt8Recipe", "choose", "depthwise_layers", "se_blocks", "time_variants"]

MIN_GAIN = 0.02  # a variant must be this much faster than all-INT8 to replace it
ROUNDS = 12  # interleaved timing rounds; each round gives one median per variant
BLOCK_S = 0.15  # seconds of runs per variant per round
_GATES = frozenset({"Sigmoid", "HSigmoid", "HardSigmoid"})
_SE_DEPTH = 12  # operations between a gate and its global pooling, at most


def se_blocks(model: ov.Model) -> list[str]:
    """Names of the operations of every squeeze-excitation block of ``model``.

    A block is found from its gate: a ``Multiply`` one of whose inputs comes from a sigmoid
    (``Sigmoid``, ``HSigmoid``, ``HardSigmoid``) that is reached, through at most
    :data:`_SE_DEPTH` operations, from a ``ReduceMean`` (the global pooling). The block is
    the pooling, everything between, the gate and the multiplication.
    """
    names: set[str] = set()
    for op in model.get_ops():
        if op.get_type_name() != "Multiply":
            continue
        for index in range(op.get_input_size()):
            gate = op.input_value(index).get_node()
            if gate.get_type_name() not in _GATES:
                continue
            path = _path_to_pooling(gate)
            if path:
                names.update(path)
                names.add(op.get_friendly_name())
    return sorted(names)


def _path_to_pooling(gate: ov.Node) -> list[str] | None:
    """The operations from ``gate`` back to its ``ReduceMean`` along data inputs, or None."""
    path = []
    node = gate
    for _ in range(_SE_DEPTH):
        path.append(node.get_friendly_name())
        if node.get_type_name() == "ReduceMean":
            return path
        data = [
            node.input_value(i).get_node()
            for i in range(node.get_input_size())
            if node.input_value(i).get_node().get_type_name() != "Constant"
        ]
        if len(data) != 1:
            return None
        node = data[0]
    return None


def depthwise_layers(model: ov.Model) -> list[str]:
    """Names of the group (depthwise) convolutions of ``model``."""
    return sorted(
        op.get_friendly_name()
        for op in model.get_ops()
        if op.get_type_name() == "GroupConvolution"
    )


class OVSelectiveInt8Recipe(PrecisionRecipe):
    """INT8 except the groups of layers measured faster in the CPU's fast float."""

    needs_calibration: ClassVar[bool] = True

    def prepare(  # noqa: D102
        self, model: ModelArtifact, spec: InputSpec, out_dir: Path, data: QuantData | None
    ) -> PreparedModel:
        calibration = checked_samples(require_calibration(data).calibration, spec, "Calibration")
        start = time.perf_counter()
        source = model.info.source
        fp32 = read_fp32(model, spec)
        batches = list(full_batches(calibration, spec.shape[0]))
        groups = {"squeeze-excitation": se_blocks(fp32), "depthwise": depthwise_layers(fp32)}
        scopes: dict[str, list[str]] = {"all": []}
        for name, layers in groups.items():
            if layers:
                scopes[name] = layers
        if groups["squeeze-excitation"] and groups["depthwise"]:
            scopes["squeeze-excitation+depthwise"] = sorted(
                set(groups["squeeze-excitation"]) | set(groups["depthwise"])
            )
        variants = {name: quantize(fp32, batches, source, ignored=s) for name, s in scopes.items()}
        hint = fast_float()
        try:
            medians = time_variants(variants, batches[0], hint) if len(variants) > 1 else {}
        except Exception as exc:
            raise RuntimeFailure(
                f"Timing the variants of {source!r} failed: {first_line(exc)}"
            ) from exc
        chosen = choose(medians)
        target = save_ir(variants[chosen], out_dir / "model_int8_selective.xml", source)
        import nncf

        details = {
            "tool": f"NNCF {nncf.__version__}",
            "preset": "performance",
            "calibration_samples": str(len(calibration)),
            "float_hint": hint,
            "kept_in_float": "nothing" if chosen == "all" else chosen,
            "float_layers": str(len(scopes[chosen])),
        }
        if medians:
            details["variants_us"] = ", ".join(f"{k} {v * 1e3:.1f}" for k, v in medians.items())
            details["variant_rounds"] = str(ROUNDS)
        else:
            details["variants_us"] = "only all-INT8 (no squeeze-excitation or depthwise layers)"
        return PreparedModel(
            path=target, kind="openvino", seconds=time.perf_counter() - start, details=details
        )


def choose(medians: dict[str, float]) -> str:
    """``all`` unless another variant's median is at least :data:`MIN_GAIN` lower.

    Example:
        >>> choose({"all": 5.0, "depthwise": 4.95, "squeeze-excitation": 4.5})
        'squeeze-excitation'
        >>> choose({"all": 5.0, "depthwise": 4.95})
        'all'
    """
    if not medians:
        return "all"
    best = min(medians, key=lambda k: medians[k])
    return best if medians[best] <= (1.0 - MIN_GAIN) * medians["all"] else "all"


def time_variants(variants: dict[str, ov.Model], x: np.ndarray, hint: str) -> dict[str, float]:
    """Median latency (ms) of each variant, timed interleaved on the CPU plug-in.

    Each round runs every variant for :data:`BLOCK_S` seconds (in alternating order) and
    records the block's median; the result is the median over :data:`ROUNDS` rounds.
    """
    import openvino as ov

    core = ov.Core()
    config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": hint}
    runs: dict[str, Callable[[], object]] = {}
    for name, variant in variants.items():
        request = core.compile_model(variant, "CPU", config).create_infer_request()
        request.set_input_tensor(ov.Tensor(x))
        for _ in range(5):
            request.infer()
        runs[name] = request.infer
    blocks: dict[str, list[float]] = {name: [] for name in runs}
    order = list(runs)
    for round_ in range(ROUNDS):
        for name in order if round_ % 2 == 0 else reversed(order):
            times: list[float] = []
            end = time.perf_counter() + BLOCK_S
            while time.perf_counter() < end or len(times) < 3:
                begin = time.perf_counter()
                runs[name]()
                times.append((time.perf_counter() - begin) * 1e3)
            blocks[name].append(statistics.median(times))
    return {name: statistics.median(values) for name, values in blocks.items()}
