"""ONNX Runtime INT8: static QDQ quantization calibrated on the user's data, and dynamic INT8.

Static INT8 writes a QDQ model (QuantizeLinear/DequantizeLinear pairs around each quantized
operator) that ONNX Runtime's CPU execution provider fuses into integer kernels at session
creation. Activations are unsigned 8-bit and weights signed 8-bit, per channel (U8S8): that is
the pair MLAS's x86 kernels compute natively (``VPDPBUSD`` with VNNI, ``VPMADDUBSW`` without),
and on the AVX512-VNNI machine this module was tuned on it ran twice as fast as the S8S8 QDQ
that ``quantize_static`` defaults to and ONNX Runtime's guide names first (batch 1, ORT 1.32:
``test_resnet`` 1.0 ms against 2.0 ms, ``resnet50`` 40 ms against 81 ms; FP32 2.1 and 109 ms).
ONNX Runtime's documentation warns that ``VPMADDUBSW`` can saturate on CPUs without VNNI and
suggests ``reduce_range`` there; this recipe does that, and says so in the details.

Dynamic INT8 quantizes weights ahead of time and activations on every call. ONNX Runtime
applies it only to MatMul-like operators (``Gemm`` is rewritten as ``MatMul``): its ``Conv``
counterpart (``ConvInteger``) has no fast CPU kernel, 2-6x slower than FP32 when measured, so
convolutions stay in FP32 and a CNN changes little.
"""

from __future__ import annotations

import contextlib
import io
import tempfile
import time
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from hwfit.errors import RuntimeFailure, first_line
from hwfit.hardware import probe_cpu
from hwfit.models.convert import to_onnx
from hwfit.precisions.base import (
    PrecisionRecipe,
    PreparedModel,
    QuantData,
    checked_samples,
    full_batches,
    require_calibration,
)

if TYPE_CHECKING:
    from pathlib import Path

    from hwfit.models.artifact import ModelArtifact
    from hwfit.records import InputSpec

__all__ = ["OrtDynamicInt8Recipe", "OrtStaticInt8Recipe"]

#: Operators dynamic quantization converts; ``Conv`` is left out on purpose (module docstring).
_DYNAMIC_OPS = ("MatMul", "Attention", "LSTM")
#: Compute operators, in float (QDQ models keep these, with DequantizeLinear inputs) ...
_FLOAT_COMPUTE_OPS = frozenset({"Conv", "ConvTranspose", "Gemm", "MatMul", "Attention", "LSTM"})
#: ... and as the integer operators dynamic quantization puts in their place.
_INTEGER_OPS = frozenset(
    {"MatMulInteger", "DynamicQuantizeMatMul", "QAttention", "DynamicQuantizeLSTM", "ConvInteger"}
)
_VNNI = ("avx512_vnni", "avx_vnni", "amx_int8")


class OrtStaticInt8Recipe(PrecisionRecipe):
    """Static INT8 in QDQ format: U8 activations, S8 per-channel weights, MinMax calibration.

    Calibration uses ONNX Runtime's MinMax: the exact range seen on the calibration data. It
    is the fastest calibrator (one pass, no histograms) and, unlike Percentile and Entropy,
    prints nothing on stdout; on ReLU CNNs it matched them in top-1 agreement with FP32.
    """

    needs_calibration: ClassVar[bool] = True

    def prepare(  # noqa: D102
        self, model: ModelArtifact, spec: InputSpec, out_dir: Path, data: QuantData | None
    ) -> PreparedModel:
        calibration = checked_samples(require_calibration(data).calibration, spec, "Calibration")
        start = time.perf_counter()
        source, _ = to_onnx(model, spec)
        out_dir.mkdir(parents=True, exist_ok=True)
        target = out_dir / "model_int8.onnx"
        reduce_range = _needs_reduce_range()
        details = {
            "format": "QDQ",
            "activations": "uint8 (asymmetric)",
            "weights": "int8 (symmetric)",
            "per_channel": "true",
            "reduce_range": str(reduce_range).lower(),
            "calibration": "MinMax",
            "calibration_samples": str(len(calibration)),
        }
        from onnxruntime.quantization import (
            CalibrationMethod,
            QuantFormat,
            QuantType,
            quantize_static,
        )

        preprocessed, note = _preprocess(source, target.with_suffix(".preprocessed.onnx"))
        if note:
            details["preprocess"] = note
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                quantize_static(
                    str(preprocessed),
                    str(target),
                    _calibration_reader(spec, calibration),
                    quant_format=QuantFormat.QDQ,
                    per_channel=True,
                    reduce_range=reduce_range,
                    activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8,
                    calibrate_method=CalibrationMethod.MinMax,
                )
        except Exception as exc:
            target.unlink(missing_ok=True)
            raise RuntimeFailure(
                f"ONNX Runtime static INT8 quantization of {model.info.source!r} failed: "
                f"{first_line(exc)}"
            ) from exc
        finally:
            if preprocessed != source:
                preprocessed.unlink(missing_ok=True)
        int8_layers, total = _int8_compute_layers(target)
        details["int8_compute_layers"] = f"{int8_layers} of {total}"
        return PreparedModel(
            path=target, kind="onnx", seconds=time.perf_counter() - start, details=details
        )


