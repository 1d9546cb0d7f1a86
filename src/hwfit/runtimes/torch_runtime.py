"""PyTorch runtimes: eager mode and ``torch.compile`` (inductor)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import torch

from hwfit.errors import UnsupportedModelError, first_line
from hwfit.records import Availability, Executed
from hwfit.runtimes.base import CompiledModel, Runtime

if TYPE_CHECKING:
    from hwfit.models.artifact import ModelArtifact
    from hwfit.records import RunConfig

__all__ = ["TorchCompileRuntime", "TorchCudaRuntime", "TorchEagerRuntime"]

#: An eager module or what ``torch.compile`` made of it: a tensor in, the output(s) out.
_Forward = Callable[[torch.Tensor], torch.Tensor | Sequence[torch.Tensor]]

_DTYPE_NAMES = {torch.float32: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}


def _dtype(config: RunConfig) -> torch.dtype:
    return torch.bfloat16 if config.precision == "bf16" else torch.float32


class TorchCompiledModel(CompiledModel):
    """A module (eager or compiled) with its bound input."""

    def __init__(
        self,
        fn: _Forward,
        device: str,
        executed: Executed,
        size: int,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        self._fn = fn
        self._device = device
        self._dtype = dtype
        self._x: torch.Tensor  # set by bind()
        self.executed = executed
        self.artifact_size_bytes = size

    def _sync(self) -> None:
        if self._device == "cuda":
            torch.cuda.synchronize()

    def bind(self, x: np.ndarray) -> None:
        self._x = torch.from_numpy(np.ascontiguousarray(x)).to(self._device, self._dtype)

    def run(self) -> None:
        with torch.inference_mode():
            self._fn(self._x)
        self._sync()

    def run_copy(self, x: np.ndarray) -> None:
        with torch.inference_mode():
            self._fn(torch.tensor(x, device=self._device, dtype=self._dtype))
        self._sync()

    def infer(self, x: np.ndarray) -> np.ndarray:
        return self.infer_outputs(x)[0]

    def infer_outputs(self, x: np.ndarray) -> tuple[np.ndarray, ...]:
        with torch.inference_mode():
            out = self._fn(torch.from_numpy(np.ascontiguousarray(x)).to(self._device, self._dtype))
        outputs = (out,) if isinstance(out, torch.Tensor) else tuple(out)
        if not all(isinstance(o, torch.Tensor) for o in outputs):
            kinds = ", ".join(sorted({type(o).__name__ for o in outputs}))
            raise UnsupportedModelError(
                f"The model returns {kinds}; hwfit runs models whose outputs are tensors or "
                "tuples of tensors.",
                hint="Wrap it so that forward() returns tensors (a detector's raw head outputs, "
                "with the post-processing outside the model).",
            )
        return tuple(
            np.asarray((o.float() if o.is_floating_point() else o).cpu().numpy()) for o in outputs
        )


class TorchEagerRuntime(Runtime):
    """PyTorch eager mode on the CPU: the baseline every speed-up is measured against."""

    name: ClassVar[str] = "torch"
    accepts: ClassVar[frozenset[str]] = frozenset({"torch", "torchscript"})
    precisions: ClassVar[frozenset[str]] = frozenset({"fp32", "bf16"})
    device_name: ClassVar[str] = "cpu"

    @classmethod
    def probe(cls) -> Availability:  # noqa: D102
        devices = ["CPU"]
        if torch.cuda.is_available():
            devices += [f"CUDA:{i}" for i in range(torch.cuda.device_count())]
        return Availability(
            name=cls.name, ok=True, version=torch.__version__, devices=tuple(devices)
        )

    def _prepare(
        self, model: ModelArtifact, config: RunConfig
    ) -> tuple[torch.nn.Module, Executed, int]:
        if config.options:  # PyTorch has no named settings for hwfit to pass on
            raise UnsupportedModelError(
                "PyTorch takes no runtime settings; got "
                f"{', '.join(k for k, _ in config.options)}."
            )
        if config.threads:
            torch.set_num_threads(config.threads)
        module = model.torch_module().to(self.device_name)
        if config.precision == "bf16":
            module = module.to(torch.bfloat16)
        dtypes = {p.dtype for p in module.parameters()} or {torch.float32}
        precision = "/".join(sorted(_DTYPE_NAMES.get(d, str(d)) for d in dtypes))
        matmul = torch.get_float32_matmul_precision()
        details = {"matmul_precision": matmul, "mkldnn": str(torch.backends.mkldnn.is_available())}
        if matmul != "highest":  # oneDNN may then run FP32 matmuls in BF16/TF32
            precision += f" (matmul {matmul})"
        if self.device_name == "cuda" and torch.float32 in dtypes and _conv_tf32():
            # cuDNN runs FP32 convolutions in TF32 on Ampere and later unless told not to.
            precision += " (conv TF32)"
            details["cudnn_allow_tf32"] = "True"
        executed = Executed(
            precision=precision,
            threads=torch.get_num_threads(),
            streams=1,
            device=self.device,
            provider="eager",
            details=details,
        )
        size = sum(t.numel() * t.element_size() for t in module.state_dict().values())
        return module, executed, size

    def compile(self, model: ModelArtifact, config: RunConfig) -> CompiledModel:  # noqa: D102
        module, executed, size = self._prepare(model, config)
        return TorchCompiledModel(module, self.device_name, executed, size, _dtype(config))


class TorchCompileRuntime(TorchEagerRuntime):
    """``torch.compile`` with the inductor backend; compiles (timed) inside compile()."""

    name: ClassVar[str] = "torch-compile"
    # torch.compile refuses TorchScript modules ("compile the original eager module instead").
    accepts: ClassVar[frozenset[str]] = frozenset({"torch"})

    @classmethod
    def probe(cls) -> Availability:  # noqa: D102
        base = super().probe()
        return Availability(name=cls.name, ok=True, version=base.version, devices=base.devices)

    def compile(self, model: ModelArtifact, config: RunConfig) -> CompiledModel:  # noqa: D102
        module, executed, size = self._prepare(model, config)
        compiled = torch.compile(module, backend="inductor")
        example = torch.zeros(
            (config.batch, *model.info.input.shape[1:]),
            device=self.device_name,
            dtype=_dtype(config),
        )
        start = time.perf_counter()
        try:
            with torch.inference_mode():
                compiled(example)  # torch.compile is lazy: the first call compiles
        except Exception as exc:
            raise UnsupportedModelError(f"torch.compile failed: {first_line(exc)}") from exc
        details = dict(
            executed.details,
            backend="inductor",
            compile_call_s=f"{time.perf_counter() - start:.2f}",
        )
        executed = Executed(**{**executed.__dict__, "provider": "inductor", "details": details})
        return TorchCompiledModel(compiled, self.device_name, executed, size, _dtype(config))


def _conv_tf32() -> bool:
    """True when cuDNN may run FP32 convolutions of the first CUDA device in TF32."""
    major, _ = torch.cuda.get_device_capability(0)
    return bool(torch.backends.cudnn.allow_tf32) and major >= 8


class TorchCudaRuntime(TorchEagerRuntime):
    """PyTorch eager on the first CUDA device (skipped where there is none)."""

    name: ClassVar[str] = "torch-cuda"
    device_name: ClassVar[str] = "cuda"
    device: ClassVar[str] = "GPU"

    @classmethod
    def probe(cls) -> Availability:  # noqa: D102
        if not torch.cuda.is_available():
            return Availability(
                name=cls.name, ok=False, version=torch.__version__, reason="no CUDA device"
            )
        name = torch.cuda.get_device_name(0)
        return Availability(
            name=cls.name, ok=True, version=torch.__version__, devices=(f"CUDA:0 {name}",)
        )
