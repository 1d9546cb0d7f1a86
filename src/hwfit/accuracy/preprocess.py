"""Preprocessing: how an image becomes a model input (:class:`Preprocess`).

Preprocessing is plain PIL + numpy (no torchvision), so a deployed predictor can replay it
without PyTorch. It reproduces timm's evaluation transform (resize, center crop, scale,
normalize) to float rounding. :func:`hwfit.accuracy.preprocess_for` reads a model's own settings.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypedDict

import numpy as np
import numpy.typing as npt

from hwfit.errors import InputShapeError, UserError

if TYPE_CHECKING:
    from PIL import Image

__all__ = [
    "CROP_MODES",
    "DEFAULT_CROP_PCT",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "INTERPOLATIONS",
    "OPTIONS_HELP",
    "OPTION_KEYS",
    "SOURCE_DETECTOR",
    "SOURCE_INPUT_SIZE",
    "SOURCE_TIMM",
    "SOURCE_TORCHVISION",
    "SOURCE_USER",
    "Preprocess",
    "default_stat",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
DEFAULT_CROP_PCT = 0.875
INTERPOLATIONS = ("bilinear", "bicubic", "nearest", "lanczos", "box", "hamming")
CROP_MODES = ("center", "squash", "border")
OPTION_KEYS = ("crop_mode", "crop_pct", "interpolation", "mean", "resize", "std")
OPTIONS_HELP = (
    "Write overrides as key=value pairs joined by ';', e.g. "
    '"mean=0.5,0.5,0.5;std=0.5,0.5,0.5;crop_pct=1.0". Keys: ' + ", ".join(OPTION_KEYS) + "."
)
#: Where a preprocessing came from (``Preprocess.source``); user overrides are "--preprocess".
SOURCE_TIMM = "timm config"
SOURCE_TORCHVISION = "torchvision weights"
SOURCE_DETECTOR = "the detector's own transform (torchvision)"
SOURCE_INPUT_SIZE = "the model's input size"
SOURCE_USER = "--preprocess"


class _Changes(TypedDict, total=False):
    """The fields :meth:`Preprocess.with_options` replaces."""

    mean: tuple[float, ...]
    std: tuple[float, ...]
    interpolation: str
    crop_mode: str
    resize: int
    crop_pct: float
    source: str


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
            mean=tuple(mean) if mean is not None else default_stat(IMAGENET_MEAN, channels),
            std=tuple(std) if std is not None else default_stat(IMAGENET_STD, channels),
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
        changes = _Changes()
        if "mean" in values:
            changes["mean"] = _per_channel_values(_floats("mean", values["mean"]), channels)
        if "std" in values:
            changes["std"] = _per_channel_values(_floats("std", values["std"]), channels)
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
            changes.update({"resize": resize, "crop_pct": crop_pct})
        elif resize is not None:
            changes.update({"resize": resize, "crop_pct": height / resize})
        elif crop_pct is not None:
            changes.update({"resize": math.floor(height / crop_pct), "crop_pct": crop_pct})
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
        imagenet = self.mean == default_stat(IMAGENET_MEAN, channels) and (
            self.std == default_stat(IMAGENET_STD, channels)
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


def _per_channel_values(numbers: tuple[float, ...], channels: int) -> tuple[float, ...]:
    """One number per channel: a single number stands for all of them."""
    return numbers * channels if len(numbers) == 1 else numbers


def default_stat(values: tuple[float, ...], channels: int) -> tuple[float, ...]:
    """Return ``values`` when they have one per channel, else their average for each channel.

    Example:
        >>> default_stat((0.485, 0.456, 0.406), 1)
        (0.449,)
    """
    if channels == len(values):
        return values
    return (round(sum(values) / len(values), 6),) * channels


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


def _numbers(values: Sequence[float]) -> str:
    return "(" + ", ".join(f"{v:g}" for v in values) + ")"
