"""Evaluation data: preprocessing, image-folder / ``.npz`` datasets and disjoint subsets.

Preprocessing is plain PIL + numpy (no torchvision), so a deployed predictor can replay it
without PyTorch. It reproduces timm's evaluation transform (resize, center crop, scale,
normalize) to float rounding.
"""

from __future__ import annotations

import dataclasses
import difflib
import logging
import math
import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import numpy.typing as npt

from hwfit.errors import InputShapeError, UserError, first_line

if TYPE_CHECKING:
    from PIL import Image

    from hwfit.models.artifact import ModelArtifact

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "IMAGE_EXTENSIONS",
    "Dataset",
    "Preprocess",
    "check_dataset_path",
    "count_samples",
    "load_dataset",
    "load_image",
    "preprocess_for",
    "skipped_text",
    "split",
]

logger = logging.getLogger(__name__)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
DEFAULT_CROP_PCT = 0.875
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp"})
INTERPOLATIONS = ("bilinear", "bicubic", "nearest", "lanczos", "box", "hamming")
CROP_MODES = ("center", "squash", "border")
OPTION_KEYS = ("crop_mode", "crop_pct", "interpolation", "mean", "resize", "std")
OPTIONS_HELP = (
    "Write overrides as key=value pairs joined by ';', e.g. "
    '"mean=0.5,0.5,0.5;std=0.5,0.5,0.5;crop_pct=1.0". Keys: ' + ", ".join(OPTION_KEYS) + "."
)
_PARALLEL_MIN = 32  # decode in threads from this many images on (PIL releases the GIL)
_SHOWN_SKIPPED = 3  # file names a one-line "skipped" message lists before "... and N more"
_ONE_CLASS_HINT = (
    "Put each class's images in its own sub-folder (at least 2 classes); for optimize, images "
    "directly in the folder (no sub-folders) are unlabelled data, checked against the FP32 "
    "reference instead."
)
#: Where a preprocessing came from (``Preprocess.source``); user overrides are "--preprocess".
SOURCE_TIMM = "timm config"
SOURCE_TORCHVISION = "torchvision weights"
SOURCE_INPUT_SIZE = "the model's input size"
SOURCE_USER = "--preprocess"

_T = TypeVar("_T")
_R = TypeVar("_R")


