"""Precisions: what may be asked for, which recipe prepares it for which runtime, and why not.

A recipe turns an FP32 model into the file (or compile hints) one runtime needs to run it at a
given precision: ONNX Runtime QDQ INT8, OpenVINO INT8 through NNCF, BF16 hints, and so on.
Recipes are looked up by ``"runtime:precision"`` in :data:`RECIPES`.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING

from hwfit.registry import Registry

if TYPE_CHECKING:
    from hwfit.precisions.base import PrecisionRecipe

__all__ = ["RECIPES", "Precision", "recipe_key"]


class Precision(enum.StrEnum):
    """A precision a candidate can be asked to run in."""

    FP32 = "fp32"
    BF16 = "bf16"
    FP16 = "fp16"
    INT8 = "int8"  # static post-training quantization, calibrated on the user's data
    INT8_DYNAMIC = "int8-dynamic"  # weights INT8 ahead of time, activations quantized per call
    INT8_MIXED = "int8-mixed"  # INT8 with the most accuracy-sensitive layers kept in float
    # INT8 with the groups of layers measured faster in float kept in the CPU's fast float
    INT8_SELECTIVE = "int8-selective"

    @property
    def is_int8(self) -> bool:
        """True for the INT8 family."""
        return self.value.startswith("int8")


def recipe_key(runtime: str, precision: str) -> str:
    """The registry key of a recipe: ``"openvino:int8"``."""
    return f"{runtime}:{precision}"


RECIPES: Registry[PrecisionRecipe] = Registry(
    kind="precision recipe",
    builtins={
        "torch:fp32": "hwfit.precisions.float_recipes:TorchFloatRecipe",
        "torch:bf16": "hwfit.precisions.float_recipes:TorchFloatRecipe",
        "torch-compile:fp32": "hwfit.precisions.float_recipes:TorchFloatRecipe",
        "torch-compile:bf16": "hwfit.precisions.float_recipes:TorchFloatRecipe",
        "onnxruntime:fp32": "hwfit.precisions.float_recipes:OrtFloatRecipe",
        "onnxruntime:int8": "hwfit.precisions.ort_quant:OrtStaticInt8Recipe",
        "onnxruntime:int8-dynamic": "hwfit.precisions.ort_quant:OrtDynamicInt8Recipe",
        "openvino:fp32": "hwfit.precisions.float_recipes:OVFloatRecipe",
        "openvino:bf16": "hwfit.precisions.float_recipes:OVFloatRecipe",
        "openvino:fp16": "hwfit.precisions.float_recipes:OVFloatRecipe",
        "openvino:int8": "hwfit.precisions.ov_quant:OVInt8Recipe",
        "openvino:int8-mixed": "hwfit.precisions.ov_quant:OVMixedInt8Recipe",
        "openvino:int8-selective": "hwfit.precisions.ov_selective:OVSelectiveInt8Recipe",
    },
)
