"""The precision-recipe contract: :class:`PrecisionRecipe` and what it takes and returns."""

from __future__ import annotations

import abc
import dataclasses
from typing import TYPE_CHECKING, ClassVar

from hwfit.errors import InputShapeError, UserError
from hwfit.precisions.capability import Verdict, verdict

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    import numpy as np

    from hwfit.hardware import HardwareProfile
    from hwfit.models.artifact import ModelArtifact
    from hwfit.precisions import Precision
    from hwfit.records import InputSpec

__all__ = [
    "PrecisionRecipe",
    "PreparedModel",
    "QuantData",
    "checked_samples",
    "full_batches",
    "require_calibration",
]


@dataclasses.dataclass(frozen=True)
class QuantData:
    """The user's data a recipe may use, already preprocessed to the model's input.

    Attributes:
        calibration: Calibration inputs, ``(N, *input_shape[1:])`` float32; disjoint from
            the validation inputs.
        validation: Validation inputs (for accuracy-controlled recipes), or None.
        metric: ``metric(outputs) -> float`` on the validation inputs, higher is better:
            ``outputs`` is every output of the model, in its order (top-1 with labels, a
            detector's mAP, top-1 agreement with the FP32 reference); None without validation
            data.
        max_drop: Largest allowed drop of ``metric`` in its own units (absolute).
    """

    calibration: np.ndarray
    validation: np.ndarray | None = None
    metric: Callable[[tuple[np.ndarray, ...]], float] | None = None
    max_drop: float = 0.01


@dataclasses.dataclass(frozen=True)
class PreparedModel:
    """A model file ready for one runtime at one precision.

    Attributes:
        path: The ``.onnx`` or ``.xml`` file (for PyTorch recipes, None: the source is used).
        kind: "onnx", "openvino" or "torch".
        seconds: Time spent preparing (quantizing, converting).
        details: What was done, for the report (e.g. "per-channel QDQ, 300 samples").
    """

    path: Path | None
    kind: str
    seconds: float
    details: dict[str, str] = dataclasses.field(default_factory=dict)


class PrecisionRecipe(abc.ABC):
    """Prepares a model for one runtime at one precision.

    Contract:
        * :meth:`applicable` never raises; it says why the hardware cannot make this precision
          faster ("INT8 needs VNNI or AMX to be faster; this CPU has neither"). ``--force``
          bypasses only this verdict.
        * :meth:`prepare` writes its output under ``out_dir`` only, never touches the cache of
          FP32 conversions, and is deterministic for the same inputs.
        * Failures raise :class:`~hwfit.errors.RuntimeFailure` with the reason; the candidate is
          then recorded as failed and the run goes on.
    """

    needs_calibration: ClassVar[bool] = False
    needs_validation: ClassVar[bool] = False

    def __init__(self, runtime: str, precision: Precision) -> None:
        self.runtime_name = runtime
        self.precision_value = precision

    def applicable(self, hardware: HardwareProfile) -> Verdict:
        """Say whether this hardware can make the precision pay off.

        The default applies the shared rules of :mod:`hwfit.precisions.capability`.
        """
        return verdict(self.runtime_name, self.precision_value, hardware)

    @abc.abstractmethod
    def prepare(
        self, model: ModelArtifact, spec: InputSpec, out_dir: Path, data: QuantData | None
    ) -> PreparedModel:
        """Write the model for this runtime and precision under ``out_dir``.

        Raises:
            RuntimeFailure: Quantization or conversion failed (the message says why).
        """


def full_batches(samples: np.ndarray, batch: int) -> Iterator[np.ndarray]:
    """Yield batches of exactly ``batch`` samples; the last is topped up from the first ones.

    Exported models have a static batch dimension, so every batch a quantizer sees must be full.
    """
    import numpy as np

    for begin in range(0, len(samples), batch):
        chunk = samples[begin : begin + batch]
        if len(chunk) < batch:
            chunk = np.concatenate(
                [chunk, np.resize(samples, (batch - len(chunk), *chunk.shape[1:]))]
            )
        yield np.ascontiguousarray(chunk)


def require_calibration(data: QuantData | None) -> QuantData:
    """Return ``data`` when it has calibration samples, else raise the error that says so.

    Raises:
        UserError: No data, or no calibration samples.
    """
    if data is None or len(data.calibration) == 0:
        raise UserError(
            "INT8 static quantization needs calibration data: pass --data",
            hint="Give a folder of representative images or an .npz file of model inputs "
            "(a few hundred samples are enough).",
        )
    return data


def checked_samples(samples: np.ndarray, spec: InputSpec, role: str) -> np.ndarray:
    """Return ``samples`` as float32 after checking them against the model's input ``spec``.

    Raises:
        InputShapeError: The samples do not have the model's per-sample shape.
    """
    import numpy as np

    array = np.asarray(samples, dtype=np.float32)
    if array.shape[1:] != tuple(spec.shape[1:]):
        raise InputShapeError(
            f"{role} samples have shape {array.shape[1:]}, the model's input {spec.name!r} "
            f"takes {tuple(spec.shape[1:])} per sample.",
            hint="Preprocess the data to the model's input size.",
        )
    return array