@dataclasses.dataclass(frozen=True)
class Preprocess:
    """How an image becomes a model input; JSON-friendly so a manifest can record it.

    The steps match timm's evaluation transform: convert to RGB (``L`` for one channel),
    resize, crop to ``input_size``, scale to [0, 1], subtract ``mean``, divide by ``std``.

    * ``center``: the shorter side goes to ``resize`` (aspect kept), then a center crop.
    * ``squash``: both sides go to ``resize`` (aspect not kept), then a center crop.
    * ``border``: the longer side goes to ``resize`` (aspect kept), then padding with the mean
      color up to the input size.

    For a non-square input, ``resize`` is the target of the height and the width target is in
    proportion (``round(resize * W / H)``).

    Build one with :meth:`create` (which derives ``resize`` from ``crop_pct``), from a model with
    :func:`preprocess_for`, or from a manifest with :meth:`from_dict`.

    Attributes:
        input_size: ``(C, H, W)`` of one model input; C is 3 (RGB) or 1 (grayscale).
        resize: Edge length the image is scaled to before the crop, ``floor(H / crop_pct)``.
        crop_pct: Fraction of the resized image kept by the crop (``H / resize``).
        interpolation: PIL resampling filter: bilinear, bicubic, nearest, lanczos, box, hamming.
        mean: Per-channel mean subtracted after scaling to [0, 1].
        std: Per-channel standard deviation divided by after subtracting the mean.
        crop_mode: ``center``, ``squash`` or ``border`` (see above).
        source: Where the settings came from: ``timm config``, ``torchvision weights``,
            ``the model's input size`` (the model carries no config), with ``--preprocess``
            when the user overrode some (empty when unknown). Not part of the transform.

    Example:
        >>> p = Preprocess.create((3, 224, 224))
        >>> p.resize, p.interpolation
        (256, 'bilinear')
        >>> p.with_options("mean=0.5,0.5,0.5;std=0.5,0.5,0.5;crop_pct=1.0").resize
        224
    """

    input_size: tuple[int, int, int]
    resize: int
    crop_pct: float
    interpolation: str = "bilinear"
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    crop_mode: str = "center"
    source: str = dataclasses.field(default="", compare=False)

    def __post_init__(self) -> None:
        size = tuple(self.input_size)
        if len(size) != 3 or any(int(d) <= 0 for d in size):
            raise InputShapeError(
                f"Preprocessing needs an input size (C, H, W) of positive ints, got {size!r}.",
                hint="Image models take inputs shaped like 1x3x224x224 (batch first).",
            )
        channels, height, _ = (int(d) for d in size)
        if channels not in (1, 3):
            raise InputShapeError(
                f"Images make 1- or 3-channel inputs; this model takes {channels} channels.",
                hint="Give the data as a .npz of preprocessed float arrays (N, C, H, W) instead.",
            )
        for name in ("mean", "std"):
            values = getattr(self, name)
            if len(values) != channels or not all(math.isfinite(v) for v in values):
                raise UserError(
                    f"Preprocessing {name} {values!r} needs {channels} finite numbers "
                    f"(one per input channel).",
                    hint=OPTIONS_HELP,
                )
        if any(s <= 0 for s in self.std):
            raise UserError(f"Preprocessing std {self.std!r} must be positive.", hint=OPTIONS_HELP)
        if not (0.0 < self.crop_pct <= 4.0) or not math.isfinite(self.crop_pct):
            raise UserError(
                f"crop_pct {self.crop_pct!r} is out of range (0, 4].",
                hint="1.0 keeps the whole resized image; timm models use 0.875 to 1.0.",
            )
        if self.resize <= 0:
            raise UserError(f"resize {self.resize!r} must be a positive edge length.")
        _check_choice("interpolation", self.interpolation, INTERPOLATIONS)
        _check_choice("crop_mode", self.crop_mode, CROP_MODES)
        # Normalise the containers (a list from JSON, numpy floats from a config) in place.
        object.__setattr__(self, "input_size", (channels, height, int(size[2])))
        object.__setattr__(self, "mean", tuple(float(v) for v in self.mean))
        object.__setattr__(self, "std", tuple(float(v) for v in self.std))
        object.__setattr__(self, "crop_pct", float(self.crop_pct))
        object.__setattr__(self, "resize", int(self.resize))
        object.__setattr__(self, "source", str(self.source))

    @classmethod
    def create(
        cls,
        input_size: Sequence[int],
        *,
        crop_pct: float = DEFAULT_CROP_PCT,
        resize: int | None = None,
        interpolation: str = "bilinear",
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        crop_mode: str = "center",
        source: str = "",
    ) -> Preprocess:
        """Build a preprocessing, deriving ``resize`` from ``crop_pct`` (or the reverse).

        Args:
            input_size: ``(C, H, W)``, or a batch-first ``(N, C, H, W)`` model input shape.
            crop_pct: Fraction kept by the center crop; ignored when ``resize`` is given.
            resize: Edge length before the crop; sets ``crop_pct = H / resize``.
            interpolation: PIL resampling filter name.
            mean: Per-channel mean; ImageNet's by default (their average for one channel).
            std: Per-channel std; ImageNet's by default (their average for one channel).
            crop_mode: ``center``, ``squash`` or ``border``.
            source: Where the settings came from (see the class docstring).

        Raises:
            UserError: A value out of range; InputShapeError for a shape images cannot make.
        """
        size = tuple(int(d) for d in input_size)
        if len(size) == 4:
            size = size[1:]
        if len(size) != 3:
            raise InputShapeError(
                f"Image preprocessing needs a (C, H, W) input, got {size!r}.",
                hint="Image models take inputs shaped like 1x3x224x224 (batch first).",
            )
        channels, height = size[0], size[1]
        if resize is None:
            if not (0.0 < crop_pct <= 4.0):
                raise UserError(f"crop_pct {crop_pct!r} is out of range (0, 4].")
            resize = math.floor(height / crop_pct)
        else:
            crop_pct = height / resize if resize > 0 else 0.0
        return cls(
            input_size=(channels, height, size[2]),
            resize=resize,
            crop_pct=crop_pct,
            interpolation=interpolation,
            mean=tuple(mean) if mean is not None else _default_stat(IMAGENET_MEAN, channels),
            std=tuple(std) if std is not None else _default_stat(IMAGENET_STD, channels),
            crop_mode=crop_mode,
            source=source,
        )

    @classmethod
    def parse(cls, text: str, *, base: Preprocess) -> Preprocess:
        """Apply the user's overrides (``key=value;key=value``) to ``base``.

        The same as ``base.with_options(text)``; see :meth:`with_options` for the keys.

        Raises:
            UserError: Unknown key (with suggestions), malformed or out-of-range value.
        """
        return base.with_options(text)

    def with_options(self, text: str) -> Preprocess:
        """Return a copy with the user's overrides, written ``key=value;key=value``.

        Keys: ``mean`` and ``std`` (comma-separated, one number per channel, or one number for
        all), ``crop_pct`` (float; ``resize`` follows), ``resize`` (int; ``crop_pct`` follows),
        ``interpolation`` and ``crop_mode``. Giving both ``crop_pct`` and ``resize`` is an error
        unless they agree. An empty text changes nothing; otherwise ``source`` says that the
        user's ``--preprocess`` overrode the settings of the former source.

        Raises:
            UserError: Unknown key (with suggestions), malformed or out-of-range value.

        Example:
            >>> p = Preprocess.create((3, 160, 160), crop_pct=0.95)
            >>> q = p.with_options("mean=0.5; std=0.5; resize=200; interpolation=bicubic")
            >>> q.mean, q.resize, q.crop_pct, q.interpolation
            ((0.5, 0.5, 0.5), 200, 0.8, 'bicubic')
        """
        values: dict[str, str] = {}
        for item in text.replace("\n", ";").split(";"):
            if not item.strip():
                continue
            key, sep, value = item.partition("=")
            key = key.strip().lower().replace("-", "_")
            if not sep or not value.strip():
                raise UserError(
                    f"Cannot read preprocessing option {item.strip()!r}.", hint=OPTIONS_HELP
                )
            if key not in OPTION_KEYS:
                close = difflib.get_close_matches(key, OPTION_KEYS, n=1)
                maybe = f" Did you mean {close[0]!r}?" if close else ""
                raise UserError(f"Unknown preprocessing option {key!r}.{maybe}", hint=OPTIONS_HELP)
            if key in values:
                raise UserError(f"Preprocessing option {key!r} is given twice.", hint=OPTIONS_HELP)
            values[key] = value.strip()
        if not values:
            return self
        channels, height, _ = self.input_size
        changes: dict[str, Any] = {}
        for key in ("mean", "std"):
            if key in values:
                numbers = _floats(key, values[key])
                changes[key] = numbers * channels if len(numbers) == 1 else numbers
        if "interpolation" in values:
            changes["interpolation"] = values["interpolation"].lower()
        if "crop_mode" in values:
            changes["crop_mode"] = values["crop_mode"].lower()
        crop_pct = _floats("crop_pct", values["crop_pct"])[0] if "crop_pct" in values else None
        resize = _int("resize", values["resize"]) if "resize" in values else None
        if crop_pct is not None and not (0.0 < crop_pct <= 4.0):
            raise UserError(f"crop_pct {crop_pct!r} is out of range (0, 4].", hint=OPTIONS_HELP)
        if resize is not None and crop_pct is not None:
            if math.floor(height / crop_pct) != resize:
                raise UserError(
                    f"crop_pct={crop_pct} and resize={resize} disagree for height {height} "
                    f"(crop_pct gives resize={math.floor(height / crop_pct)}).",
                    hint="Give only one of crop_pct and resize.",
                )
            changes.update(resize=resize, crop_pct=crop_pct)
        elif resize is not None:
            changes.update(resize=resize, crop_pct=height / resize)
        elif crop_pct is not None:
            changes.update(resize=math.floor(height / crop_pct), crop_pct=crop_pct)
        changes["source"] = f"{SOURCE_USER} over {self.source}" if self.source else SOURCE_USER
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Return the settings as JSON-friendly values (lists, floats, strings).

        Example:
            >>> Preprocess.create((3, 32, 32), crop_pct=1.0)  # doctest: +ELLIPSIS
            Preprocess(input_size=(3, 32, 32), resize=32, crop_pct=1.0, ...)
            >>> d = Preprocess.create((3, 32, 32)).to_dict()
            >>> d["input_size"], d["resize"]
            ([3, 32, 32], 36)
        """
        return {
            "input_size": list(self.input_size),
            "resize": self.resize,
            "crop_pct": self.crop_pct,
            "interpolation": self.interpolation,
            "mean": list(self.mean),
            "std": list(self.std),
            "crop_mode": self.crop_mode,
            "source": self.source,
        }

    def describe(self) -> str:
        """Say in one line what the preprocessing does and where it came from.

        Example:
            >>> p = Preprocess.create((3, 32, 32), crop_pct=1.0, source=SOURCE_INPUT_SIZE)
            >>> print(p.describe())  # doctest: +NORMALIZE_WHITESPACE
            resize 32 (shorter side, bilinear; none for 32x32 images), center crop 32,
            mean (0.485, 0.456, 0.406), std (0.229, 0.224, 0.225) (ImageNet defaults)
            - from the model's input size
            >>> p = Preprocess.create((1, 224, 160), mean=(0.5,), std=(0.5,), crop_mode="border")
            >>> p.describe()
            'resize 256 (longer side, bilinear), pad to 224x160, mean (0.5), std (0.5)'
        """
        channels, height, width = self.input_size
        crop = f"{height}" if height == width else f"{height}x{width}"
        if self.crop_mode == "squash":
            wide = self.resize if height == width else max(1, round(self.resize * width / height))
            steps = (
                f"resize {self.resize}x{wide} (squash, {self.interpolation}), center crop {crop}"
            )
        elif self.crop_mode == "border":
            steps = f"resize {self.resize} (longer side, {self.interpolation}), pad to {crop}"
        else:
            untouched = f"; none for {height}x{width} images" if self.resize == height else ""
            steps = (
                f"resize {self.resize} (shorter side, {self.interpolation}{untouched}), "
                f"center crop {crop}"
            )
        imagenet = self.mean == _default_stat(IMAGENET_MEAN, channels) and (
            self.std == _default_stat(IMAGENET_STD, channels)
        )
        text = f"{steps}, mean {_numbers(self.mean)}, std {_numbers(self.std)}"
        if imagenet:  # the model's own config may name ImageNet's too: not a default then
            derived = self.source in ("", SOURCE_INPUT_SIZE)
            text += " (ImageNet defaults)" if derived else " (ImageNet's)"
        return f"{text} - from {self.source}" if self.source else text

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Preprocess:
        """Rebuild a preprocessing from :meth:`to_dict` output (e.g. read from a manifest).

        Raises:
            UserError: A missing or unknown key, or a value of the wrong kind.
        """
        fields = [f.name for f in dataclasses.fields(cls)]
        required = [f.name for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING]
        missing = [k for k in required if k not in data]
        unknown = sorted(set(data) - set(fields))
        if missing or unknown:
            raise UserError(
                f"Cannot read preprocessing settings: missing {missing or 'nothing'}, "
                f"unknown {unknown or 'nothing'}.",
                hint="The record was written by another hwfit version or edited by hand.",
            )
        try:
            return cls(
                input_size=tuple(int(v) for v in data["input_size"]),  # type: ignore[arg-type]
                resize=int(data["resize"]),
                crop_pct=float(data["crop_pct"]),
                interpolation=str(data.get("interpolation", "bilinear")),
                mean=tuple(float(v) for v in data.get("mean", IMAGENET_MEAN)),
                std=tuple(float(v) for v in data.get("std", IMAGENET_STD)),
                crop_mode=str(data.get("crop_mode", "center")),
                source=str(data.get("source", "")),
            )
        except (TypeError, ValueError) as exc:
            raise UserError(
                f"Cannot read preprocessing settings {dict(data)!r}: {exc}",
                hint="The record was written by another hwfit version or edited by hand.",
            ) from exc

    def apply(self, image: Image.Image) -> npt.NDArray[np.float32]:
        """Turn one PIL image into a model input ``(C, H, W)`` float32 array.

        Args:
            image: Any PIL image; it is converted to RGB (or ``L`` for one channel).

        Returns:
            The preprocessed, normalized array, C-contiguous.
        """
        from PIL import Image as PILImage

        channels, height, width = self.input_size
        mode = "RGB" if channels == 3 else "L"
        img = image if image.mode == mode else image.convert(mode)
        new_h, new_w = self._resized_size(img.height, img.width)
        if (new_h, new_w) != (img.height, img.width):
            resample = PILImage.Resampling[self.interpolation.upper()]
            img = img.resize((new_w, new_h), resample)
        pixels = np.asarray(img, dtype=np.uint8)
        if pixels.ndim == 2:
            pixels = pixels[:, :, None]
        fill = [round(255 * v) for v in self.mean] if self.crop_mode == "border" else [0]
        pixels = _center_crop_or_pad(pixels, height, width, fill)
        out = pixels.astype(np.float32) / np.float32(255.0)
        out -= np.asarray(self.mean, dtype=np.float32)
        out /= np.asarray(self.std, dtype=np.float32)
        return np.ascontiguousarray(out.transpose(2, 0, 1))

    def _resized_size(self, img_h: int, img_w: int) -> tuple[int, int]:
        """Size (h, w) of the image before the crop, as timm's eval transform computes it."""
        _, height, width = self.input_size
        scale_h = self.resize
        scale_w = self.resize if height == width else max(1, round(self.resize * width / height))
        if self.crop_mode == "squash":
            return scale_h, scale_w
        if self.crop_mode == "center" and scale_h == scale_w:
            # torchvision Resize(int): the shorter side to `resize`, the longer truncated
            if img_w <= img_h:
                return int(scale_h * img_h / img_w), scale_h
            return scale_h, int(scale_h * img_w / img_h)
        # timm ResizeKeepRatio: shortest edge (center) or longest edge (border) to its target
        ratio_h, ratio_w = img_h / scale_h, img_w / scale_w
        ratio = max(ratio_h, ratio_w) if self.crop_mode == "border" else min(ratio_h, ratio_w)
        return round(img_h / ratio), round(img_w / ratio)


