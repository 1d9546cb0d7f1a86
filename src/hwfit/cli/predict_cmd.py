"""``hwfit predict``: run an optimized artifact on images with its recorded settings."""

from __future__ import annotations

from typing import Annotated

import typer

__all__ = ["predict"]


def predict(
    folder: Annotated[str, typer.Argument(help="A folder written by `hwfit optimize --out`.")],
    images: Annotated[list[str], typer.Argument(help="Image files.")],
    top_k: Annotated[
        int, typer.Option(help="Classes (a detector: detections) to show per image.")
    ] = 5,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Print the top-k classes (a detector: boxes) of each image, run as hwfit.json says."""
    import hwfit
    from hwfit.cli.render import console, print_json
    from hwfit.cli.render.predict import (
        detections_json,
        detections_table,
        predict_json,
        predict_table,
    )

    predictor = hwfit.load(folder)
    if predictor.is_detector:
        found = predictor.detect(images)
        if json_out:
            print_json(detections_json(images, found, top_k))
            return
        console().print(detections_table(predictor.manifest, images, found, top_k))
        return
    results = predictor.classify(images, top_k=top_k)
    if json_out:
        print_json(predict_json(images, results))
        return
    console().print(predict_table(predictor.manifest, images, results))