class OrtDynamicInt8Recipe(PrecisionRecipe):
    """Dynamic INT8: S8 per-channel weights, activations quantized per call; MatMul-like ops only.

    Needs no data. Convolutions stay in FP32 (see the module docstring), so on a CNN only the
    classifier changes; ``details["note"]`` says so, and ``details["int8_compute_layers"]``
    counts what was converted ("0 of N": the file computes in FP32).
    """

    def prepare(  # noqa: D102
        self, model: ModelArtifact, spec: InputSpec, out_dir: Path, data: QuantData | None
    ) -> PreparedModel:
        start = time.perf_counter()
        source, _ = to_onnx(model, spec)
        out_dir.mkdir(parents=True, exist_ok=True)
        target = out_dir / "model_int8_dynamic.onnx"
        from onnxruntime.quantization import QuantType, quantize_dynamic

        reduce_range = _needs_reduce_range()
        preprocessed, note = _preprocess(source, target.with_suffix(".preprocessed.onnx"))
        try:
            quantize_dynamic(
                str(preprocessed),
                str(target),
                op_types_to_quantize=list(_DYNAMIC_OPS),
                per_channel=True,
                reduce_range=reduce_range,
                weight_type=QuantType.QInt8,
            )
        except Exception as exc:
            target.unlink(missing_ok=True)
            raise RuntimeFailure(
                f"ONNX Runtime dynamic INT8 quantization of {model.info.source!r} failed: "
                f"{first_line(exc)}"
            ) from exc
        finally:
            if preprocessed != source:
                preprocessed.unlink(missing_ok=True)
        quantized, total = _int8_compute_layers(target)
        details = {
            "format": "dynamic (integer operators)",
            "weights": "int8 (symmetric)",
            "activations": "uint8, quantized per call",
            "per_channel": "true",
            "reduce_range": str(reduce_range).lower(),
            "op_types": ",".join(_DYNAMIC_OPS),
            "int8_compute_layers": f"{quantized} of {total}",
            "note": (
                "dynamic quantization covers MatMul/Gemm-like operators only; convolutions "
                "stay FP32 (ONNX Runtime's ConvInteger is slower than FP32 on CPU), so a CNN "
                "changes little: use static INT8 for CNNs"
            ),
        }
        if quantized == 0:
            details["note"] += "; this model has no MatMul-like operator: it still runs in FP32"
        if note:
            details["preprocess"] = note
        return PreparedModel(
            path=target, kind="onnx", seconds=time.perf_counter() - start, details=details
        )


def _calibration_reader(spec: InputSpec, calibration: np.ndarray) -> object:
    """An ONNX Runtime ``CalibrationDataReader`` over ``calibration``, in model-sized batches."""
    from onnxruntime.quantization import CalibrationDataReader

    class _Reader(CalibrationDataReader):  # type: ignore[misc]  # onnxruntime is untyped
        def __init__(self) -> None:
            self._feeds = (
                {spec.name: batch} for batch in full_batches(calibration, spec.shape[0])
            )

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self._feeds, None)

    return _Reader()


def _preprocess(source: Path, target: Path) -> tuple[Path, str | None]:
    """Run ONNX Runtime's recommended pre-processing (shape inference, graph optimization).

    Returns:
        The file to quantize and, when pre-processing failed and the source is used as it is,
        the reason (quantization still works, only less of the graph may be covered).
    """
    from onnxruntime.quantization.shape_inference import quant_pre_process

    source, target = source.resolve(), target.resolve()
    try:
        # Where its shape inference is incomplete (a detector's NMS), ONNX Runtime saves a
        # debug copy of the model into the current folder: keep that out of the user's.
        with (
            tempfile.TemporaryDirectory(prefix="hwfit-ort-pre-") as scratch,
            contextlib.chdir(scratch),
        ):
            quant_pre_process(str(source), str(target))
    except Exception as exc:
        target.unlink(missing_ok=True)
        return source, f"skipped ({first_line(exc)})"
    return target, None


def _needs_reduce_range() -> bool:
    """True on x86 CPUs without VNNI/AMX, where U8S8 products can saturate (ORT docs)."""
    cpu = probe_cpu()
    return cpu.arch == "x86_64" and not any(f in cpu.features for f in _VNNI)


def _int8_compute_layers(path: Path) -> tuple[int, int]:
    """Count compute layers, and those that compute in INT8: ``(int8, total)``.

    A QDQ layer is INT8 when its weight comes through a DequantizeLinear; dynamic
    quantization replaces layers by integer operators.
    """
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    producers = {out: node.op_type for node in graph.node for out in node.output}
    total = int8 = 0
    for node in graph.node:
        if node.op_type in _INTEGER_OPS:
            total += 1
            int8 += 1
        elif node.op_type in _FLOAT_COMPUTE_OPS:
            total += 1
            int8 += len(node.input) > 1 and producers.get(node.input[1]) == "DequantizeLinear"
    return int8, total