@dataclasses.dataclass(frozen=True, eq=False)
class Dataset:
    """Preprocessed evaluation samples held in memory.

    Attributes:
        x: Model inputs ``(N, C, H, W)`` float32 (about 600 KB per 3x224x224 image).
        y: Class indices ``(N,)`` int64, or None for unlabelled data.
        classes: Class names by index (image-folder names), or ``()`` when unknown.
        source: Where the data came from (the path given).
        skipped: Image files of the source that could not be decoded and were left out
            (paths relative to the folder, in folder order); subsets keep the list.
    """

    x: npt.NDArray[np.float32]
    y: npt.NDArray[np.int64] | None
    classes: tuple[str, ...] = ()
    source: str = ""
    skipped: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.x.ndim != 4 or self.x.dtype != np.float32:
            raise InputShapeError(
                f"Dataset inputs must be (N, C, H, W) float32, got {self.x.shape} {self.x.dtype}."
            )
        if self.y is not None and self.y.shape != (len(self.x),):
            raise UserError(
                f"Dataset {self.source!r} has {len(self.x)} inputs but labels shaped "
                f"{self.y.shape}.",
                hint="Give one integer label per input.",
            )

    def __len__(self) -> int:
        return len(self.x)

    def __repr__(self) -> str:
        labels = "unlabelled" if self.y is None else f"{len(self.classes) or '?'} classes"
        skipped = f", {len(self.skipped)} skipped" if self.skipped else ""
        return (
            f"Dataset({len(self)} x {self.x.shape[1:]}, {labels}{skipped}, source={self.source!r})"
        )

    @property
    def labelled(self) -> bool:
        """True when the samples carry labels."""
        return self.y is not None

    def subset(self, indices: Sequence[int] | npt.NDArray[np.integer[Any]]) -> Dataset:
        """Return the samples at ``indices`` (in that order) as a new dataset."""
        idx = np.asarray(indices, dtype=np.int64)
        y = None if self.y is None else self.y[idx]
        return Dataset(
            x=self.x[idx], y=y, classes=self.classes, source=self.source, skipped=self.skipped
        )


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
    if source.startswith("torchvision:"):
        found = _from_torchvision(source.removeprefix("torchvision:"), size)
        if found is not None:
            return found
    return Preprocess.create(size, crop_pct=1.0, source=SOURCE_INPUT_SIZE)


