"""The runtime plug-in contract: :class:`Runtime` and :class:`CompiledModel`."""

from __future__ import annotations

import abc
import statistics
from typing import TYPE_CHECKING, ClassVar

from hwfit.records import LayerTime

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    import numpy as np

    from hwfit.models.artifact import ModelArtifact
    from hwfit.records import Availability, Executed, HardwareProfile, RunConfig

__all__ = ["CompiledModel", "Runtime", "padded_chunks", "summed_by_kind", "thread_counts"]


def thread_counts(threads: int) -> tuple[str, ...]:
    """Thread counts worth trying on ``threads`` hardware threads: all, half, a quarter.

    >>> thread_counts(2), thread_counts(16)
    (('2', '1'), ('16', '8', '4'))
    """
    return tuple(dict.fromkeys(str(max(1, threads // d)) for d in (1, 2, 4)))


def summed_by_kind(
    times_us: dict[str, list[float]], kinds: dict[str, tuple[str, str]]
) -> tuple[LayerTime, ...]:
    """Each layer's median time, summed by (layer type, precision), slowest first.

    Args:
        times_us: Layer name -> its times over the profiled runs, microseconds.
        kinds: Layer name -> (layer type, precision it ran in).
    """
    grouped: dict[tuple[str, str], list[float]] = {}
    for name, times in times_us.items():
        grouped.setdefault(kinds[name], []).append(statistics.median(times))
    layers = [LayerTime(kind, prec, len(t), sum(t)) for (kind, prec), t in grouped.items()]
    return tuple(sorted(layers, key=lambda layer: -layer.us))


def as_output(value: object) -> np.ndarray:
    """A runtime's output as a NumPy array: floating point as float32, other types unchanged."""
    import numpy as np

    array = np.asarray(value)
    return array.astype(np.float32, copy=False) if array.dtype.kind == "f" else array


class CompiledModel(abc.ABC):
    """A model prepared by one runtime for repeated inference on one input shape.

    Contract:
        * ``executed`` is read back from the runtime (precision, threads, streams, provider),
          never copied from the request.
        * :meth:`bind` does every input copy, so :meth:`run` times inference alone;
          :meth:`run_copy` includes the host -> runtime copy (``--end-to-end``).
        * :meth:`run` returns only once the outputs are complete and on the host.
    """

    executed: Executed
    artifact_size_bytes: int | None = None
    convert_s: float = 0.0

    @abc.abstractmethod
    def bind(self, x: np.ndarray) -> None:
        """Hand the input to the runtime once, outside any timed region."""

    @abc.abstractmethod
    def run(self) -> None:
        """Run one inference on the bound input."""

    @abc.abstractmethod
    def run_copy(self, x: np.ndarray) -> None:
        """Run one inference including the copy of ``x`` into the runtime."""

    @abc.abstractmethod
    def infer(self, x: np.ndarray) -> np.ndarray:
        """Return the (first) output for ``x`` as a NumPy array."""

    def infer_outputs(self, x: np.ndarray) -> tuple[np.ndarray, ...]:
        """Every output for ``x``, in the model's order (the default: the first only).

        Runtimes that run models with several outputs (a detector's boxes and scores) override
        this; :meth:`infer` stays the first output.
        """
        return (self.infer(x),)

    def infer_all(self, x: np.ndarray, batch: int) -> np.ndarray:
        """Return the (first) output for any number of samples: see :meth:`infer_all_outputs`."""
        return self.infer_all_outputs(x, batch)[0]

    def infer_all_outputs(self, x: np.ndarray, batch: int) -> tuple[np.ndarray, ...]:
        """Return every output for any number of samples, in chunks of the static ``batch``.

        The last chunk is padded with copies of its first sample and the padding dropped.
        Floating-point outputs come back as float32; others (class indices) as they are.
        """
        import numpy as np

        per_output: list[list[np.ndarray]] = []
        for chunk, n in padded_chunks(x, batch):
            results = self.infer_outputs(chunk)
            if not per_output:
                per_output = [[] for _ in results]
            for store, result in zip(per_output, results, strict=True):
                store.append(as_output(result)[:n])
        return tuple(np.concatenate(store) for store in per_output)

    def throughput_runner(self, x: np.ndarray) -> tuple[Callable[[], None], int]:
        """A call that runs inferences of ``x`` the runtime's throughput way, and its samples.

        The default runs one inference on ``x`` (bound once): a runtime without an asynchronous
        API serves a stream of batches one after another. Runtimes with one override this
        (OpenVINO: an ``AsyncInferQueue`` kept full on every stream). The paired measurement
        of the throughput objective times these calls and divides by the samples.

        Returns:
            ``(call, samples each call processes)``.
        """
        self.bind(x)
        return self.run, int(x.shape[0])

    def async_throughput(
        self, x: np.ndarray, seconds: float
    ) -> tuple[float, dict[str, str]] | None:
        """Measure samples/s with the runtime's asynchronous multi-stream API, if it has one.

        Returns:
            ``(samples_per_s, details)``, or None when the runtime has no such API.
        """
        return None

    def layer_times(self, runs: int) -> tuple[LayerTime, ...] | None:
        """Per-layer-type time of one inference on the bound input, from the runtime's counters.

        Runs ``runs`` inferences with the runtime's own per-layer profiling (which slows them,
        so never inside a timed loop). None when the runtime has no per-layer counters.
        """
        return None

    def close(self) -> None:  # noqa: B027 - optional hook, nothing to release by default
        """Release the runtime's resources."""


def padded_chunks(x: np.ndarray, batch: int) -> Iterator[tuple[np.ndarray, int]]:
    """``x`` in contiguous chunks of the static ``batch``, and the real samples in each.

    The last chunk is padded with copies of its first sample; drop the padding's outputs.
    """
    import numpy as np

    for start in range(0, len(x), batch):
        chunk = x[start : start + batch]
        n = len(chunk)
        if n < batch:
            chunk = np.concatenate([chunk, np.repeat(chunk[:1], batch - n, axis=0)])
        yield np.ascontiguousarray(chunk), n


class Runtime(abc.ABC):
    """A way to execute a model on this machine.

    Contract:
        * :meth:`probe` never raises for a missing package; it returns
          ``Availability(ok=False, reason=...)``.
        * :meth:`compile` does all one-off work (conversion, compilation) and is timed apart
          from inference.
        * A runtime that cannot run a model raises :class:`~hwfit.errors.UnsupportedModelError`
          naming the reason; the row is recorded as failed and the run goes on.
    """

    name: ClassVar[str]
    #: Precisions this runtime can be asked for (the optimize issue adds more).
    precisions: ClassVar[frozenset[str]] = frozenset({"fp32"})
    #: Model formats it accepts (:func:`hwfit.models.sources.model_format`): "torch" (a module
    #: it may export), "torchscript" (a PyTorch module that only PyTorch can run, not export),
    #: "onnx", "openvino".
    accepts: ClassVar[frozenset[str]] = frozenset({"torch"})
    #: Where :meth:`CompiledModel.layer_times` reads per-layer times from (None: it cannot).
    layer_counters: ClassVar[str | None] = None
    #: The device it runs on, as shown to users.
    device: ClassVar[str] = "CPU"
    #: Every setting :meth:`tunables` may offer on any machine; an artifact's tuned settings
    #: are checked against it when it is loaded.
    tunable_names: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    @abc.abstractmethod
    def probe(cls) -> Availability:
        """Report whether this runtime can run here, its version and devices, or why not."""

    @abc.abstractmethod
    def compile(self, model: ModelArtifact, config: RunConfig) -> CompiledModel:
        """Prepare ``model`` for repeated inference under ``config``.

        Raises:
            UnsupportedModelError: The runtime cannot run this model (the message says why).
        """

    @classmethod
    def tunables(cls, hardware: HardwareProfile, objective: str) -> dict[str, tuple[str, ...]]:
        """Settings the knob tuner may try on this machine, each with its values (default: none).

        Every one changes how the model runs (threads, streams, scheduling), never what it
        computes, so a tuned model keeps the accuracy it was checked at. Names are as
        ``RunConfig.options`` takes them and come out of :attr:`tunable_names`; the compiled
        model reads each back into ``executed.details``.

        Args:
            hardware: The machine (thread counts come from its CPU).
            objective: ``latency`` or ``throughput`` (streams are a throughput setting).
        """
        return {}

    @classmethod
    def skip_reason(cls, model_kind: str, precision: str) -> str | None:
        """Why this runtime cannot take this model or precision, or None when it can.

        Args:
            model_kind: The model's format (:func:`hwfit.models.sources.model_format`).
            precision: The requested precision.
        """
        if model_kind not in cls.accepts:
            if model_kind == "torchscript":
                return "TorchScript runs only on torch; export it with torch.export or ONNX"
            names = {
                "torch": "a PyTorch model",
                "torchscript": "a TorchScript file",
                "onnx": "an ONNX file",
                "openvino": "an OpenVINO IR",
            }
            accepted = " or ".join(names[k] for k in sorted(cls.accepts))
            return f"{cls.name} runs {accepted}; this is {names.get(model_kind, model_kind)}"
        if precision not in cls.precisions:
            return f"{cls.name} does not offer precision {precision!r} yet"
        return None
