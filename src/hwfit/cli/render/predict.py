"""The table of ``hwfit predict``: the top classes of each image."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.table import Table

if TYPE_CHECKING:
    from hwfit.artifacts import Manifest

__all__ = ["predict_json", "predict_table"]


def predict_table(
    manifest: Manifest, images: Sequence[str], results: Sequence[Sequence[tuple[str, float]]]
) -> Table:
    """One row per image and rank: the class and its probability."""
    table = Table(
        title=f"{manifest.runtime} {manifest.precision['executed']} "
        f"({manifest.source.get('model')})",
        title_justify="left",
    )
    for col in ("image", "rank", "class", "probability"):
        table.add_column(col, overflow="fold")  # never cut a path or a number
    for img, top in zip(images, results, strict=True):
        for rank, (cls, prob) in enumerate(top, 1):
            table.add_row(img if rank == 1 else "", str(rank), cls, f"{prob:.3f}")
    return table


def predict_json(
    images: Sequence[str], results: Sequence[Sequence[tuple[str, float]]]
) -> list[dict[str, object]]:
    """The ``--json`` output: per image, its top classes with their probabilities."""
    return [
        {"image": img, "top": [{"class": c, "probability": p} for c, p in top]}
        for img, top in zip(images, results, strict=True)
    ]
