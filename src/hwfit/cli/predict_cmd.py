"""``hwfit predict``: run an optimized artifact on images with its recorded settings."""

from __future__ import annotations

from typing import Annotated

import typer

__all__ = ["predict"]


def predict(
    folder: Annotated[str, typer.Argument(help="A folder written by `hwfit optimize --out`.")],
    images: Annotated[list[str], typer.Argument(help="Image files.")],
    top_k: Annotated[int, typer.Option(help="Classes to show per image.")] = 5,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Print the top-k classes of each image, running the artifact as hwfit.json says."""
    from rich.table import Table

    import hwfit
    from hwfit.cli.render import console, print_json

    predictor = hwfit.load(folder)
    results = predictor.classify(images, top_k=top_k)
    if json_out:
        print_json(
            [
                {"image": img, "top": [{"class": c, "probability": p} for c, p in top]}
                for img, top in zip(images, results, strict=True)
            ]
        )
        return
    m = predictor.manifest
    table = Table(
        title=f"{m.runtime} {m.precision['executed']} ({m.source['model']})", title_justify="left"
    )
    for col in ("image", "rank", "class", "probability"):
        table.add_column(col, overflow="fold")  # never cut a path or a number
    for img, top in zip(images, results, strict=True):
        for rank, (cls, prob) in enumerate(top, 1):
            table.add_row(img if rank == 1 else "", str(rank), cls, f"{prob:.3f}")
    console().print(table)
