"""Float recipes: FP32 and the BF16/FP16 execution hints need no new weights.

PyTorch casts the module itself (see the torch runtime); OpenVINO gets the IR of the FP32
model and an ``INFERENCE_PRECISION_HINT``; ONNX Runtime gets the FP32 ONNX file.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from hwfit.models.convert import to_onnx, to_openvino
from hwfit.precisions.base import PrecisionRecipe, PreparedModel, QuantData

if TYPE_CHECKING:
    from pathlib import Path

    from hwfit.models.artifact import ModelArtifact
    from hwfit.records import InputSpec

__all__ = ["OVFloatRecipe", "OrtFloatRecipe", "TorchFloatRecipe"]


class TorchFloatRecipe(PrecisionRecipe):
    """PyTorch runs the source module; the runtime casts it for BF16."""

    def prepare(  # noqa: D102
        self, model: ModelArtifact, spec: InputSpec, out_dir: Path, data: QuantData | None
    ) -> PreparedModel:
        return PreparedModel(path=None, kind="torch", seconds=0.0)


class OrtFloatRecipe(PrecisionRecipe):
    """The FP32 ONNX file (exported once and cached)."""

    def prepare(  # noqa: D102
        self, model: ModelArtifact, spec: InputSpec, out_dir: Path, data: QuantData | None
    ) -> PreparedModel:
        start = time.perf_counter()
        path, _ = to_onnx(model, spec)
        return PreparedModel(path=path, kind="onnx", seconds=time.perf_counter() - start)


class OVFloatRecipe(PrecisionRecipe):
    """The FP32 IR; the precision becomes OpenVINO's INFERENCE_PRECISION_HINT at compile."""

    def prepare(  # noqa: D102
        self, model: ModelArtifact, spec: InputSpec, out_dir: Path, data: QuantData | None
    ) -> PreparedModel:
        start = time.perf_counter()
        path, _ = to_openvino(model, spec)
        return PreparedModel(
            path=path,
            kind="openvino",
            seconds=time.perf_counter() - start,
            details={"INFERENCE_PRECISION_HINT": str(self.precision_value)},
        )
