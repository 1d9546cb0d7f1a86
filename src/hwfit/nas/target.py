"""The production target a search optimizes for: runtime, precision, batch and device.

A target is written ``runtime:precision:bsN:device``, e.g. ``openvino:int8:bs1:cpu``. Every part
is optional and the parts may come in any order (each is recognised by its form): a missing
part takes the default of :class:`Target`, so ``onnxruntime`` means ``onnxruntime:int8:bs1:cpu``
and ``fp32:openvino`` means ``openvino:fp32:bs1:cpu``.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from typing import TYPE_CHECKING

from hwfit.bench import probe_runtime
from hwfit.errors import UserError
from hwfit.precisions import RECIPES, Precision, recipe_key
from hwfit.precisions.capability import verdict
from hwfit.runtimes import RUNTIMES

if TYPE_CHECKING:
    from hwfit.hardware import HardwareProfile

__all__ = ["DEVICES", "MEASURABLE_RUNTIMES", "Target", "default_target", "parse_target"]

#: Runtimes whose latency :func:`hwfit.nas.latency.measure` can measure on a built model.
MEASURABLE_RUNTIMES: tuple[str, ...] = ("onnxruntime", "openvino")
#: Devices a target may name, and the runtime plug-in that runs each runtime there.
DEVICES: dict[str, dict[str, str]] = {
    "cpu": {"onnxruntime": "onnxruntime", "openvino": "openvino"},
    "gpu": {"onnxruntime": "onnxruntime-cuda", "openvino": "openvino-gpu"},
}
_FORM = "runtime:precision:bsN:device, e.g. openvino:int8:bs1:cpu"
_BATCH = re.compile(r"(?:bs|b|batch)(\d+)")


@dataclasses.dataclass(frozen=True)
class Target:
    """Where and how the searched model will run in production.

    Attributes:
        runtime: A runtime name out of :data:`MEASURABLE_RUNTIMES` ("openvino", "onnxruntime").
        precision: A :class:`~hwfit.precisions.Precision` value the runtime has a recipe for.
        batch: The batch size of one inference call.
        device: "cpu" or "gpu" (see :data:`DEVICES`).

    Example:
        >>> str(Target())
        'openvino:int8:bs1:cpu'
    """

    runtime: str = "openvino"
    precision: str = "int8"
    batch: int = 1
    device: str = "cpu"

    def __str__(self) -> str:
        return f"{self.runtime}:{self.precision}:bs{self.batch}:{self.device}"

    @property
    def runtime_plugin(self) -> str:
        """The name of the runtime plug-in (``hwfit.runtimes.RUNTIMES``) that runs this target.

        Example:
            >>> Target(device="gpu").runtime_plugin
            'openvino-gpu'
        """
        return DEVICES[self.device][self.runtime]

    def validate(self) -> Target:
        """Check every part against the registered runtimes, precisions and recipes.

        Returns:
            The target itself, so that ``Target(...).validate()`` can be written inline.

        Raises:
            UserError: A part is unknown or the runtime has no recipe for the precision.
        """
        if self.runtime not in MEASURABLE_RUNTIMES:
            known = RUNTIMES.names()
            why = "" if self.runtime in known else f" (known runtimes: {', '.join(known)})"
            raise UserError(
                f"Target runtime {self.runtime!r} cannot be searched for{why}.",
                hint=f"Use one of: {', '.join(MEASURABLE_RUNTIMES)}; the target is {_FORM}.",
            )
        if self.device not in DEVICES:
            raise UserError(
                f"Unknown target device {self.device!r}.",
                hint=f"Use one of: {', '.join(DEVICES)}; the target is {_FORM}.",
            )
        values = [p.value for p in Precision]
        if self.precision not in values:
            raise UserError(
                f"Unknown target precision {self.precision!r}{_suggest(self.precision, values)}.",
                hint=f"Use one of: {', '.join(values)}; the target is {_FORM}.",
            )
        if recipe_key(self.runtime, self.precision) not in RECIPES.names():
            offered = [
                name.split(":", 1)[1]
                for name in RECIPES.names()
                if name.startswith(f"{self.runtime}:")
            ]
            raise UserError(
                f"Runtime {self.runtime!r} has no {self.precision} recipe.",
                hint=f"{self.runtime} offers: {', '.join(offered)}.",
            )
        if self.batch < 1:
            raise UserError(f"Target batch must be >= 1, got {self.batch}.", hint=f"Use {_FORM}.")
        return self


def parse_target(text: str) -> Target:
    """Parse ``runtime:precision:bsN:device``; parts are optional and may come in any order.

    Args:
        text: The target as written on the command line.

    Returns:
        The validated target; missing parts take :class:`Target`'s defaults.

    Raises:
        UserError: An unknown or repeated part, or a runtime without the precision's recipe;
            the message shows the expected form.

    Example:
        >>> str(parse_target("onnxruntime:fp32"))
        'onnxruntime:fp32:bs1:cpu'
        >>> parse_target("openvino:int8:bs4:cpu").batch
        4
    """
    precisions = [p.value for p in Precision]
    parts: dict[str, str | int] = {}
    words = [w.strip().lower() for w in text.strip().split(":")]
    if not any(words):
        raise UserError("Empty target.", hint=f"Write the target as {_FORM}.")
    for word in words:
        field: str
        value: str | int
        if not word:
            raise UserError(f"Empty part in target {text!r}.", hint=f"Write it as {_FORM}.")
        if found := _BATCH.fullmatch(word):
            field, value = "batch", int(found[1])
        elif word in MEASURABLE_RUNTIMES:
            field, value = "runtime", word
        elif word in precisions:
            field, value = "precision", word
        elif word in DEVICES:
            field, value = "device", word
        else:
            close = _suggest(word, [*MEASURABLE_RUNTIMES, *precisions, *DEVICES, "bs1"])
            raise UserError(
                f"Unknown part {word!r} in target {text!r}{close}.",
                hint=f"Write the target as {_FORM} (runtimes: "
                f"{', '.join(MEASURABLE_RUNTIMES)}; precisions: {', '.join(precisions)}; "
                f"devices: {', '.join(DEVICES)}).",
            )
        if field in parts:
            raise UserError(
                f"Target {text!r} names the {field} twice.", hint=f"Write it as {_FORM}."
            )
        parts[field] = value
    return Target(**parts).validate()  # type: ignore[arg-type]


def default_target(profile: HardwareProfile) -> Target:
    """The best target this machine offers: OpenVINO (else ONNX Runtime) at INT8, batch 1, CPU.

    INT8 becomes FP32 when the CPU cannot run INT8 faster on that runtime (see
    :func:`hwfit.precisions.capability.verdict`).

    Args:
        profile: This machine; its ``runtimes`` are used when probed, else they are probed here.

    Raises:
        UserError: Neither OpenVINO nor ONNX Runtime can run here.
    """
    available = {r.name: r.ok for r in profile.runtimes}
    for runtime in ("openvino", "onnxruntime"):
        if runtime not in available:
            available[runtime] = probe_runtime(runtime)[1].ok
        if available[runtime]:
            int8 = verdict(runtime, Precision.INT8, profile).ok
            return Target(runtime=runtime, precision="int8" if int8 else "fp32")
    raise UserError(
        "Neither OpenVINO nor ONNX Runtime can run on this machine; a search needs one.",
        hint="Install one: pip install openvino (or onnxruntime).",
    )


def _suggest(word: str, options: list[str]) -> str:
    close = difflib.get_close_matches(word, options, n=2, cutoff=0.6)
    return f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
