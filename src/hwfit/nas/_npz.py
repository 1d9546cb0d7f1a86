"""The ``.npz`` side of :mod:`hwfit.nas.data`: arrays to normalised image tensors and labels.

The file itself is read by the one ``.npz`` reader, :func:`hwfit.accuracy.read_npz`.

An ``.npz`` holds ``x`` (uint8 images ``(N, H, W, C)`` or ``(N, C, H, W)``, or float inputs
``(N, C, H, W)`` taken as already normalised) or encoded image files ``x_encoded`` (their bytes
concatenated) with ``x_offsets`` (N + 1 boundaries), integer labels ``y``, and likewise a
validation split ``x_val``/``y_val``. Every problem is a one-line `UserError` (or
`InputShapeError`) that names the file and the array, with a hint.
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch
from torch import Tensor

from hwfit.accuracy import IMAGENET_MEAN, IMAGENET_STD
from hwfit.errors import InputShapeError, UserError, first_line

__all__ = [
    "NPZ_HINT",
    "NpzImages",
    "normalise",
    "read_images",
    "read_labels",
]

NPZ_HINT = (
    "Write it with numpy.savez(path, x=images, y=labels): x uint8 (N, H, W, 3) or float "
    "(N, 3, H, W), y integer class indices; optionally x_val, y_val and classes."
)
"""The hint of every malformed-``.npz`` error: how to write one."""

_UINT8_TEXT = "uint8 images scaled to [0, 1] and normalised with ImageNet's mean and std"


def normalise(images: Tensor) -> Tensor:
    """uint8 ``(N, C, H, W)`` images to float32, scaled to [0, 1] and normalised."""
    channels = images.shape[1]
    mean = torch.tensor(IMAGENET_MEAN if channels == 3 else (0.449,) * channels)
    std = torch.tensor(IMAGENET_STD if channels == 3 else (0.226,) * channels)
    x = images.to(torch.float32).div_(255.0)
    return x.sub_(mean.view(1, -1, 1, 1)).div_(std.view(1, -1, 1, 1)).contiguous()


@dataclasses.dataclass(frozen=True)
class NpzImages:
    """Images read from a ``.npz`` key: ``kept`` indexes the ``total`` stored ones (None: all)."""

    x: Tensor
    total: int
    kept: Tensor | None = None
    skipped: tuple[str, ...] = ()
    preprocessing: str = _UINT8_TEXT


def read_images(
    file: Path, arrays: Mapping[str, npt.NDArray[np.generic]], key: str, strict: bool
) -> NpzImages | None:
    """Normalised float ``(N, C, H, W)`` from ``key`` (raw, float or encoded), or None."""
    if key not in arrays and f"{key}_encoded" in arrays:
        return _decode(file, arrays, key, strict)
    if key not in arrays:
        return None
    x = _array(file, arrays, key)
    text = _UINT8_TEXT if arrays[key].dtype == np.uint8 else "float inputs used as they are"
    return NpzImages(x=x, total=len(x), preprocessing=text)


def _array(file: Path, arrays: Mapping[str, npt.NDArray[np.generic]], key: str) -> Tensor:
    """Normalised float ``(N, C, H, W)`` from the raw or float array ``key``."""
    x = arrays[key]
    if x.ndim != 4 or len(x) == 0:
        raise InputShapeError(
            f"{key!r} in {str(file)!r} is shaped {x.shape}; it must hold N > 0 images "
            "(4 dimensions).",
            hint="Use uint8 (N, H, W, C) images or float (N, C, H, W) inputs.",
        )
    if x.dtype == np.uint8:
        if x.shape[3] in (1, 3):
            x = x.transpose(0, 3, 1, 2)
        elif x.shape[1] not in (1, 3):
            raise InputShapeError(
                f"uint8 images {key!r} in {str(file)!r} are shaped {x.shape}; neither "
                "(N, H, W, C) nor (N, C, H, W) with 1 or 3 channels.",
                hint="Save raw images as uint8 (N, H, W, 3).",
            )
        return normalise(torch.from_numpy(np.ascontiguousarray(x)))
    if np.issubdtype(x.dtype, np.floating):
        if x.shape[1] not in (1, 3) or x.shape[2] != x.shape[3]:
            raise InputShapeError(
                f"Float inputs {key!r} in {str(file)!r} are shaped {x.shape}; hwfit takes "
                "them as normalised (N, C, H, W) with 1 or 3 channels and square images.",
                hint="They look channels-last: save x.transpose(0, 3, 1, 2)."
                if x.shape[3] in (1, 3)
                else "Save float inputs as (N, 3, H, W).",
            )
        tensor = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
        if not bool(torch.isfinite(tensor).all()):
            raise UserError(f"Float inputs {key!r} in {str(file)!r} hold NaN or infinity.")
        return tensor
    raise UserError(
        f"{key!r} in {str(file)!r} is {x.dtype}; hwfit reads uint8 images or float inputs.",
        hint=NPZ_HINT,
    )


def _decode(
    file: Path, arrays: Mapping[str, npt.NDArray[np.generic]], key: str, strict: bool
) -> NpzImages:
    """Decode ``{key}_encoded`` image files (split at ``{key}_offsets``), skipping bad ones."""
    from PIL import Image

    blob, offsets = arrays[f"{key}_encoded"], arrays.get(f"{key}_offsets")
    if (
        offsets is None
        or blob.dtype != np.uint8
        or offsets.ndim != 1
        or len(offsets) < 2
        or offsets[0] != 0
        or offsets[-1] != blob.size
        or np.any(np.diff(offsets) <= 0)
    ):
        raise UserError(
            f"Encoded images {key + '_encoded'!r} in {str(file)!r} need uint8 bytes and "
            f"increasing {key + '_offsets'!r} from 0 to their length.",
            hint="Concatenate the image files' bytes; offsets holds the N + 1 boundaries.",
        )
    data = blob.tobytes()
    total = len(offsets) - 1
    images: list[npt.NDArray[np.uint8]] = []
    kept: list[int] = []
    bad: list[int] = []
    first_error = ""
    for i in range(total):
        try:
            with Image.open(io.BytesIO(data[offsets[i] : offsets[i + 1]])) as img:
                pixels = np.asarray(img.convert("RGB"), dtype=np.uint8)
        except Exception as exc:
            if not strict:  # skipped and counted, as unreadable image files are
                bad.append(i)
                first_error = first_error or first_line(exc, 200)
                continue
            raise UserError(
                f"Encoded image {i} of {key!r} in {str(file)!r} cannot be decoded: "
                f"{first_line(exc, 200)}",
                hint="The file is corrupt: regenerate it, or leave out --strict-data to skip "
                "unreadable images.",
            ) from exc
        if images and pixels.shape != images[0].shape:
            raise InputShapeError(
                f"Encoded image {i} of {key!r} in {str(file)!r} is {pixels.shape[:2]}, "
                f"image {kept[0]} is {images[0].shape[:2]}; all must have one size.",
                hint="Resize the images to one size before packing them.",
            )
        images.append(pixels)
        kept.append(i)
    if not images:
        raise UserError(
            f"The encoded images of {key!r} in {str(file)!r} cannot be decoded: all {total} are "
            f"unreadable (first: {first_error}).",
            hint="The file is corrupt; regenerate it.",
        )
    x = normalise(torch.from_numpy(np.stack(images).transpose(0, 3, 1, 2).copy()))
    return NpzImages(
        x=x,
        total=total,
        kept=torch.tensor(kept, dtype=torch.int64) if bad else None,
        skipped=tuple(f"{key}_encoded[{i}]" for i in bad),
    )


def read_labels(
    file: Path, arrays: Mapping[str, npt.NDArray[np.generic]], key: str, images: NpzImages
) -> Tensor:
    """The labels ``key`` of ``images`` (those of skipped images dropped), checked."""
    if key not in arrays:
        raise UserError(
            f"{str(file)!r} has no labels {key!r}; training needs one class index per image.",
            hint=NPZ_HINT,
        )
    y = arrays[key]
    n = images.total
    if y.size != n:
        raise UserError(
            f"{str(file)!r} has {n} images but {y.size} labels in {key!r} (shape {y.shape}).",
            hint="Give exactly one integer class index per image.",
        )
    y = y.reshape(n)
    integral = np.issubdtype(y.dtype, np.integer) or (
        np.issubdtype(y.dtype, np.floating) and _whole(y.astype(np.float64))
    )
    if not integral or (n and int(y.min()) < 0):
        raise UserError(
            f"Labels {key!r} in {str(file)!r} are not class indices ({y.dtype}, "
            f"min {y.min() if n else '-'}).",
            hint="Save y as non-negative integers (one class index per image).",
        )
    labels = torch.from_numpy(y.astype(np.int64))
    return labels if images.kept is None else labels[images.kept]


def _whole(values: npt.NDArray[np.float64]) -> bool:
    """Whether every value is finite and a whole number."""
    return bool(np.all(np.isfinite(values))) and bool(np.all(values == np.round(values)))
