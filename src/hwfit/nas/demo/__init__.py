"""The small real image data set shipped for ``hwfit search --demo`` (a CIFAR-10 subset).

``cifar10_demo.npz`` holds 500 training images per class (from CIFAR-10's train split) and 100
validation images per class (from its test split), 32x32 RGB, 10 classes, stored as the source
JPEG files' bytes; ``scripts/make_demo_data.py`` regenerates it and ``README.md`` beside it gives
the source and the terms. Read it with :func:`hwfit.nas.data.load_train_data`.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["DEMO_FILE", "demo_path"]

DEMO_FILE = "cifar10_demo.npz"


def demo_path() -> Path:
    """Return the location of the shipped demo data set (an ``.npz`` file).

    Example:
        >>> demo_path().name
        'cifar10_demo.npz'
    """
    return Path(__file__).resolve().parent / DEMO_FILE
