"""The one ``.npz`` reader: ``read_npz(file: Path, *, hint: str) -> dict[str, NDArray]``.

Both the evaluation data (:mod:`hwfit.accuracy.datasets`) and the search's training data
(:mod:`hwfit.nas.data`) read their ``.npz`` files through :func:`read_npz` (every array, no
pickles) and :func:`npz_shape` (one array's shape from its header, nothing decoded). A file that
cannot be read is one `UserError` naming it, with the caller's hint on how to write one.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import numpy.typing as npt

from hwfit.errors import UserError, first_line

__all__ = ["NPZ_WRITE_HINT", "npz_shape", "read_npz"]

NPZ_WRITE_HINT = "Write it with numpy.savez(path, x=inputs, y=labels)."
"""The default hint of a ``.npz`` that cannot be read: how to write one."""


def read_npz(file: Path, *, hint: str = NPZ_WRITE_HINT) -> dict[str, npt.NDArray[np.generic]]:
    """Return every array of the ``.npz`` ``file`` by name (pickled objects refused).

    Args:
        file: The ``.npz`` file.
        hint: The error's hint: how to write such a file for the caller's use.

    Raises:
        UserError: The file cannot be read as a ``.npz`` (the message names it and the cause).

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "d.npz"
        >>> np.savez(path, x=np.zeros((2, 3)), y=np.arange(2))
        >>> sorted(read_npz(path))
        ['x', 'y']
    """
    try:
        with np.load(file, allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}
    except Exception as exc:
        raise _unreadable(file, exc, hint) from exc


def npz_shape(file: Path, key: str, *, hint: str = NPZ_WRITE_HINT) -> tuple[int, ...] | None:
    """Return the shape of array ``key`` in a ``.npz``, read from its header only.

    Args:
        file: The ``.npz`` file.
        key: The array's name (``"x"``).
        hint: The error's hint, as for :func:`read_npz`.

    Returns:
        The shape, or None when the file holds no such array.

    Raises:
        UserError: The file cannot be read as a ``.npz``.
    """
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
        raise _unreadable(file, exc, hint) from exc
    return tuple(int(d) for d in shape)


def _unreadable(file: Path, exc: BaseException, hint: str) -> UserError:
    return UserError(
        f"Cannot read {str(file)!r} as a .npz file: {first_line(exc, 300)}", hint=hint
    )
