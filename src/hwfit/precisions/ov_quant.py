"""OpenVINO INT8 through NNCF: plain post-training quantization and accuracy-controlled INT8.

Both recipes read the FP32 IR, let NNCF insert FakeQuantize operations calibrated on the
user's data (PERFORMANCE preset: symmetric quantization, what the CPU plug-in runs fastest) and
save an IR whose weights are stored in INT8. The CPU plug-in then executes every layer that has
quantized inputs in INT8 (``runtimePrecision`` i8/u8, read back by the OpenVINO runtime).

The accuracy-controlled recipe (``int8-mixed``) quantizes the same way, measures the user's
metric on the validation data for the FP32 and the INT8 model, and, while the drop exceeds
``max_drop``, reverts the most harmful layers to floating point.

NNCF attaches its own stdout handler to the ``nncf`` logger on import and draws progress bars
on stdout; both are silenced for the duration of each call (see :func:`_quiet_nncf`), so a bench
worker's output stays clean. What NNCF logs about reverted layers is kept for the details.
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
import time
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from hwfit.errors import RuntimeFailure, UserError, first_line
from hwfit.models.convert import to_openvino
from hwfit.precisions.base import (
    PrecisionRecipe,
    PreparedModel,
    QuantData,
    checked_samples,
    full_batches,
    require_calibration,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Sequence
    from pathlib import Path

    import openvino as ov

    from hwfit.models.artifact import ModelArtifact
    from hwfit.records import InputSpec

__all__ = ["OVInt8Recipe", "OVMixedInt8Recipe", "quantize", "read_fp32", "save_ir"]

logger = logging.getLogger(__name__)

#: Operations whose precision decides speed (what the CPU plug-in runs as int8 kernels).
_COMPUTE_OPS = frozenset(
    {
        "Convolution",
        "GroupConvolution",
        "ConvolutionBackpropData",
        "GroupConvolutionBackpropData",
        "MatMul",
    }
)
#: Operations NNCF puts between an INT8 weight constant and the layer (decompression, layout).
_WEIGHT_PATH_OPS = frozenset(
    {"Convert", "Subtract", "Multiply", "Reshape", "Transpose", "Unsqueeze", "Squeeze"}
)
_INTEGER_TYPES = frozenset({"i8", "u8", "i4", "u4"})
# Each iteration reverts one group of operations and validates again; uncapped, a model whose
# INT8 loses much accuracy (efficientnet_b2 with random weights: 23 points) takes over ten
# minutes on two cores. After the cap the guard decides on what was reached.
MAX_REVERT_ITERATIONS = 5
RANKING_SUBSET = 50  # batches used to rank operations by harm (NNCF's default is 300)
_NNCF_LOGGER = "nncf"  # nncf.common.logging.logger.NNCF_LOGGER_NAME


class OVInt8Recipe(PrecisionRecipe):
    """INT8 with ``nncf.quantize``: every quantizable layer, PERFORMANCE preset."""

    needs_calibration: ClassVar[bool] = True

    def prepare(  # noqa: D102
        self, model: ModelArtifact, spec: InputSpec, out_dir: Path, data: QuantData | None
    ) -> PreparedModel:
        calibration = checked_samples(require_calibration(data).calibration, spec, "Calibration")
        start = time.perf_counter()
        ov_model = read_fp32(model, spec)
        import nncf

        batches = list(full_batches(calibration, spec.shape[0]))
        quantized = quantize(ov_model, batches, model.info.source)
        target = save_ir(quantized, out_dir / "model_int8.xml", model.info.source)
        int8_layers, total = _int8_compute_layers(quantized)
        details = {
            "tool": f"NNCF {nncf.__version__}",
            "preset": "performance",
            "calibration_samples": str(len(calibration)),
            "subset_size": str(len(batches)),
            "int8_compute_layers": f"{int8_layers} of {total}",
        }
        return PreparedModel(
            path=target, kind="openvino", seconds=time.perf_counter() - start, details=details
        )


def quantize(
    ov_model: ov.Model, batches: list[np.ndarray], source: str, ignored: Sequence[str] = ()
) -> ov.Model:
    """``nncf.quantize`` with the PERFORMANCE preset; operations named in ``ignored`` stay float.

    Raises:
        RuntimeFailure: NNCF failed (the message says why).
    """
    import nncf

    scope = nncf.IgnoredScope(names=list(ignored), validate=False) if ignored else None
    try:
        with _quiet_nncf():
            return nncf.quantize(
                ov_model,
                nncf.Dataset(batches),
                subset_size=len(batches),
                preset=nncf.QuantizationPreset.PERFORMANCE,
                model_type=None,
                ignored_scope=scope,
            )
    except Exception as exc:
        raise RuntimeFailure(
            f"NNCF INT8 quantization of {source!r} failed: {first_line(exc)}"
        ) from exc


class OVMixedInt8Recipe(PrecisionRecipe):
    """INT8 with ``nncf.quantize_with_accuracy_control``: layers that cost accuracy stay float.

    NNCF calls the validation function on subsets of the validation data (one item to probe
    it, a ranking subset to order layers), while :attr:`QuantData.metric` is defined on the
    whole set. Each subset is therefore scored as the whole set with the FP32 outputs in place
    of the items not given: the same metric, for any metric, and its changes come from the
    given items only.
    """

    needs_calibration: ClassVar[bool] = True
    needs_validation: ClassVar[bool] = True

    def prepare(  # noqa: D102
        self, model: ModelArtifact, spec: InputSpec, out_dir: Path, data: QuantData | None
    ) -> PreparedModel:
        data = require_calibration(data)
        calibration = checked_samples(data.calibration, spec, "Calibration")
        if data.validation is None or len(data.validation) == 0 or data.metric is None:
            raise UserError(
                "Accuracy-controlled INT8 (int8-mixed) needs validation data and a metric.",
                hint="Pass --data with enough samples for disjoint calibration and validation "
                "subsets (labels give top-1; without them the metric is agreement with FP32).",
            )
        validation = checked_samples(data.validation, spec, "Validation")
        start = time.perf_counter()
        ov_model = read_fp32(model, spec)
        import nncf
        from nncf.quantization.advanced_parameters import AdvancedAccuracyRestorerParameters

        calibration_batches = list(full_batches(calibration, spec.shape[0]))
        validation_batches = list(full_batches(validation, spec.shape[0]))
        log: list[str] = []
        try:
            reference = _fp32_outputs(ov_model, validation_batches)
            validation_fn = _SubsetValidation(reference, data.metric, len(validation))
            with _quiet_nncf(log):
                quantized = nncf.quantize_with_accuracy_control(
                    ov_model,
                    nncf.Dataset(calibration_batches),
                    nncf.Dataset(list(enumerate(validation_batches)), _batch_of),
                    validation_fn,
                    max_drop=data.max_drop,
                    drop_type=nncf.DropType.ABSOLUTE,
                    preset=nncf.QuantizationPreset.PERFORMANCE,
                    subset_size=len(calibration_batches),
                    advanced_accuracy_restorer_parameters=AdvancedAccuracyRestorerParameters(
                        max_num_iterations=MAX_REVERT_ITERATIONS,
                        ranking_subset_size=min(len(validation_batches), RANKING_SUBSET),
                    ),
                )
        except Exception as exc:
            raise RuntimeFailure(
                "NNCF accuracy-controlled INT8 quantization of "
                f"{model.info.source!r} failed: {first_line(exc)}"
            ) from exc
        target = save_ir(quantized, out_dir / "model_int8_mixed.xml", model.info.source)
        int8_layers, total = _int8_compute_layers(quantized)
        details = {
            "tool": f"NNCF {nncf.__version__}",
            "preset": "performance",
            "calibration_samples": str(len(calibration)),
            "validation_samples": str(len(validation)),
            "max_drop": f"{data.max_drop:g} (absolute)",
            "max_revert_iterations": str(MAX_REVERT_ITERATIONS),
            "int8_compute_layers": f"{int8_layers} of {total}",
            "float_compute_layers": str(total - int8_layers),
            **_accuracy_control_summary(log),
        }
        logger.info(
            "int8-mixed %s: %s compute layers in INT8, reverted %s",
            model.info.source,
            details["int8_compute_layers"],
            details["reverted_to_float"],
        )
        return PreparedModel(
            path=target, kind="openvino", seconds=time.perf_counter() - start, details=details
        )


class _SubsetValidation:
    """NNCF's ``validation_fn`` over ``(index, batch)`` items (see :class:`OVMixedInt8Recipe`)."""

    def __init__(
        self,
        reference: list[tuple[np.ndarray, ...]],
        metric: Callable[[tuple[np.ndarray, ...]], float],
        count: int,
    ) -> None:
        self._reference = reference
        self._metric = metric
        self._count = count

    def __call__(
        self, compiled_model: ov.CompiledModel, items: Iterable[tuple[int, np.ndarray]]
    ) -> tuple[float, None]:
        per_batch = list(self._reference)
        request = compiled_model.create_infer_request()
        for index, batch in items:
            per_batch[index] = _all_outputs(request, batch)
        outputs = tuple(
            np.concatenate([b[i] for b in per_batch])[: self._count]
            for i in range(len(per_batch[0]))
        )
        # (value, None) tells NNCF the metric is a score, not per-item logits.
        return float(self._metric(outputs)), None