def load_dataset(
    path: str | os.PathLike[str],
    preprocess: Preprocess,
    *,
    limit: int | None = None,
    seed: int = 0,
    strict: bool = False,
) -> Dataset:
    """Load an image folder or a ``.npz`` file as preprocessed model inputs.

    * A folder with one sub-folder per class: sorted folder names are the class indices (as
      torchvision's ``ImageFolder``); images are found recursively in each class folder.
    * A flat folder of images: unlabelled (``y`` is None).
    * A ``.npz`` with ``x`` and optionally ``y`` (and ``classes``): float ``x`` is taken as
      already preprocessed and must be ``(N, C, H, W)`` equal to the model input; uint8 ``x``
      (``N, H, W, C`` or ``N, C, H, W``) is raw images and is preprocessed like image files.

    Image files are .jpg, .jpeg, .png, .bmp or .webp (any case). A file PIL cannot decode (corrupt,
    truncated, not an image) is left out and named in ``Dataset.skipped``; with ``strict`` it is
    an error instead. Labelled data needs at least two classes (accuracy on one class says
    nothing); a flat folder, or a ``.npz`` without ``y``, is unlabelled. The whole result lives
    in memory; use ``limit`` for big sets.

    Args:
        path: The folder or ``.npz`` file.
        preprocess: How to turn images into inputs (see :func:`preprocess_for`).
        limit: Keep only this many samples: a seeded random subset, in proportion to the class
            sizes when labelled. Only the chosen images are read; an unreadable one is
            replaced by the next of the same seeded order, so ``limit`` samples are kept while
            the folder has them.
        seed: Seed of that subset.
        strict: Fail on the first unreadable image instead of skipping it.

    Returns:
        The dataset, samples in folder (or file) order.

    Raises:
        UserError: Missing path, no (readable) images, empty class folders, fewer than two
            classes, an unreadable image with ``strict`` (named), a ``.npz`` without ``x`` or
            with labels of the wrong length.
        InputShapeError: Preprocessed ``.npz`` inputs that do not match the model input.
    """
    if limit is not None and limit <= 0:
        raise UserError(f"limit must be a positive number of samples, got {limit}.")
    where = check_dataset_path(path)
    if where.is_dir():
        return _load_folder(where, preprocess, limit, seed, strict)
    return _load_npz(where, preprocess, limit, seed)


