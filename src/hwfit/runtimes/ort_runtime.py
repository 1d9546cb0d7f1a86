"""ONNX Runtime: the CPU execution provider, and CUDA / TensorRT where they are present."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import onnxruntime as ort

from hwfit.errors import UnsupportedModelError, first_line
from hwfit.models.convert import file_size, to_onnx
from hwfit.records import Availability, Executed, LayerTime
from hwfit.runtimes.base import CompiledModel, Runtime, summed_by_kind

if TYPE_CHECKING:
    from collections.abc import Callable

    from hwfit.models.artifact import ModelArtifact
    from hwfit.records import HardwareProfile, RunConfig

__all__ = ["OrtCudaRuntime", "OrtRuntime", "OrtTensorrtRuntime"]


def _weights_precision(path: Path) -> str:
    """The precision the CPU EP computes in: that of the model's weights (by element count)."""
    import onnx

    names = {1: "fp32", 10: "fp16", 16: "bf16", 3: "int8", 2: "int8"}  # onnx.TensorProto types
    counts: dict[str, int] = {}
    for init in onnx.load(str(path), load_external_data=False).graph.initializer:
        size = 1
        for d in init.dims:
            size *= d
        key = names.get(init.data_type)
        if key:
            counts[key] = counts.get(key, 0) + size
    return max(counts, key=lambda k: counts[k]) if counts else "fp32"


#: ONNX element types (the profiler's ``input_type_shape``) and the precision they mean.
_ELEMENTS = {"float": "f32", "float16": "f16", "bfloat16": "bf16", "uint8": "int8", "int8": "int8"}


class OrtCompiledModel(CompiledModel):
    """An InferenceSession with an IOBinding, so the timed call excludes the input copy."""

    def __init__(self, session: ort.InferenceSession, device: str, executed: Executed) -> None:
        self._session = session
        self._device = device
        self._input = session.get_inputs()[0].name
        self._outputs = [o.name for o in session.get_outputs()]
        self._binding = session.io_binding()
        self.executed = executed

    def bind(self, x: np.ndarray) -> None:
        self._x = np.ascontiguousarray(x)  # also the profiler's input (layer_times)
        value = ort.OrtValue.ortvalue_from_numpy(self._x, self._device, 0)
        self._value = value  # keep it alive as long as it is bound
        self._binding.bind_ortvalue_input(self._input, value)
        for name in self._outputs:
            self._binding.bind_output(name, "cpu")

    def run(self) -> None:
        self._session.run_with_iobinding(self._binding)

    def run_copy(self, x: np.ndarray) -> None:
        self._session.run(self._outputs, {self._input: x})

    def infer(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self._session.run(self._outputs[:1], {self._input: x})[0])

    def infer_outputs(self, x: np.ndarray) -> tuple[np.ndarray, ...]:
        return tuple(np.asarray(o) for o in self._session.run(self._outputs, {self._input: x}))

    #: Makes a second session with the profiler on (set by :meth:`OrtRuntime.compile`).
    profiled_session: Callable[[str], ort.InferenceSession] | None = None

    def layer_times(self, runs: int) -> tuple[LayerTime, ...] | None:
        """Per-operator time from ONNX Runtime's profiler, on a second session with it on.

        Each node's median over ``runs`` runs (after 3 untimed ones), summed by (operator,
        precision); the precision is the node's first input's element type (``uint8``: int8).
        """
        if self.profiled_session is None:
            return None
        warm = 3
        with tempfile.TemporaryDirectory(prefix="hwfit-ortprof-") as tmp:
            session = self.profiled_session(str(Path(tmp) / "profile"))
            feed = {self._input: self._x}
            for _ in range(warm + runs):
                session.run(self._outputs, feed)
            events = json.loads(Path(session.end_profiling()).read_text())
        per_node: dict[str, list[float]] = {}
        kinds: dict[str, tuple[str, str]] = {}
        for event in events:
            if event.get("cat") != "Node" or not str(event.get("name", "")).endswith(
                "_kernel_time"
            ):
                continue
            args = event.get("args", {})
            inputs = args.get("input_type_shape") or [{}]
            element = next(iter(inputs[0]), "-")
            per_node.setdefault(event["name"], []).append(float(event["dur"]))
            kinds[event["name"]] = (str(args.get("op_name", "?")), _ELEMENTS.get(element, element))
        timed = {name: times[warm:] or times for name, times in per_node.items()}
        return summed_by_kind(timed, kinds)


