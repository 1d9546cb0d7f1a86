"""Evaluation datasets: an image folder or a ``.npz`` file as preprocessed model inputs."""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import numpy as np
import numpy.typing as npt

from hwfit.accuracy.coco import read_coco
from hwfit.accuracy.npz import npz_shape, read_npz
from hwfit.accuracy.preprocess import Preprocess
from hwfit.accuracy.split import choose, sample_order
from hwfit.errors import InputShapeError, UserError, first_line

if TYPE_CHECKING:
    from PIL import Image

__all__ = [
    "IMAGE_EXTENSIONS",
    "Dataset",
    "check_dataset_path",
    "count_samples",
    "load_dataset",
    "load_image",
    "skipped_text",
]

logger = logging.getLogger(__name__)

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp"})
_PARALLEL_MIN = 32  # decode in threads from this many images on (PIL releases the GIL)
_SHOWN_SKIPPED = 3  # file names a one-line "skipped" message lists before "... and N more"
_ONE_CLASS_HINT = (
    "Put each class's images in its own sub-folder (at least 2 classes); for optimize, images "
    "directly in the folder (no sub-folders) are unlabelled data, checked against the FP32 "
    "reference instead."
)

_T = TypeVar("_T")
_R = TypeVar("_R")


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
        image_ids: For COCO data, each sample's image id in ``annotations``.
        image_sizes: For COCO data, each sample's original ``(height, width)``.
        annotations: For COCO data, the annotation file (detection boxes to find).
        masks: For segmentation data (``masks`` in a ``.npz``), each sample's class per pixel
            ``(N, H, W)`` int64 (255: ignored), or None.
    """

    x: npt.NDArray[np.float32]
    y: npt.NDArray[np.int64] | None
    classes: tuple[str, ...] = ()
    source: str = ""
    skipped: tuple[str, ...] = ()
    image_ids: tuple[int, ...] = ()
    image_sizes: tuple[tuple[int, int], ...] = ()
    annotations: str | None = None
    masks: npt.NDArray[np.int64] | None = None

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

    def subset(self, indices: Sequence[int] | npt.NDArray[np.int64]) -> Dataset:
        """Return the samples at ``indices`` (in that order) as a new dataset."""
        idx = np.asarray(indices, dtype=np.int64)
        y = None if self.y is None else self.y[idx]
        return Dataset(
            x=self.x[idx],
            y=y,
            classes=self.classes,
            source=self.source,
            skipped=self.skipped,
            image_ids=tuple(self.image_ids[i] for i in idx) if self.image_ids else (),
            image_sizes=tuple(self.image_sizes[i] for i in idx) if self.image_sizes else (),
            annotations=self.annotations,
            masks=None if self.masks is None else self.masks[idx],
        )


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
    * A COCO folder (``instances.json``, or ``annotations/instances_<split>.json``): its
      annotated images, unlabelled, with their ids, original sizes and the annotation file
      (a detector's mAP reads the boxes).
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
    shape = npz_shape(where, "x")
    if shape is None:
        raise UserError(
            f"{str(where)!r} has no array 'x'.",
            hint="Write it with numpy.savez(path, x=inputs, y=labels).",
        )
    return int(shape[0]) if shape else 0


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


def _scan_folder(
    folder: Path,
) -> tuple[list[Path], npt.NDArray[np.int64] | None, tuple[str, ...]]:
    """List a dataset folder's images (sorted), their labels and the class names.

    A COCO folder (:func:`~hwfit.accuracy.coco.read_coco`) lists its annotated images, in the
    annotation file's order, unlabelled (its boxes are the detection metric's business).
    """
    coco = read_coco(folder)
    if coco is not None:
        return list(coco.files), None, ()
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
    order = np.arange(n, dtype=np.int64) if want == n else sample_order(n, y, seed)

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
    coco = read_coco(folder)
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
        image_ids=tuple(coco.image_ids[i] for i in index) if coco else (),
        image_sizes=tuple(coco.sizes[i] for i in index) if coco else (),
        annotations=str(coco.annotations) if coco else None,
    )


def _load_npz(file: Path, preprocess: Preprocess, limit: int | None, seed: int) -> Dataset:
    arrays = read_npz(file)
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
    masks = _npz_masks(file, arrays.get("masks"), len(x))
    classes = tuple(str(c) for c in arrays["classes"].ravel()) if "classes" in arrays else ()
    chosen = choose(len(x), y, limit, seed)
    every, y = y, None if y is None else y[chosen]
    masks = None if masks is None else masks[chosen]
    if x.dtype == np.uint8:
        images = _raw_images(file, x.astype(np.uint8, copy=False), preprocess)
        _check_classes(file, every)
        out = _map(lambda i: preprocess.apply(images(i)), chosen.tolist())
        return Dataset(
            x=_stack(out, preprocess), y=y, classes=classes, source=str(file), masks=masks
        )
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
        x=np.ascontiguousarray(x[chosen], dtype=np.float32),
        y=y,
        classes=classes,
        source=str(file),
        masks=masks,
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


def _npz_labels(
    file: Path, y: npt.NDArray[np.generic] | None, n: int
) -> npt.NDArray[np.int64] | None:
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
    if np.issubdtype(y.dtype, np.floating):
        values = y.astype(np.float64, copy=False)
        if np.all(np.isfinite(values)) and np.all(values == np.round(values)):
            return y.astype(np.int64)
    raise UserError(
        f"Labels 'y' in {str(file)!r} are {y.dtype}, not integer class indices.",
        hint="Save y as integers (one class index per sample), not one-hot or names.",
    )


def _npz_masks(
    file: Path, masks: npt.NDArray[np.generic] | None, n: int
) -> npt.NDArray[np.int64] | None:
    """Segmentation labels: one integer class per pixel, ``(N, H, W)`` (255: ignored)."""
    if masks is None:
        return None
    if (
        masks.ndim != 3
        or masks.shape[0] != n
        or not (np.issubdtype(masks.dtype, np.integer) or masks.dtype == np.bool_)
    ):
        raise UserError(
            f"'masks' in {str(file)!r} is {masks.dtype} shaped {masks.shape}; segmentation "
            f"labels are one integer class per pixel for each of the {n} samples.",
            hint="Save masks as integers shaped (N, H, W), at the model output's size "
            "(255 marks pixels to ignore).",
        )
    return masks.astype(np.int64)


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


def _fmt(shape: Sequence[int]) -> str:
    return "x".join(str(int(d)) for d in shape)


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