def load_image(path: str | os.PathLike[str]) -> Image.Image:
    """Decode one image file with PIL (read fully, file closed) for :meth:`Preprocess.apply`.

    Raises:
        UserError: The file is missing, corrupt or not an image (the message names it).
    """
    from PIL import Image as PILImage

    try:
        with PILImage.open(path) as img:
            img.load()
            return img
    except Exception as exc:
        raise UserError(
            f"Cannot read image {str(path)!r}: {first_line(exc, 300)}",
            hint="The file is corrupt or not an image; remove or replace it.",
        ) from exc


def count_samples(path: str | os.PathLike[str]) -> int:
    """Return how many samples :func:`load_dataset` would find, without decoding any.

    Raises:
        UserError: The same problems :func:`load_dataset` reports about the path and layout.
    """
    where = check_dataset_path(path)
    if where.is_dir():
        return len(_scan_folder(where)[0])
    shape = _npz_shape(where, "x")
    if shape is None:
        raise UserError(
            f"{str(where)!r} has no array 'x'.",
            hint="Write it with numpy.savez(path, x=inputs, y=labels).",
        )
    return int(shape[0]) if shape else 0


def split(
    dataset: Dataset, calib_size: int, val_size: int, seed: int = 0
) -> tuple[Dataset, Dataset]:
    """Draw disjoint calibration and validation subsets (seeded, class-proportional).

    Args:
        dataset: The samples to draw from.
        calib_size: Samples for calibration (may be 0).
        val_size: Samples for validation (may be 0).
        seed: Seed of the draw; the same seed gives the same subsets.

    Returns:
        ``(calibration, validation)``, each in dataset order, sharing no sample.

    Raises:
        UserError: A negative size, or more samples asked for than the dataset holds.

    Example:
        >>> ds = Dataset(x=np.zeros((10, 1, 2, 2), np.float32), y=np.arange(10) % 2)
        >>> calib, val = split(ds, 4, 6)
        >>> len(calib), len(val), sorted(np.bincount(calib.y).tolist())
        (4, 6, [2, 2])
    """
    if calib_size < 0 or val_size < 0:
        raise UserError(f"Subset sizes must not be negative, got {calib_size} and {val_size}.")
    n = len(dataset)
    if calib_size + val_size > n:
        raise UserError(
            f"Cannot draw {calib_size} calibration + {val_size} validation samples from "
            f"dataset {dataset.source!r}: it holds {n}.",
            hint=f"Ask for at most {n} samples in all, or give a bigger dataset.",
        )
    order = _sample_order(n, dataset.y, seed)
    calib = np.sort(order[:calib_size])
    val = np.sort(order[calib_size : calib_size + val_size])
    return dataset.subset(calib), dataset.subset(val)


# --- loading -------------------------------------------------------------------------------


def check_dataset_path(path: str | os.PathLike[str]) -> Path:
    """Return the dataset path when it is an existing folder or ``.npz`` file.

    Commands call it before anything slow (loading the model), so a mistyped path fails at once.

    Raises:
        UserError: The path is missing, or neither a folder nor a ``.npz`` file.
    """
    where = Path(path)
    if not where.exists():
        raise UserError(
            f"Dataset {str(where)!r} not found.",
            hint="Give a folder of images (one sub-folder per class) or a .npz file.",
        )
    if not where.is_dir() and where.suffix.lower() != ".npz":
        raise UserError(
            f"Dataset {str(where)!r} is neither a folder nor a .npz file.",
            hint="Give a folder of images (one sub-folder per class) or a .npz with x (and y).",
        )
    return where