def _all_outputs(request: ov.InferRequest, batch: np.ndarray) -> tuple[np.ndarray, ...]:
    """Every output of one inference, in the model's order."""
    result = request.infer({0: batch})
    return tuple(np.array(result[i]) for i in range(len(request.model_outputs)))


def _batch_of(item: tuple[int, np.ndarray]) -> np.ndarray:
    return item[1]


def read_fp32(model: ModelArtifact, spec: InputSpec) -> ov.Model:
    """The FP32 ``ov.Model`` for ``spec`` (IR sources are reshaped to it)."""
    import openvino as ov

    path, _ = to_openvino(model, spec)
    try:
        ov_model = ov.Core().read_model(str(path))
        if list(ov_model.inputs[0].get_partial_shape()) != list(spec.shape):
            ov_model.reshape({ov_model.inputs[0]: list(spec.shape)})
    except Exception as exc:
        raise RuntimeFailure(
            f"OpenVINO cannot read {str(path)!r} for quantization: {first_line(exc)}"
        ) from exc
    return ov_model


def _fp32_outputs(ov_model: ov.Model, batches: list[np.ndarray]) -> list[tuple[np.ndarray, ...]]:
    """Every output of the FP32 model per batch, in FP32 as NNCF runs it (no BF16 downcast)."""
    import openvino as ov

    compiled = ov.Core().compile_model(ov_model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    request = compiled.create_infer_request()
    return [_all_outputs(request, batch) for batch in batches]


def save_ir(quantized: ov.Model, target: Path, source: str) -> Path:
    """Save ``quantized`` as ``target`` (INT8 weights as they are); a failure leaves no file.

    Raises:
        RuntimeFailure: OpenVINO could not write it.
    """
    import openvino as ov

    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        ov.save_model(quantized, str(target), compress_to_fp16=False)
    except Exception as exc:
        target.unlink(missing_ok=True)
        target.with_suffix(".bin").unlink(missing_ok=True)
        raise RuntimeFailure(
            f"Saving the INT8 IR of {source!r} failed: {first_line(exc)}"
        ) from exc
    return target


def _int8_compute_layers(ov_model: ov.Model) -> tuple[int, int]:
    """Count compute layers, and those whose weights NNCF quantized: ``(int8, total)``.

    A reverted layer gets its FP32 weights back, so this also counts what accuracy control
    kept in floating point.
    """
    total = quantized = 0
    for op in ov_model.get_ops():
        if op.get_type_name() in _COMPUTE_OPS and op.get_input_size() > 1:
            total += 1
            quantized += _is_quantized(op.input_value(1), depth=6)
    return quantized, total


def _is_quantized(value: ov.Output, depth: int) -> bool:
    """True if ``value`` comes from a FakeQuantize or an integer constant (INT8 weights)."""
    node = value.get_node()
    kind = node.get_type_name()
    if kind == "FakeQuantize":
        return True
    if kind == "Constant":
        return node.get_element_type().get_type_name() in _INTEGER_TYPES
    if kind in _WEIGHT_PATH_OPS and depth > 0:
        return any(
            _is_quantized(node.input_value(i), depth - 1) for i in range(node.get_input_size())
        )
    return False


_REVERTED = re.compile(r"(\d+) out of (\d+) were reverted")
_METRIC = re.compile(r"Metric of (initial|quantized) model: (\S+)")
_DROP = re.compile(r"^Accuracy drop: (\S+)")
_RESTORE_STARTED = "Changing the scope of quantizer nodes was started"


def _accuracy_control_summary(log: list[str]) -> dict[str, str]:
    """What NNCF's accuracy control logged: metrics, drop, reverted operations, outcome.

    NNCF returns only the model; these lines of its log are the one place that says what it
    did. Whatever is missing from them stays "unknown" (the structural count of float compute
    layers in the details does not depend on the log).
    """
    summary = {"reverted_to_float": "unknown (NNCF's log did not say)"}
    for line in log:
        if found := _METRIC.search(line):
            name = "metric_fp32" if found[1] == "initial" else "metric_int8_before_revert"
            summary[name] = found[2]
        elif found := _DROP.search(line):
            summary["drop_int8_before_revert"] = found[1]
        elif found := _REVERTED.search(line):
            summary["reverted_to_float"] = f"{found[1]} of {found[2]} quantized operations"
        elif line.startswith("Algorithm completed:"):
            summary["accuracy_control"] = line.removeprefix("Algorithm completed:").strip()
        elif "could not achieve the required accuracy drop" in line:
            summary["accuracy_control"] = "the required drop was not reached"
    if "drop_int8_before_revert" in summary and _RESTORE_STARTED not in log:
        summary["reverted_to_float"] = "0 (INT8 met the accuracy budget)"
    return summary


class _Collector(logging.Handler):
    def __init__(self, lines: list[str]) -> None:
        super().__init__(logging.INFO)
        self._lines = lines

    def emit(self, record: logging.LogRecord) -> None:
        self._lines.append(record.getMessage().split("\n", 1)[0])


@contextlib.contextmanager
def _quiet_nncf(log: list[str] | None = None) -> Iterator[None]:
    """Silence NNCF's stdout handler and progress bars; append its INFO lines to ``log``.

    NNCF configures its logger on import (its own stdout handler, level INFO): that is undone
    here only for the duration of the call, and restored after.
    """
    nncf_logger = logging.getLogger(_NNCF_LOGGER)
    saved_level = nncf_logger.level
    saved_handlers = [(handler, handler.level) for handler in nncf_logger.handlers]
    for handler, _ in saved_handlers:
        handler.setLevel(logging.CRITICAL + 1)
    collector = _Collector(log) if log is not None else None
    if collector:
        nncf_logger.addHandler(collector)
        nncf_logger.setLevel(logging.INFO)
    else:
        nncf_logger.setLevel(logging.ERROR)
    try:
        # The progress bars are rich consoles that write to whatever sys.stdout is.
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        if collector:
            nncf_logger.removeHandler(collector)
        nncf_logger.setLevel(saved_level)
        for handler, level in saved_handlers:
            handler.setLevel(level)
