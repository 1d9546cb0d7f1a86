"""OpenVINO: the CPU plug-in, and the GPU plug-in where there is an Intel GPU.

On CPUs with BF16 support OpenVINO runs "FP32" models in BF16 unless told otherwise, so an
``fp32`` request sets ``INFERENCE_PRECISION_HINT=f32``, and the executed precision is read
back from the compiled model's per-layer runtime precisions.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import openvino as ov

from hwfit.errors import UnsupportedModelError, first_line
from hwfit.models.convert import file_size, to_openvino
from hwfit.records import Availability, Executed, LayerTime
from hwfit.runtimes.base import (
    CompiledModel,
    Runtime,
    as_output,
    padded_chunks,
    summed_by_kind,
    thread_counts,
)
from hwfit.runtimes.executed import executed_label, precision_name

if TYPE_CHECKING:
    from hwfit.models.artifact import ModelArtifact
    from hwfit.records import HardwareProfile, RunConfig

__all__ = ["OVGpuRuntime", "OVRuntime", "fast_float", "kernel_precision", "setting_text"]

# INT8 models run their non-quantized operations in the CPU's fast float (None: see
# fast_float), BF16 where the CPU has it, as OpenVINO does by default: forcing FP32 there made
# hwfit's INT8 slower than the same file with OpenVINO's defaults (mobilenetv3_large_100,
# 1.87 vs 1.57 ms on an AMD EPYC with AVX-512 BF16, benchmarks/peers.py). The accuracy guard
# measures what runs, BF16 included; NNCF's accuracy control (int8-mixed) validates with
# OpenVINO's defaults too.
_PRECISION_HINTS: dict[str, str | None] = {
    "fp32": "f32",
    "bf16": "bf16",
    "fp16": "f16",
    "int8": None,
    "int8-mixed": None,
    "int8-selective": None,
}
#: Settings the knob tuner may try (:meth:`OVRuntime.tunables`): how the plug-in schedules the
#: work, never what it computes.
_TUNABLE = frozenset(
    {
        "INFERENCE_NUM_THREADS",
        "NUM_STREAMS",
        "ENABLE_CPU_PINNING",
        "ENABLE_HYPER_THREADING",
        "TBB_PARTITIONER",
    }
)
_COMPUTE_LAYERS = {"Convolution", "FullyConnected", "MatMul", "GroupConvolution", "Deconvolution"}


#: Kernel-name suffixes (OpenVINO CPU ``exec_type``, lower-cased) and the precision they mean.
_KERNEL_PRECISIONS = {"i8": "int8", "u8": "int8", "bf16": "bf16", "f32": "f32", "f16": "f16"}


def kernel_precision(exec_type: str) -> str:
    """The precision an OpenVINO CPU kernel ran in, from its name; "-" when it does not say.

    >>> kernel_precision("brgconv_avx512_dw_I8"), kernel_precision("jit_uni_f32")
    ('int8', 'f32')
    """
    return _KERNEL_PRECISIONS.get(exec_type.rsplit("_", 1)[-1].lower(), "-")


class OVCompiledModel(CompiledModel):
    """A compiled model and one infer request whose input tensor is set once."""

    def __init__(
        self, core: ov.Core, model: ov.Model, device: str, config: dict[str, str | int]
    ) -> None:
        self._core = core
        self._model = model
        self._device = device
        self._config = config
        self._compiled = core.compile_model(model, device, config)
        self._request = self._compiled.create_infer_request()
        self._predict_queue: ov.AsyncInferQueue | None = None  # infer_all's, made on first use

    def bind(self, x: np.ndarray) -> None:
        self._x = np.ascontiguousarray(x)
        self._request.set_input_tensor(ov.Tensor(self._x))

    def run(self) -> None:
        self._request.infer()

    def run_copy(self, x: np.ndarray) -> None:
        self._request.infer({0: x}, share_inputs=False)

    def infer(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self._request.infer({0: x}, share_inputs=False)[0]).copy()

    def infer_outputs(self, x: np.ndarray) -> tuple[np.ndarray, ...]:
        result = self._request.infer({0: x}, share_inputs=False)
        return tuple(np.asarray(result[i]).copy() for i in range(len(self._compiled.outputs)))

    def executed_info(self) -> Executed:
        """Read back what the compiled model runs with."""
        compiled = self._compiled
        hint = str(compiled.get_property("INFERENCE_PRECISION_HINT"))
        layers = [
            info["runtimePrecision"].astype(str)
            for info in (op.get_rt_info() for op in compiled.get_runtime_model().get_ops())
            if "layerType" in info and info["layerType"].astype(str) in _COMPUTE_LAYERS
        ]
        return Executed(
            precision=executed_label(layers, default=precision_name(_hint_name(hint))),
            threads=int(compiled.get_property("INFERENCE_NUM_THREADS")),
            streams=int(compiled.get_property("NUM_STREAMS")),
            device=",".join(compiled.get_property("EXECUTION_DEVICES")),
            provider=f"OpenVINO {self._device}",
            details={
                "INFERENCE_PRECISION_HINT": _hint_name(hint),
                "PERFORMANCE_HINT": str(compiled.get_property("PERFORMANCE_HINT")),
                **{  # tuned settings, as the compiled model reports them
                    key: setting_text(compiled.get_property(key))
                    for key in self._config
                    if key in _TUNABLE
                },
            },
        )

    def layer_times(self, runs: int) -> tuple[LayerTime, ...]:
        """Per-layer-type time from ``PERF_COUNT``, on a second compiled copy with the counters on.

        Each layer's median over ``runs`` inferences, summed by (layer type, precision); the
        precision is read from the kernel's name (``brgconv_avx512_dw_I8``: int8).
        """
        compiled = self._core.compile_model(
            self._model, self._device, {**self._config, "PERF_COUNT": True}
        )
        request = compiled.create_infer_request()
        request.set_input_tensor(ov.Tensor(self._x))
        for _ in range(3):  # first runs pick kernels and fill caches
            request.infer()
        per_layer: dict[str, list[float]] = {}
        kinds: dict[str, tuple[str, str]] = {}
        for _ in range(runs):
            request.infer()
            for info in request.get_profiling_info():
                if info.status != info.Status.EXECUTED:
                    continue
                us = info.real_time.total_seconds() * 1e6
                per_layer.setdefault(info.node_name, []).append(us)
                kinds[info.node_name] = (info.node_type, kernel_precision(info.exec_type))
        return summed_by_kind(per_layer, kinds)

    @property
    def _throughput_hint(self) -> bool:
        return str(self._config.get("PERFORMANCE_HINT", "")) == "THROUGHPUT"

    def _queue(self, x: np.ndarray) -> tuple[ov.CompiledModel, ov.AsyncInferQueue, int]:
        """A THROUGHPUT-hint compiled model (this one when it has that hint) and a full queue.

        Every request is bound to ``x`` and run once (the first runs pick kernels).
        """
        compiled = self._compiled
        if not self._throughput_hint:
            config = dict(self._config, PERFORMANCE_HINT="THROUGHPUT")
            compiled = self._core.compile_model(self._model, self._device, config)
        jobs = int(compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
        queue = ov.AsyncInferQueue(compiled, jobs)
        tensor = ov.Tensor(np.ascontiguousarray(x))
        for request in queue:
            request.set_input_tensor(tensor)
        for _ in range(jobs):
            queue.start_async()
        queue.wait_all()
        return compiled, queue, jobs

    def throughput_runner(self, x: np.ndarray) -> tuple[Callable[[], None], int]:
        """Two rounds of requests through an ``AsyncInferQueue``, every stream kept busy."""
        _, queue, jobs = self._queue(x)
        self._keep = queue  # the queue (and its compiled model) lives as long as this model
        requests = 2 * jobs

        def run() -> None:
            for _ in range(requests):
                queue.start_async()
            queue.wait_all()

        return run, requests * int(x.shape[0])

    def infer_all_outputs(self, x: np.ndarray, batch: int) -> tuple[np.ndarray, ...]:
        """With the THROUGHPUT hint, chunks go through an ``AsyncInferQueue`` (every stream)."""
        chunks = -(-len(x) // batch)
        if not self._throughput_hint or chunks < 2:
            return super().infer_all_outputs(x, batch)
        queue = self._predict_queue
        if queue is None:  # made once: predict may be called for every batch of a stream
            jobs = int(self._compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
            queue = self._predict_queue = ov.AsyncInferQueue(self._compiled, jobs)
        n_outputs = len(self._compiled.outputs)
        outputs: list[tuple[np.ndarray, ...]] = [()] * chunks

        def done(request: ov.InferRequest, index: int) -> None:
            outputs[index] = tuple(
                as_output(request.get_output_tensor(i).data).copy() for i in range(n_outputs)
            )

        queue.set_callback(done)
        for index, (chunk, _) in enumerate(padded_chunks(x.astype(np.float32, copy=False), batch)):
            queue.start_async({0: chunk}, index)
        queue.wait_all()
        return tuple(
            np.concatenate([chunk[i] for chunk in outputs])[: len(x)] for i in range(n_outputs)
        )

    def async_throughput(
        self, x: np.ndarray, seconds: float
    ) -> tuple[float, dict[str, str]] | None:
        """Throughput with PERFORMANCE_HINT=THROUGHPUT and an AsyncInferQueue (OpenVINO's way)."""
        compiled, queue, jobs = self._queue(x)
        done = 0
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            queue.start_async()
            done += 1
        queue.wait_all()
        elapsed = time.perf_counter() - start
        details = {
            "streams": str(compiled.get_property("NUM_STREAMS")),
            "infer_requests": str(jobs),
            "threads": str(compiled.get_property("INFERENCE_NUM_THREADS")),
        }
        return done * x.shape[0] / elapsed, details


def fast_float(core: ov.Core | None = None, device: str = "CPU") -> str:
    """The plug-in's fastest float: ``"bf16"`` where the CPU has BF16, else ``"f32"``.

    Read from OpenVINO's own probe (``OPTIMIZATION_CAPABILITIES``), as its CPU plug-in decides.
    """
    capabilities = (core or ov.Core()).get_property(device, "OPTIMIZATION_CAPABILITIES")
    return "bf16" if "BF16" in capabilities else "f32"


def setting_text(value: object) -> str:
    """An OpenVINO property value as a setting is written: ``YES``/``NO``, an enum's name.

    >>> setting_text(True), setting_text(2), setting_text("TbbPartitioner.STATIC")
    ('YES', '2', 'STATIC')
    """
    if isinstance(value, bool):
        return "YES" if value else "NO"
    return str(value).rsplit(".", 1)[-1]


def _hint_name(hint: str) -> str:
    # str(ov.Type.f32) is "<Type: 'float32'>" in some releases and "f32" in others.
    text = hint.lower()
    for short, long in (("bf16", "bfloat16"), ("f16", "float16"), ("f32", "float32")):
        if long in text or text == short:
            return short
    return text


class OVRuntime(Runtime):
    """OpenVINO on the CPU."""

    name: ClassVar[str] = "openvino"
    accepts: ClassVar[frozenset[str]] = frozenset({"torch", "onnx", "openvino"})
    layer_counters: ClassVar[str | None] = "OpenVINO PERF_COUNT"
    precisions: ClassVar[frozenset[str]] = frozenset(_PRECISION_HINTS)
    ov_device: ClassVar[str] = "CPU"
    tunable_names: ClassVar[frozenset[str]] = _TUNABLE

    @classmethod
    def tunables(  # noqa: D102
        cls, hardware: HardwareProfile, objective: str
    ) -> dict[str, tuple[str, ...]]:
        cpu = hardware.cpu
        space: dict[str, tuple[str, ...]] = {
            "INFERENCE_NUM_THREADS": thread_counts(cpu.usable_threads),
            "ENABLE_CPU_PINNING": ("YES", "NO"),
        }
        if objective == "throughput":  # the THROUGHPUT hint's stream count is a guess
            streams = [n for n in (1, 2, 4, 8, 16) if n <= cpu.usable_threads]
            space["NUM_STREAMS"] = tuple(map(str, streams))
        if cpu.logical_threads > cpu.physical_cores:
            space["ENABLE_HYPER_THREADING"] = ("YES", "NO")
        # Asked of the bindings, not of a Core: that would load the CPU plug-in into optimize's
        # own process, which only measures in workers.
        if hasattr(ov.properties.intel_cpu, "tbb_partitioner"):
            space["TBB_PARTITIONER"] = ("STATIC", "AUTO")
        return {key: values for key, values in space.items() if len(values) > 1}

    @classmethod
    def probe(cls) -> Availability:  # noqa: D102
        devices = tuple(ov.Core().available_devices)
        if cls.ov_device not in devices:
            return Availability(
                name=cls.name,
                ok=False,
                version=ov.get_version(),
                devices=devices,
                reason=f"OpenVINO has no {cls.ov_device} device here",
            )
        return Availability(name=cls.name, ok=True, version=ov.get_version(), devices=devices)

    def compile(self, model: ModelArtifact, config: RunConfig) -> CompiledModel:  # noqa: D102
        spec = model.info.input.with_batch(config.batch)
        path, convert_s = to_openvino(model, spec)
        core = ov.Core()
        if config.options:  # OpenVINO's own error names no setting; name it here
            known = set(core.get_property(self.ov_device, "SUPPORTED_PROPERTIES"))
            unknown = [key for key, _ in config.options if key not in known]
            if unknown:
                raise UnsupportedModelError(
                    f"OpenVINO's {self.ov_device} plug-in has no setting {', '.join(unknown)}."
                )
        try:
            ov_model = core.read_model(str(path))
            if list(ov_model.inputs[0].get_partial_shape()) != list(spec.shape):
                ov_model.reshape({ov_model.inputs[0]: list(spec.shape)})
            options: dict[str, str | int] = {
                "PERFORMANCE_HINT": "LATENCY",
                "INFERENCE_PRECISION_HINT": _PRECISION_HINTS[config.precision]
                or fast_float(core, self.ov_device),
            }
            if config.threads:
                options["INFERENCE_NUM_THREADS"] = config.threads
            options.update(dict(config.options))
            compiled = OVCompiledModel(core, ov_model, self.ov_device, options)
        except Exception as exc:
            raise UnsupportedModelError(
                f"OpenVINO cannot compile the model: {first_line(exc)}"
            ) from exc
        compiled.executed = compiled.executed_info()
        compiled.artifact_size_bytes = file_size(path)
        compiled.convert_s = convert_s
        return compiled


class OVGpuRuntime(OVRuntime):
    """OpenVINO's GPU plug-in (Intel GPUs; skipped where there is none)."""

    name: ClassVar[str] = "openvino-gpu"
    ov_device: ClassVar[str] = "GPU"
    device: ClassVar[str] = "GPU"
