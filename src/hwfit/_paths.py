"""Where hwfit keeps its files: the model cache (HWFIT_CACHE_DIR overrides)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_dir"]


def cache_dir() -> Path:
    """Return the folder for converted models (created on demand)."""
    env = os.environ.get("HWFIT_CACHE_DIR")
    if env:
        path = Path(env)
    else:
        import platformdirs

        path = Path(platformdirs.user_cache_dir("hwfit"))
    path.mkdir(parents=True, exist_ok=True)
    return path