class OrtRuntime(Runtime):
    """ONNX Runtime with the CPU execution provider."""

    name: ClassVar[str] = "onnxruntime"
    accepts: ClassVar[frozenset[str]] = frozenset({"torch", "onnx"})
    # INT8 arrives as a quantized ONNX file; the session options are the same.
    precisions: ClassVar[frozenset[str]] = frozenset({"fp32", "int8", "int8-dynamic"})
    providers: ClassVar[tuple[str, ...]] = ("CPUExecutionProvider",)
    ort_device: ClassVar[str] = "cpu"
    layer_counters: ClassVar[str | None] = "ONNX Runtime profiler"
    # Session config entries that change how the thread pool runs, never what it computes:
    # spinning workers answer sooner but burn the core between calls; a dynamic block size
    # (the docs suggest 4) rebalances uneven operators across threads.
    tunable_names: ClassVar[frozenset[str]] = frozenset(
        {"session.intra_op.allow_spinning", "session.dynamic_block_base"}
    )

    @classmethod
    def tunables(  # noqa: D102
        cls, hardware: HardwareProfile, objective: str
    ) -> dict[str, tuple[str, ...]]:
        if hardware.cpu.usable_threads < 2:  # one thread: no pool to tune
            return {}
        return {
            "session.intra_op.allow_spinning": ("1", "0"),
            "session.dynamic_block_base": ("0", "4"),
        }

    @classmethod
    def probe(cls) -> Availability:  # noqa: D102
        available = ort.get_available_providers()
        missing = [p for p in cls.providers if p not in available]
        if missing:
            return Availability(
                name=cls.name,
                ok=False,
                version=ort.__version__,
                devices=tuple(available),
                reason=f"this onnxruntime build has no {missing[0]} "
                f"(it has {', '.join(available)})",
            )
        return Availability(
            name=cls.name, ok=True, version=ort.__version__, devices=tuple(available)
        )

    def compile(self, model: ModelArtifact, config: RunConfig) -> CompiledModel:  # noqa: D102
        path, convert_s = to_onnx(model, model.info.input.with_batch(config.batch))
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3
        if config.threads:
            options.intra_op_num_threads = config.threads
            options.inter_op_num_threads = 1
        for key, value in config.options:  # ONNX Runtime's session config entries only
            if not key.startswith("session."):
                raise UnsupportedModelError(
                    f"ONNX Runtime has no setting {key!r} (it takes session.* config entries)."
                )
            options.add_session_config_entry(key, value)
        try:
            session = ort.InferenceSession(str(path), options, providers=list(self.providers))
        except Exception as exc:
            raise UnsupportedModelError(
                f"ONNX Runtime cannot load the model: {first_line(exc)}"
            ) from exc
        compiled = OrtCompiledModel(
            session, self.ort_device, self._executed(session, path, config)
        )

        def profiled(prefix: str) -> ort.InferenceSession:
            options.enable_profiling = True
            options.profile_file_prefix = prefix
            return ort.InferenceSession(str(path), options, providers=list(self.providers))

        compiled.profiled_session = profiled
        compiled.artifact_size_bytes = file_size(path)
        compiled.convert_s = convert_s
        return compiled

    def _executed(self, session: ort.InferenceSession, path: Path, config: RunConfig) -> Executed:
        used = session.get_providers()
        applied = session.get_session_options()
        threads = applied.intra_op_num_threads
        details = {"providers": ",".join(used), "graph_optimization": "ORT_ENABLE_ALL"}
        for key, _ in config.options:  # read back from the session, not echoed from the request
            details[key] = applied.get_session_config_entry(key)
        if threads == 0:  # ORT's default: one intra-op thread per physical core
            import psutil

            threads = psutil.cpu_count(logical=False) or 1
            details["threads_source"] = "ORT default (one per physical core)"
        return Executed(
            precision=_weights_precision(path),
            threads=threads,
            streams=1,
            device=self.device,
            provider=used[0],
            details=details,
        )


class OrtCudaRuntime(OrtRuntime):
    """ONNX Runtime with the CUDA execution provider (skipped without one)."""

    name: ClassVar[str] = "onnxruntime-cuda"
    providers: ClassVar[tuple[str, ...]] = ("CUDAExecutionProvider", "CPUExecutionProvider")
    ort_device: ClassVar[str] = "cuda"
    device: ClassVar[str] = "GPU"


class OrtTensorrtRuntime(OrtCudaRuntime):
    """ONNX Runtime with the TensorRT execution provider (skipped without one)."""

    name: ClassVar[str] = "onnxruntime-tensorrt"
    providers: ClassVar[tuple[str, ...]] = (
        "TensorrtExecutionProvider",
        "CUDAExecutionProvider",
        "CPUExecutionProvider",
    )
