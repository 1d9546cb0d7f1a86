"""The table of ``hwfit predict``: the top classes of each image."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.table import Table

if TYPE_CHECKING:
    from hwfit.artifacts import Manifest
    from hwfit.models.detection import Detections

__all__ = ["detections_json", "detections_table", "predict_json", "predict_table"]


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


def detections_table(
    manifest: Manifest, images: Sequence[str], found: Sequence[Detections], top_k: int
) -> Table:
    """One row per image and detection (the ``top_k`` highest scores): label, score, box."""
    table = Table(
        title=f"{manifest.runtime} {manifest.precision['executed']} "
        f"({manifest.source.get('model')}; boxes x1,y1,x2,y2 in image pixels)",
        title_justify="left",
    )
    for col in ("image", "rank", "label", "score", "box"):
        table.add_column(col, overflow="fold")
    for img, detections in zip(images, found, strict=True):
        if len(detections.scores) == 0:
            table.add_row(img, "-", "-", "-", "nothing detected")
        for rank in range(min(top_k, len(detections.scores))):
            box = ", ".join(f"{v:.1f}" for v in detections.boxes[rank])
            table.add_row(
                img if rank == 0 else "",
                str(rank + 1),
                str(int(detections.labels[rank])),
                f"{float(detections.scores[rank]):.3f}",
                box,
            )
    return table


def detections_json(
    images: Sequence[str], found: Sequence[Detections], top_k: int
) -> list[dict[str, object]]:
    """The ``--json`` output of a detector: per image, its best detections."""
    return [
        {
            "image": img,
            "detections": [
                {
                    "label": int(d.labels[i]),
                    "score": float(d.scores[i]),
                    "box": [float(v) for v in d.boxes[i]],
                }
                for i in range(min(top_k, len(d.scores)))
            ],
        }
        for img, d in zip(images, found, strict=True)
    ]
