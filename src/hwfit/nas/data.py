"""Training data for architecture search: labelled images as in-memory tensors at a resolution.

Search trains many small candidates on small data sets, so everything is held in memory as
normalised float tensors ``(N, 3, R, R)``: about 48 KB per image at 64 px (5,000 images: 245
MB). Sources:

* an image folder with one sub-folder per class (read through :mod:`hwfit.accuracy.datasets`); a
  folder holding ``train/`` and ``val/`` (or ``test/``/``valid/``) class folders gives the
  validation split itself;
* an ``.npz`` with ``x`` (uint8 images ``(N, H, W, C)`` or ``(N, C, H, W)``, or float inputs
  ``(N, C, H, W)`` taken as already normalised) and integer labels ``y``; optional ``classes``
  and a validation split ``x_val``/``y_val``. Instead of ``x``, encoded image files may be given
  as ``x_encoded`` (their bytes concatenated, uint8) with ``x_offsets`` (N + 1 boundaries), and
  likewise ``x_val_encoded``/``x_val_offsets``;
* the demo set shipped in the package (:func:`demo_path`, :func:`load_demo`).

Without a validation split, ``val_fraction`` of the samples (class-proportional, seeded) is held
out. Images are normalised with ImageNet's mean and std (what timm models expect) and resized with
:func:`torch.nn.functional.interpolate` (bilinear; antialiased when shrinking). An image PIL
cannot decode is left out and named in ``TrainData.skipped`` (``strict=True`` fails instead).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F
from torch import Tensor

from hwfit.accuracy import (
    IMAGE_EXTENSIONS,
    IMAGENET_MEAN,
    IMAGENET_STD,
    Dataset,
    Preprocess,
    count_samples,
    load_dataset,
    load_image,
    read_npz,
    skipped_text,
    split,
)
from hwfit.errors import InputShapeError, UserError
from hwfit.nas._npz import NPZ_HINT, read_images, read_labels
from hwfit.nas.demo import demo_path

__all__ = ["TrainData", "balanced_order", "demo_path", "load_demo", "load_train_data"]

_SPLIT_NAMES = {"train": ("train",), "val": ("val", "valid", "validation", "test")}


@dataclasses.dataclass(frozen=True, eq=False)
class TrainData:
    """Labelled training and validation tensors held in memory, at one resolution.

    Attributes:
        x_train: Normalised training inputs ``(N, C, R, R)`` float32.
        y_train: Training labels ``(N,)`` int64.
        x_val: Normalised validation inputs ``(M, C, R, R)`` float32.
        y_val: Validation labels ``(M,)`` int64.
        classes: Class names by index (``class0``... when the source has none).
        source: Where the data came from.
        skipped: Images of the source that could not be decoded and were left out.
        preprocessing: How the source became these tensors, in words.
    """

    x_train: Tensor
    y_train: Tensor
    x_val: Tensor
    y_val: Tensor
    classes: tuple[str, ...]
    source: str = ""
    skipped: tuple[str, ...] = ()
    preprocessing: str = ""
    _origin: tuple[Tensor, Tensor] | None = dataclasses.field(default=None, repr=False)
    _resized: dict[int, TrainData] = dataclasses.field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for name, x, y in (
            ("training", self.x_train, self.y_train),
            ("validation", self.x_val, self.y_val),
        ):
            if x.ndim != 4 or x.dtype != torch.float32 or y.shape != (x.shape[0],):
                raise InputShapeError(
                    f"{name.capitalize()} data of {self.source!r} must be (N, C, H, W) float32 "
                    f"with N labels, got {tuple(x.shape)} {x.dtype} and labels "
                    f"{tuple(y.shape)}."
                )
            if x.shape[0] == 0:
                raise UserError(
                    f"Data set {self.source!r} has no {name} samples.",
                    hint="Give more images, or a val_fraction that leaves samples on both sides.",
                )
            if int(y.min()) < 0 or int(y.max()) >= len(self.classes):
                raise UserError(
                    f"{name.capitalize()} labels of {self.source!r} range over "
                    f"{int(y.min())}..{int(y.max())}, outside 0..{len(self.classes) - 1}.",
                    hint="Labels are class indices 0..num_classes-1; check 'classes' and 'y'.",
                )

    def __repr__(self) -> str:
        skipped = f", {len(self.skipped)} skipped" if self.skipped else ""
        return (
            f"TrainData({len(self.y_train)} train + {len(self.y_val)} val, "
            f"{self.resolution} px, {self.num_classes} classes{skipped}, source={self.source!r})"
        )

    def notes(self) -> list[str]:
        """Lines for a report: the preprocessing, and the images skipped as unreadable."""
        lines = []
        if self.preprocessing:
            lines.append(
                f"Preprocessing of the training data ({len(self.y_train)} train + "
                f"{len(self.y_val)} validation images): {self.preprocessing}; then resized to "
                "each model's resolution (bilinear)."
            )
        if self.skipped:
            lines.append(
                f"Skipped {skipped_text(self.skipped)} in {self.source!r} "
                "(--strict-data fails instead); accuracy is over the images used."
            )
        return lines

    @property
    def num_classes(self) -> int:
        """Number of classes (the model's output width)."""
        return len(self.classes)

    @property
    def resolution(self) -> int:
        """Edge length of the (square) inputs, in pixels."""
        return int(self.x_train.shape[-1])

    @property
    def preprocess(self) -> Preprocess:
        """The equivalent evaluation preprocessing (whole image resized, ImageNet mean/std).

        Hand it to ``optimize`` so a trained model is validated on inputs prepared as in
        training (up to the resampler: PIL there, torch here).
        """
        channels = int(self.x_train.shape[1])
        return Preprocess.create(
            (channels, self.resolution, self.resolution),
            crop_pct=1.0,
            mean=IMAGENET_MEAN if channels == 3 else None,
            std=IMAGENET_STD if channels == 3 else None,
            source="the search's training data",
        )

    def at_resolution(self, resolution: int) -> TrainData:
        """Return the data resized to ``resolution`` px (cached; resized from the loaded size).

        Resizing is linear, so resizing normalised tensors equals normalising resized images.
        Every resolution is made from the tensors first loaded, never from another resize.

        Raises:
            UserError: A resolution below 8 px.
        """
        if resolution < 8:
            raise UserError(f"Resolution {resolution} px is too small; use 8 px or more.")
        if resolution == self.resolution:
            return self
        if resolution not in self._resized:
            x_train, x_val = self._origin or (self.x_train, self.x_val)
            self._resized[resolution] = dataclasses.replace(
                self,
                x_train=_resize(x_train, resolution),
                x_val=_resize(x_val, resolution),
                _origin=(x_train, x_val),
                _resized={},
            )
        return self._resized[resolution]

    def minibatch(self, n: int, seed: int = 0) -> tuple[Tensor, Tensor]:
        """Draw ``n`` training samples, classes as balanced as possible (seeded), for proxies.

        Args:
            n: Number of samples (at most the training set's size).
            seed: Seed of the draw; the same seed gives the same batch.

        Returns:
            ``(inputs, labels)``: ``(n, C, R, R)`` float32 and ``(n,)`` int64.

        Raises:
            UserError: ``n`` is not positive or exceeds the training set.
        """
        total = len(self.y_train)
        if not 0 < n <= total:
            raise UserError(
                f"Cannot draw a mini-batch of {n} from {total} training samples.",
                hint=f"Ask for 1 to {total} samples.",
            )
        order = balanced_order(self.y_train.numpy(), seed)[:n]
        index = torch.from_numpy(np.sort(order))
        return self.x_train[index], self.y_train[index]


def load_demo(
    *,
    resolution: int | None = None,
    max_train: int | None = None,
    max_val: int | None = None,
    seed: int = 0,
) -> TrainData:
    """Load the CIFAR-10 subset shipped with hwfit (5,000 train + 1,000 val images, 32 px).

    Args:
        resolution: Edge length to resize to; 32 (the images' own size) by default.
        max_train: Keep at most this many training images (class-proportional, seeded).
        max_val: Keep at most this many validation images.
        seed: Seed of those subsets.

    Raises:
        UserError: The shipped file is missing (a broken installation).
    """
    return load_train_data(
        demo_path(), resolution=resolution, max_train=max_train, max_val=max_val, seed=seed
    )


def load_train_data(
    path: str | os.PathLike[str],
    *,
    resolution: int | None = None,
    val_fraction: float = 0.2,
    max_train: int | None = None,
    max_val: int | None = None,
    seed: int = 0,
    strict: bool = False,
) -> TrainData:
    """Load labelled images (folder or ``.npz``, see the module docstring) as training tensors.

    Args:
        path: Image folder or ``.npz`` file (the demo set: :func:`demo_path`).
        resolution: Edge length of the square inputs. By default the images' own size (an
            ``.npz``) or the first image's shorter side (a folder, where images are resized
            to it and center-cropped).
        val_fraction: Share of the samples held out for validation when the source has no
            validation split (class-proportional, seeded).
        max_train: Keep at most this many training samples (class-proportional, seeded).
        max_val: Keep at most this many validation samples.
        seed: Seed of the hold-out split and of the subsets.
        strict: Fail on the first image PIL cannot decode instead of skipping it.

    Returns:
        The data, normalised, at ``resolution``; ``skipped`` names the images left out.

    Raises:
        UserError: A missing, empty, corrupt or unlabelled source, fewer than two classes, a
            limit or fraction out of range (each a one-line message with a hint).
        InputShapeError: Arrays that are not images.
    """
    if not 0.0 < val_fraction < 1.0:
        raise UserError(
            f"val_fraction must lie strictly between 0 and 1, got {val_fraction}.",
            hint="Hold out e.g. 0.2 of the samples for validation.",
        )
    for name, limit in (("max_train", max_train), ("max_val", max_val)):
        if limit is not None and limit <= 0:
            raise UserError(f"{name} must be a positive number of samples, got {limit}.")
    if resolution is not None and resolution < 8:
        raise UserError(f"Resolution {resolution} px is too small; use 8 px or more.")
    where = Path(path)
    if not where.exists():
        raise UserError(
            f"Training data {str(where)!r} not found.",
            hint="Give a folder of images (one sub-folder per class) or a .npz file.",
        )
    limits = _Limits(val_fraction, max_train, max_val, seed, strict)
    if where.is_dir():
        data = _load_folder(where, resolution, limits)
    elif where.suffix.lower() == ".npz":
        data = _load_npz(where, limits)
    else:
        raise UserError(
            f"Training data {str(where)!r} is neither a folder nor a .npz file.",
            hint="Give a folder of images (one sub-folder per class) or a .npz file.",
        )
    if len(data.classes) < 2:
        raise UserError(
            f"Training data {str(where)!r} has {len(data.classes)} class; classification "
            "needs at least 2.",
            hint="Put each class's images in its own sub-folder.",
        )
    return data.at_resolution(resolution) if resolution is not None else data


def balanced_order(y: npt.NDArray[np.int64], seed: int) -> npt.NDArray[np.int64]:
    """A seeded order of ``range(len(y))`` that visits the classes in turn.

    Every prefix holds each class about equally often (as far as the class has samples).

    Example:
        >>> order = balanced_order(np.array([0, 0, 0, 0, 1, 1]), seed=0)
        >>> sorted(np.array([0, 0, 0, 0, 1, 1])[order[:4]].tolist())
        [0, 0, 1, 1]
    """
    rng = np.random.default_rng(seed)
    n = len(y)
    perm = rng.permutation(n).astype(np.int64)
    labels = np.asarray(y)[perm]
    rank = np.zeros(n, dtype=np.int64)
    for label in np.unique(labels):
        where = labels == label
        rank[where] = np.arange(int(where.sum()))
    return perm[np.lexsort((rng.random(n), rank))]


# --- loading -------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Limits:
    val_fraction: float
    max_train: int | None
    max_val: int | None
    seed: int
    strict: bool = False

    def sizes(self, n: int) -> tuple[int, int]:
        """Train and validation sizes when ``n`` samples are split by ``val_fraction``."""
        n_val = min(n - 1, max(1, round(n * self.val_fraction)))
        n_train = n - n_val
        return _cap(n_train, self.max_train), _cap(n_val, self.max_val)


def _cap(n: int, limit: int | None) -> int:
    return n if limit is None else min(n, limit)


def _subset(x: Tensor, y: Tensor, limit: int | None, seed: int) -> tuple[Tensor, Tensor]:
    if limit is None or limit >= len(y):
        return x, y
    index = torch.from_numpy(np.sort(balanced_order(y.numpy(), seed)[:limit]))
    return x[index], y[index]


def _resize(x: Tensor, resolution: int) -> Tensor:
    """Resize a batch to ``resolution`` px square, in chunks to bound the peak memory."""
    shrink = resolution < min(x.shape[-2:])
    parts = [
        F.interpolate(
            chunk,
            size=(resolution, resolution),
            mode="bilinear",
            align_corners=False,
            antialias=shrink,
        )
        for chunk in torch.split(x, 512)
    ]
    return torch.cat(parts).contiguous()


def _split_folders(folder: Path) -> tuple[Path, Path] | None:
    """``(train, val)`` sub-folders when the folder holds both splits."""
    names = {p.name.lower(): p for p in folder.iterdir() if p.is_dir()}
    train = next((names[n] for n in _SPLIT_NAMES["train"] if n in names), None)
    val = next((names[n] for n in _SPLIT_NAMES["val"] if n in names), None)
    if train is None or val is None:
        return None
    return train, val


def _first_image_size(folder: Path, strict: bool) -> int:
    for root, _, names in os.walk(folder):
        for name in sorted(names):
            if Path(name).suffix.lower() in IMAGE_EXTENSIONS and not name.startswith("."):
                try:
                    image = load_image(Path(root, name))
                except UserError:
                    if strict:
                        raise
                    continue  # unreadable: load_dataset skips and counts it
                return min(image.size)
    return 32  # no (readable) images: load_dataset reports it


def _read_folder(
    folder: Path, resolution: int, limit: int | None, seed: int, strict: bool
) -> Dataset:
    preprocess = Preprocess.create((3, resolution, resolution), crop_pct=1.0)
    dataset = load_dataset(folder, preprocess, limit=limit, seed=seed, strict=strict)
    if dataset.y is None:
        raise UserError(
            f"Image folder {str(folder)!r} has no class sub-folders, so no labels.",
            hint="Put each class's images in its own sub-folder (the folder name is the class).",
        )
    return dataset


def _load_folder(folder: Path, resolution: int | None, limits: _Limits) -> TrainData:
    splits = _split_folders(folder)
    size = resolution or _first_image_size(splits[0] if splits else folder, limits.strict)
    if splits is not None:
        train = _read_folder(splits[0], size, limits.max_train, limits.seed, limits.strict)
        val = _read_folder(splits[1], size, limits.max_val, limits.seed + 1, limits.strict)
        if val.classes != train.classes:
            raise UserError(
                f"The class folders of {str(splits[1])!r} differ from those of "
                f"{str(splits[0])!r}.",
                hint="Both splits need the same class sub-folders.",
            )
        skipped = tuple(f"{splits[0].name}/{f}" for f in train.skipped) + tuple(
            f"{splits[1].name}/{f}" for f in val.skipped
        )
    else:
        n_train, n_val = limits.sizes(count_samples(folder))
        every = _read_folder(folder, size, n_train + n_val, limits.seed, limits.strict)
        if len(every) < n_train + n_val:  # unreadable images were skipped: split what is left
            n_train, n_val = limits.sizes(len(every))
        train, val = split(every, n_train, n_val, seed=limits.seed)
        skipped = every.skipped
    return TrainData(
        x_train=torch.from_numpy(train.x),
        y_train=torch.from_numpy(train.y),
        x_val=torch.from_numpy(val.x),
        y_val=torch.from_numpy(val.y),
        classes=train.classes,
        source=str(folder),
        skipped=skipped,
        preprocessing=Preprocess.create((3, size, size), crop_pct=1.0).describe(),
    )


def _load_npz(file: Path, limits: _Limits) -> TrainData:
    arrays = read_npz(file, hint=NPZ_HINT)
    train_images = read_images(file, arrays, "x", limits.strict)
    if train_images is None:
        raise UserError(
            f"{str(file)!r} has no array 'x' (it holds: {', '.join(sorted(arrays)) or 'none'}).",
            hint=NPZ_HINT,
        )
    x = train_images.x
    y = read_labels(file, arrays, "y", train_images)
    val_images = read_images(file, arrays, "x_val", limits.strict)
    skipped = train_images.skipped + (val_images.skipped if val_images else ())
    if val_images is not None:
        x_val = val_images.x
        y_val = read_labels(file, arrays, "y_val", val_images)
        if x_val.shape[1:] != x.shape[1:]:
            raise InputShapeError(
                f"'x_val' in {str(file)!r} is {tuple(x_val.shape[1:])} per sample, 'x' is "
                f"{tuple(x.shape[1:])}.",
                hint="Save both splits at the same size and layout.",
            )
        x, y = _subset(x, y, limits.max_train, limits.seed)
        x_val, y_val = _subset(x_val, y_val, limits.max_val, limits.seed + 1)
    else:
        n_train, n_val = limits.sizes(len(y))
        order = torch.from_numpy(balanced_order(y.numpy(), limits.seed))
        val_index = order[:n_val].sort().values
        train_index = order[n_val : n_val + n_train].sort().values
        x, y, x_val, y_val = x[train_index], y[train_index], x[val_index], y[val_index]
    num_classes = int(max(int(y.max()), int(y_val.max()))) + 1
    if "classes" in arrays:
        classes = tuple(str(c) for c in arrays["classes"].ravel())
    else:
        classes = tuple(f"class{i}" for i in range(num_classes))
    return TrainData(
        x_train=x,
        y_train=y,
        x_val=x_val,
        y_val=y_val,
        classes=classes,
        source=str(file),
        skipped=skipped,
        preprocessing=train_images.preprocessing,
    )