def _npz_shape(file: Path, key: str) -> tuple[int, ...] | None:
    """Shape of array ``key`` in a .npz, read from its header only (None: no such array)."""
    import zipfile

    try:
        with zipfile.ZipFile(file) as zf:
            if f"{key}.npy" not in zf.namelist():
                return None
            with zf.open(f"{key}.npy") as fh:
                version = np.lib.format.read_magic(fh)
                if version == (1, 0):
                    shape, _, _ = np.lib.format.read_array_header_1_0(fh)
                else:
                    shape, _, _ = np.lib.format.read_array_header_2_0(fh)
    except Exception as exc:
        raise UserError(
            f"Cannot read {str(file)!r} as a .npz file: {first_line(exc, 300)}",
            hint="Write it with numpy.savez(path, x=inputs, y=labels).",
        ) from exc
    return tuple(int(d) for d in shape)


def _scan_folder(
    folder: Path,
) -> tuple[list[Path], npt.NDArray[np.int64] | None, tuple[str, ...]]:
    """List a dataset folder's images (sorted), their labels and the class names."""
    subdirs = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    per_class = {d.name: _image_files(d, recursive=True) for d in subdirs}
    if any(per_class.values()):
        empty = [name for name, files in per_class.items() if not files]
        if empty:
            shown = ", ".join(repr(n) for n in empty[:5]) + (" ..." if len(empty) > 5 else "")
            raise UserError(
                f"Class folder(s) {shown} in {str(folder)!r} hold no images.",
                hint="Each sub-folder is one class and needs at least one .jpg/.jpeg/.png/.bmp/"
                ".webp image; remove the empty ones (that renumbers the classes).",
            )
        if len(per_class) < 2:
            raise UserError(
                f"Dataset folder {str(folder)!r} has one class ({next(iter(per_class))!r}); "
                "accuracy needs labelled images of at least 2 classes.",
                hint=_ONE_CLASS_HINT,
            )
        files = [f for files in per_class.values() for f in files]
        labels = np.concatenate(
            [np.full(len(fs), i, dtype=np.int64) for i, fs in enumerate(per_class.values())]
        )
        return files, labels, tuple(per_class)
    files = _image_files(folder, recursive=False)
    if not files:
        inside = (
            f"its sub-folders {', '.join(repr(d.name) for d in subdirs[:5])} hold no images"
            if subdirs
            else "it holds no images"
        )
        raise UserError(
            f"Dataset folder {str(folder)!r} has no images: {inside}.",
            hint="Use one sub-folder per class of .jpg/.jpeg/.png/.bmp/.webp images, or a "
            "flat folder of images for unlabelled data.",
        )
    return files, None, ()


def _load_folder(
    folder: Path, preprocess: Preprocess, limit: int | None, seed: int, strict: bool
) -> Dataset:
    files, y, classes = _scan_folder(folder)
    n = len(files)
    want = n if limit is None else min(limit, n)
    order = np.arange(n, dtype=np.int64) if want == n else _sample_order(n, y, seed)

    def decode(i: int) -> npt.NDArray[np.float32] | str:
        """Sample ``i`` as a model input, or why it cannot be read."""
        try:
            return preprocess.apply(load_image(files[i]))
        except Exception as exc:  # any undecodable file is skipped (or, strict, reported)
            cause = exc.__cause__ if isinstance(exc, UserError) and exc.__cause__ else exc
            return first_line(cause, 300)

    kept: dict[int, npt.NDArray[np.float32]] = {}
    bad: dict[int, str] = {}
    start = 0
    while len(kept) < want and start < n:  # draw replacements for skipped images
        chunk = order[start : start + want - len(kept)].tolist()
        start += len(chunk)
        for i, out in zip(chunk, _map(decode, chunk), strict=True):
            if isinstance(out, str):
                bad[i] = out
            else:
                kept[i] = out
        if strict and bad:
            first = min(bad)
            raise UserError(
                f"Cannot read image {str(files[first])!r}: {bad[first]}",
                hint="The file is corrupt or not an image: remove or replace it, or leave out "
                "--strict-data to skip unreadable images.",
            )
    skipped = tuple(files[i].relative_to(folder).as_posix() for i in sorted(bad))
    for i in sorted(bad):
        logger.debug("Skipped unreadable image %s: %s", files[i], bad[i])
    if not kept:
        raise UserError(
            f"Dataset folder {str(folder)!r} has no images: "
            f"{'its image file is' if n == 1 else f'all {n} image files are'} unreadable "
            f"({_names(skipped)}).",
            hint=f"The files are corrupt or not images (first: {bad[min(bad)]}); replace them, "
            "or check that this is the data folder you meant.",
        )
    index = np.asarray(sorted(kept), dtype=np.int64)
    labels = None if y is None else y[index]
    if labels is not None and skipped and len(index) > 1 and len(np.unique(labels)) < 2:
        raise UserError(
            f"Dataset folder {str(folder)!r} has readable images of one class only "
            f"({classes[int(labels[0])]!r}) after skipping {skipped_text(skipped)}.",
            hint=_ONE_CLASS_HINT,
        )
    return Dataset(
        x=_stack([kept[int(i)] for i in index], preprocess),
        y=labels,
        classes=classes,
        source=str(folder),
        skipped=skipped,
    )


