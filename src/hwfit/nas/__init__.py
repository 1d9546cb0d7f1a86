"""Hardware-aware neural architecture search from a baseline (``hwfit search``).

Search spaces (`space_for`) are generated from a timm baseline or NAS-Bench-201's cell space;
every point builds into a real PyTorch model that exports to ONNX. See ``docs/nas-design.md``.
"""

from __future__ import annotations

from hwfit.nas.space import Arch, Dimension, SearchSpace, SpaceSummary, space_summary
from hwfit.nas.spaces import space_for

__all__ = [
    "Arch",
    "Dimension",
    "SearchSpace",
    "SpaceSummary",
    "space_for",
    "space_summary",
]
