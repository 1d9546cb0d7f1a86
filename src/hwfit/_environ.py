"""``environment_kept()``: undo what a third-party import writes into ``os.environ``.

Some libraries change the process environment when they are imported: Ultralytics sets
``OMP_NUM_THREADS=1``, OpenCV (which faster-coco-eval imports where it is installed) prepends
its folder to ``LD_LIBRARY_PATH``. Every worker hwfit starts afterwards would inherit that, and
the fork server (:mod:`hwfit.bench._forkserver`) would rightly stop forking, as a fresh
interpreter would now see another environment. hwfit imports such libraries inside this
context, which gives the environment back as it was.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

__all__ = ["environment_kept"]


@contextlib.contextmanager
def environment_kept() -> Iterator[None]:
    """Restore ``os.environ`` to what it was on entry, whatever the body did to it.

    Example:
        >>> with environment_kept():
        ...     os.environ["HWFIT_DOCTEST_VARIABLE"] = "1"
        >>> "HWFIT_DOCTEST_VARIABLE" in os.environ
        False
    """
    saved = dict(os.environ)
    try:
        yield
    finally:
        for key in [k for k in os.environ if k not in saved]:
            del os.environ[key]
        for key, value in saved.items():
            if os.environ.get(key) != value:
                os.environ[key] = value