def _load_npz(file: Path, preprocess: Preprocess, limit: int | None, seed: int) -> Dataset:
    try:
        with np.load(file, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except Exception as exc:
        raise UserError(
            f"Cannot read {str(file)!r} as a .npz file: {first_line(exc, 300)}",
            hint="Write it with numpy.savez(path, x=inputs, y=labels).",
        ) from exc
    if "x" not in arrays:
        raise UserError(
            f"{str(file)!r} has no array 'x' (it holds: {', '.join(sorted(arrays)) or 'none'}).",
            hint="Write it with numpy.savez(path, x=inputs, y=labels): x the images or inputs, "
            "y the integer labels (optional).",
        )
    x = arrays["x"]
    if x.ndim != 4 or len(x) == 0:
        raise InputShapeError(
            f"'x' in {str(file)!r} is shaped {x.shape}; it must hold N > 0 images (4 dimensions).",
            hint="Use (N, C, H, W) float inputs, or (N, H, W, C) uint8 images.",
        )
    y = _npz_labels(file, arrays.get("y"), len(x))
    classes = tuple(str(c) for c in arrays["classes"].ravel()) if "classes" in arrays else ()
    chosen = _choose(len(x), y, limit, seed)
    every, y = y, None if y is None else y[chosen]
    if x.dtype == np.uint8:
        images = _raw_images(file, x, preprocess)
        _check_classes(file, every)
        out = _map(lambda i: preprocess.apply(images(i)), chosen.tolist())
        return Dataset(x=_stack(out, preprocess), y=y, classes=classes, source=str(file))
    if not np.issubdtype(x.dtype, np.floating):
        raise UserError(
            f"'x' in {str(file)!r} is {x.dtype}; hwfit reads uint8 images or float inputs.",
            hint="Save raw images as uint8 or preprocessed inputs as float32.",
        )
    want = preprocess.input_size
    if tuple(x.shape[1:]) != want:
        hwc = tuple(x.shape[1:]) == (want[1], want[2], want[0])
        raise InputShapeError(
            f"Inputs in {str(file)!r} are {_fmt(x.shape[1:])} per sample, but the model takes "
            f"{_fmt(want)}.",
            hint=(
                "They look channels-last: save x.transpose(0, 3, 1, 2)."
                if hwc
                else "Float x is used as is (already preprocessed): save it at the model's input "
                f"size {_fmt(want)}, or save raw uint8 images (N, H, W, C) to have hwfit "
                "preprocess them."
            ),
        )
    _check_classes(file, every)
    return Dataset(
        x=np.ascontiguousarray(x[chosen], dtype=np.float32), y=y, classes=classes, source=str(file)
    )


def _check_classes(file: Path, y: npt.NDArray[np.int64] | None) -> None:
    """Refuse labelled samples of fewer than two classes (top-1 on one class says nothing)."""
    if y is not None and len(y) > 1 and len(np.unique(y)) < 2:
        raise UserError(
            f"Labels 'y' in {str(file)!r} hold one class ({int(y[0])}); accuracy needs labelled "
            "samples of at least 2 classes.",
            hint="Give labels of 2 or more classes, or save x without y to use it unlabelled "
            "(optimize then measures fidelity to the FP32 reference).",
        )


def _npz_labels(file: Path, y: npt.NDArray[Any] | None, n: int) -> npt.NDArray[np.int64] | None:
    if y is None:
        return None
    if y.size != n or (y.ndim > 1 and y.shape[0] != n):
        raise UserError(
            f"{str(file)!r} has {n} samples in 'x' but {y.size} labels in 'y' (shape {y.shape}).",
            hint="Give exactly one integer class index per sample in y.",
        )
    y = y.reshape(n)
    if np.issubdtype(y.dtype, np.integer) or y.dtype == np.bool_:
        return y.astype(np.int64)
    if np.issubdtype(y.dtype, np.floating) and np.all(np.isfinite(y)) and np.all(y == np.round(y)):
        return y.astype(np.int64)
    raise UserError(
        f"Labels 'y' in {str(file)!r} are {y.dtype}, not integer class indices.",
        hint="Save y as integers (one class index per sample), not one-hot or names.",
    )


def _raw_images(
    file: Path, x: npt.NDArray[np.uint8], preprocess: Preprocess
) -> Callable[[int], Image.Image]:
    """Return a function giving sample i of raw uint8 images as a PIL image."""
    from PIL import Image as PILImage

    if x.shape[3] in (1, 3, 4):
        hwc = x
    elif x.shape[1] in (1, 3, 4):
        hwc = x.transpose(0, 2, 3, 1)
    else:
        raise InputShapeError(
            f"uint8 images in {str(file)!r} are shaped {x.shape}; neither (N, H, W, C) nor "
            "(N, C, H, W) with 1, 3 or 4 channels.",
            hint="Save raw images as uint8 (N, H, W, 3).",
        )

    def image(i: int) -> Image.Image:
        arr = np.ascontiguousarray(hwc[i])
        return PILImage.fromarray(arr[:, :, 0] if arr.shape[2] == 1 else arr)

    return image


def _image_files(folder: Path, *, recursive: bool) -> list[Path]:
    if not recursive:
        return sorted(
            p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()
        )
    found: list[Path] = []
    for root, dirs, names in os.walk(folder, followlinks=True):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        found.extend(
            Path(root, n)
            for n in names
            if Path(n).suffix.lower() in IMAGE_EXTENSIONS and not n.startswith(".")
        )
    return sorted(found)


def _stack(
    arrays: Sequence[npt.NDArray[np.float32]], preprocess: Preprocess
) -> npt.NDArray[np.float32]:
    if not arrays:
        return np.zeros((0, *preprocess.input_size), dtype=np.float32)
    return np.stack(arrays).astype(np.float32, copy=False)


def _map(fn: Callable[[_T], _R], items: Sequence[_T]) -> list[_R]:
    """Apply ``fn`` to each item, in threads for many items; order kept, errors re-raised."""
    if len(items) < _PARALLEL_MIN:
        return [fn(i) for i in items]
    workers = min(8, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(fn, items))


# --- sampling ------------------------------------------------------------------------------


def _choose(
    n: int, y: npt.NDArray[np.int64] | None, limit: int | None, seed: int
) -> npt.NDArray[np.int64]:
    """Indices of the samples to keep, sorted: all, or a seeded class-proportional subset."""
    if limit is None or limit >= n:
        return np.arange(n, dtype=np.int64)
    return np.sort(_sample_order(n, y, seed)[:limit])


def _sample_order(n: int, y: npt.NDArray[np.int64] | None, seed: int) -> npt.NDArray[np.int64]:
    """A seeded order of ``range(n)`` whose every prefix holds each class in proportion."""
    rng = np.random.default_rng(seed)
    perm = rng.permutation(n).astype(np.int64)
    if y is None or n == 0:
        return perm
    _, inverse, counts = np.unique(y[perm], return_inverse=True, return_counts=True)
    inverse = inverse.reshape(-1)
    by_class = np.argsort(inverse, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.empty(n, dtype=np.float64)
    rank[by_class] = np.arange(n) - np.repeat(starts, counts)
    key = (rank + rng.random(n)) / counts[inverse]
    return perm[np.argsort(key, kind="stable")]


# --- model configs -------------------------------------------------------------------------


def _from_timm(module: Any, size: tuple[int, ...]) -> Preprocess:
    import importlib

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
    return _default_stat(vals, channels) if channels == 1 else _default_stat(default, channels)


def _default_stat(values: tuple[float, ...], channels: int) -> tuple[float, ...]:
    if channels == len(values):
        return values
    return (round(sum(values) / len(values), 6),) * channels


# --- small helpers -------------------------------------------------------------------------


def _center_crop_or_pad(
    pixels: npt.NDArray[np.uint8], height: int, width: int, fill: Sequence[int]
) -> npt.NDArray[np.uint8]:
    """Crop the center as torchvision's center_crop does, padding with ``fill`` when too small."""
    img_h, img_w = pixels.shape[:2]
    if height > img_h or width > img_w:
        top = (height - img_h) // 2 if height > img_h else 0
        bottom = (height - img_h + 1) // 2 if height > img_h else 0
        left = (width - img_w) // 2 if width > img_w else 0
        right = (width - img_w + 1) // 2 if width > img_w else 0
        padded = np.empty((img_h + top + bottom, img_w + left + right, pixels.shape[2]), np.uint8)
        padded[...] = np.asarray(fill, dtype=np.uint8)[: pixels.shape[2]]
        padded[top : top + img_h, left : left + img_w] = pixels
        pixels = padded
        img_h, img_w = pixels.shape[:2]
    crop_top = round((img_h - height) / 2.0)
    crop_left = round((img_w - width) / 2.0)
    return pixels[crop_top : crop_top + height, crop_left : crop_left + width]


def _check_choice(name: str, value: str, choices: Sequence[str]) -> None:
    if value not in choices:
        close = difflib.get_close_matches(str(value), choices, n=1)
        maybe = f" Did you mean {close[0]!r}?" if close else ""
        raise UserError(
            f"Unknown {name} {value!r}.{maybe}", hint=f"Choose one of: {', '.join(choices)}."
        )


def _floats(key: str, text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if not values or not all(math.isfinite(v) for v in values):
        raise UserError(f"Cannot read {key}={text!r} as numbers.", hint=OPTIONS_HELP)
    return values


def _int(key: str, text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise UserError(f"Cannot read {key}={text!r} as a positive integer.", hint=OPTIONS_HELP)
    return value


def _fmt(shape: Sequence[int]) -> str:
    return "x".join(str(int(d)) for d in shape)


def _numbers(values: Sequence[float]) -> str:
    return "(" + ", ".join(f"{v:g}" for v in values) + ")"


def _names(names: Sequence[str], shown: int = _SHOWN_SKIPPED) -> str:
    """``a, b, c and 2 more``: the first few names of a list, in one line."""
    head = ", ".join(names[:shown])
    return f"{head} and {len(names) - shown} more" if len(names) > shown else head


def skipped_text(skipped: Sequence[str]) -> str:
    """Say in one line how many images were skipped and name the first few.

    Example:
        >>> skipped_text(["cat/1.jpg", "cat/2.jpg", "dog/3.jpg", "dog/4.png", "dog/5.png"])
        '5 unreadable images (cat/1.jpg, cat/2.jpg, dog/3.jpg and 2 more)'
        >>> skipped_text(["a.jpg"])
        '1 unreadable image (a.jpg)'
    """
    n = len(skipped)
    return f"{n} unreadable image{'' if n == 1 else 's'} ({_names(skipped)})"
