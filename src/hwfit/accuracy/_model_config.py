"""The preprocessing a model expects, from its own config (timm, torchvision) or its input size."""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from hwfit.accuracy.preprocess import (
    DEFAULT_CROP_PCT,
    IMAGENET_MEAN,
    IMAGENET_STD,
    INTERPOLATIONS,
    SOURCE_DETECTOR,
    SOURCE_INPUT_SIZE,
    SOURCE_TIMM,
    SOURCE_TORCHVISION,
    Preprocess,
    default_stat,
)
from hwfit.errors import InputShapeError
from hwfit.models.detection import detector_spec

if TYPE_CHECKING:
    from torch import nn

    from hwfit.models.artifact import ModelArtifact

__all__ = ["preprocess_for"]


def preprocess_for(model: ModelArtifact, input_shape: Sequence[int] | None = None) -> Preprocess:
    """Return the preprocessing a model expects, from the model's own config when it has one.

    timm models (and factory models that carry timm's ``pretrained_cfg``) use
    ``timm.data.resolve_data_config``; torchvision models use their default weights'
    transforms. A model without such a config (ONNX, OpenVINO IR, a ``module:factory``, a
    torchvision architecture without published weights) gets defaults derived from its input
    size: the shorter side resized to the input size and center-cropped (crop_pct 1.0), so an
    image that already has the input size is used as it is (a 32x32 CIFAR model sees its 32x32
    pixels unchanged), normalised with ImageNet's mean and std. ``source`` says which applied.

    Args:
        model: The loaded model.
        input_shape: ``(N, C, H, W)`` or ``(C, H, W)``; the model's input shape by default.
            The crop goes to this H x W; crop_pct, interpolation and mean/std stay the model's.

    Raises:
        InputShapeError: The input is not an image (C, H, W) with 1 or 3 channels.
    """
    shape = tuple(int(d) for d in (input_shape or model.info.input.shape))
    size = shape[1:] if len(shape) == 4 else shape
    if len(size) != 3:
        raise InputShapeError(
            f"Model {model.info.source!r} takes input {shape!r}; image data needs (N, C, H, W).",
            hint="Give the data as a .npz of preprocessed arrays shaped like the model input.",
        )
    source = model.info.source
    if model.info.kind == "torch" and (source.startswith("timm:") or _is_factory(source)):
        module = model.torch_module()
        if source.startswith("timm:") or isinstance(getattr(module, "pretrained_cfg", None), dict):
            return _from_timm(module, size)
    detector = detector_spec(source)
    if detector is not None:  # its transform: resize to the fixed size, aspect not kept
        return Preprocess.create(
            size,
            crop_pct=1.0,
            interpolation="bilinear",
            mean=detector.mean,
            std=detector.std,
            crop_mode="squash",
            source=SOURCE_DETECTOR,
        )
    if source.startswith("torchvision:"):
        found = _from_torchvision(source.removeprefix("torchvision:"), size)
        if found is not None:
            return found
    return Preprocess.create(size, crop_pct=1.0, source=SOURCE_INPUT_SIZE)


def _from_timm(module: nn.Module, size: tuple[int, ...]) -> Preprocess:
    timm_data: Any = importlib.import_module("timm.data")  # untyped: used through Any
    cfg = timm_data.resolve_data_config({"input_size": tuple(size)}, model=module)
    return Preprocess.create(
        size,
        crop_pct=float(cfg.get("crop_pct") or DEFAULT_CROP_PCT),
        interpolation=_interp_name(cfg.get("interpolation")),
        mean=_per_channel(cfg.get("mean"), IMAGENET_MEAN, size[0]),
        std=_per_channel(cfg.get("std"), IMAGENET_STD, size[0]),
        crop_mode=str(cfg.get("crop_mode") or "center"),
        source=SOURCE_TIMM,
    )


def _from_torchvision(name: str, size: tuple[int, ...]) -> Preprocess | None:
    """Settings of the model's default published weights (read from code, no download)."""
    try:
        import torchvision

        tf = torchvision.models.get_model_weights(name).DEFAULT.transforms()
        crop_pct = int(tf.crop_size[0]) / int(tf.resize_size[0])
        interpolation = _interp_name(getattr(tf.interpolation, "value", tf.interpolation))
        mean, std = tuple(tf.mean), tuple(tf.std)
    except Exception:  # no published weights, or an unusual transform: use the defaults
        return None
    return Preprocess.create(
        size,
        crop_pct=crop_pct,
        interpolation=interpolation,
        mean=_per_channel(mean, IMAGENET_MEAN, size[0]),
        std=_per_channel(std, IMAGENET_STD, size[0]),
        source=SOURCE_TORCHVISION,
    )


def _is_factory(source: str) -> bool:
    return ":" in source and not source.startswith(("timm:", "torchvision:"))


def _interp_name(value: object) -> str:
    name = str(value or "bilinear").lower()
    return name if name in INTERPOLATIONS else "bilinear"  # e.g. timm's "random" (training)


def _per_channel(
    values: Sequence[float] | None, default: tuple[float, ...], channels: int
) -> tuple[float, ...]:
    vals = tuple(float(v) for v in (values if values is not None else default))
    if len(vals) == channels:
        return vals
    if len(vals) == 1:
        return vals * channels
    return default_stat(vals, channels) if channels == 1 else default_stat(default, channels)
