"""Runtime plug-ins: the registry, lookup and availability probing.

Third-party runtimes register with ``RUNTIMES.register("mine", MyRuntime)``; bench workers
import a runtime by its ``"module:Class"`` path, so a registered class must live in an
importable module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hwfit.errors import HwfitError
from hwfit.records import Availability
from hwfit.registry import Registry

if TYPE_CHECKING:
    from hwfit.runtimes.base import Runtime

__all__ = ["DEFAULT_RUNTIMES", "RUNTIMES", "get_runtime", "probe_all"]

RUNTIMES: Registry[Runtime] = Registry(
    kind="runtime",
    builtins={
        "torch": "hwfit.runtimes.torch_runtime:TorchEagerRuntime",
        "torch-compile": "hwfit.runtimes.torch_runtime:TorchCompileRuntime",
        "onnxruntime": "hwfit.runtimes.ort_runtime:OrtRuntime",
        "openvino": "hwfit.runtimes.ov_runtime:OVRuntime",
        # GPU runtimes: probed like the others, skipped with the reason where there is no GPU.
        "torch-cuda": "hwfit.runtimes.torch_runtime:TorchCudaRuntime",
        "onnxruntime-cuda": "hwfit.runtimes.ort_runtime:OrtCudaRuntime",
        "onnxruntime-tensorrt": "hwfit.runtimes.ort_runtime:OrtTensorrtRuntime",
        "openvino-gpu": "hwfit.runtimes.ov_runtime:OVGpuRuntime",
    },
)

#: What `hwfit bench` measures when no --runtime is given.
DEFAULT_RUNTIMES: tuple[str, ...] = ("torch", "onnxruntime", "openvino")


def get_runtime(name: str) -> type[Runtime]:
    """Return the runtime class registered as ``name``.

    Raises:
        UnknownNameError: No runtime of that name; the message suggests close ones.
        PluginUnavailableError: Its package is not installed.
    """
    return RUNTIMES.load(name)


def probe_all() -> list[Availability]:
    """Probe every registered runtime; a missing package is reported, never raised."""
    found = []
    for name in RUNTIMES.names():
        try:
            found.append(RUNTIMES.load(name).probe())
        except HwfitError as exc:
            found.append(Availability(name=name, ok=False, reason=exc.message))
    return found
