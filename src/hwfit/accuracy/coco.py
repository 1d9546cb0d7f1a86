"""COCO-format detection data, and mAP through faster-coco-eval (COCOeval, in C++).

A COCO folder holds images and their annotations: ``instances.json`` in the folder, or
``annotations/instances_<split>.json`` (COCO's own layout) with the images in the folder, in
``images/`` or in ``<split>/``. :func:`read_coco` lists it; :func:`coco_map` scores detections
against its boxes, or, for images without annotations, against the FP32 model's own
confident detections (:func:`pseudo_ground_truth`: the label-free guard of a detector).
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hwfit.errors import UserError, first_line

if TYPE_CHECKING:
    from hwfit.models.detection import Detections

__all__ = [
    "PSEUDO_GT_SCORE",
    "CocoIndex",
    "coco_map",
    "find_annotations",
    "ground_truth",
    "pseudo_ground_truth",
    "read_coco",
]

#: Detections of the FP32 model scoring at least this are the label-free guard's boxes.
PSEUDO_GT_SCORE = 0.3


@dataclasses.dataclass(frozen=True)
class CocoIndex:
    """The images a COCO annotation file lists, in its order, with their files found.

    Attributes:
        annotations: The annotation file.
        files: Each image's file.
        image_ids: Each image's COCO id.
        sizes: Each image's ``(height, width)`` as the file records it.
    """

    annotations: Path
    files: tuple[Path, ...]
    image_ids: tuple[int, ...]
    sizes: tuple[tuple[int, int], ...]


def find_annotations(folder: Path) -> Path | None:
    """The COCO annotation file of a data folder, or None when it is not a COCO folder."""
    direct = folder / "instances.json"
    if direct.is_file():
        return direct
    found = sorted((folder / "annotations").glob("instances*.json"))
    return found[0] if found else None


def read_coco(folder: Path) -> CocoIndex | None:
    """List a COCO folder's images; None when ``folder`` holds no annotation file.

    Raises:
        UserError: The annotation file is not valid COCO JSON, lists no images, or names image
            files that are not there (the first is named).
    """
    annotations = find_annotations(folder)
    if annotations is None:
        return None
    data = _read_json(annotations)
    images = data.get("images")
    if not isinstance(images, list) or not images:
        raise UserError(
            f"{str(annotations)!r} lists no images.",
            hint='A COCO file has "images", "annotations" and "categories" lists.',
        )
    split = annotations.stem.removeprefix("instances").lstrip("_")
    roots = [folder, folder / "images", *([folder / split] if split else [])]
    files, ids, sizes = [], [], []
    for image in images:
        try:
            name, image_id = str(image["file_name"]), int(image["id"])
            size = (int(image["height"]), int(image["width"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise UserError(
                f"An image entry of {str(annotations)!r} lacks {first_line(exc)}: {image!r:.80}",
                hint="Each COCO image needs id, file_name, height and width.",
            ) from exc
        found = next((root / name for root in roots if (root / name).is_file()), None)
        if found is None:
            raise UserError(
                f"Image {name!r} of {str(annotations)!r} is not in "
                f"{' or '.join(repr(str(r)) for r in roots)}.",
                hint="Put the images next to the annotations, in images/, or in the folder "
                "named after the split (val2017/ for instances_val2017.json).",
            )
        files.append(found)
        ids.append(image_id)
        sizes.append(size)
    return CocoIndex(annotations, tuple(files), tuple(ids), tuple(sizes))


def ground_truth(annotations: Path, image_ids: Sequence[int]) -> dict[str, Any]:
    """The COCO dataset dict of ``annotations``, narrowed to ``image_ids``."""
    data = _read_json(annotations)
    keep = {int(i) for i in image_ids}
    return {
        "images": [im for im in data.get("images", []) if int(im["id"]) in keep],
        "annotations": [
            a for a in data.get("annotations", []) if int(a.get("image_id", -1)) in keep
        ],
        "categories": list(data.get("categories", [])),
    }


def pseudo_ground_truth(
    detections: Sequence[Detections], size: tuple[int, int], num_classes: int
) -> dict[str, Any]:
    """The FP32 model's confident detections (score >= :data:`PSEUDO_GT_SCORE`) as boxes to find.

    Images are numbered from 0; boxes stay in input pixels (``size``).
    """
    images = [{"id": i, "height": size[0], "width": size[1]} for i in range(len(detections))]
    annotations: list[dict[str, Any]] = []
    for image_id, found in enumerate(detections):
        for box, score, label in zip(found.boxes, found.scores, found.labels, strict=True):
            if score >= PSEUDO_GT_SCORE:
                x1, y1, x2, y2 = (float(v) for v in box)
                annotations.append(
                    {
                        "id": len(annotations) + 1,
                        "image_id": image_id,
                        "category_id": int(label),
                        "bbox": [x1, y1, x2 - x1, y2 - y1],
                        "area": (x2 - x1) * (y2 - y1),
                        "iscrowd": 0,
                    }
                )
    categories = [{"id": c, "name": str(c)} for c in range(1, num_classes)]
    return {"images": images, "annotations": annotations, "categories": categories}


def coco_map(
    truth: dict[str, Any], detections: Sequence[Detections], image_ids: Sequence[int]
) -> dict[str, float]:
    """mAP@[.5:.95] and mAP@.5, in percent, with faster-coco-eval's ``COCOeval_faster`` (bbox).

    faster-coco-eval is pycocotools' ``COCOeval`` with its per-image matching and accumulation
    in C++: the same figures (compared by hand with pycocotools 2.0.11 on SSDlite detections:
    equal to the last digit), about 70 times faster at 300 detections per image, which NNCF's
    accuracy control, calling it for every layer it ranks, needs.

    Args:
        truth: The COCO dataset dict (:func:`ground_truth` or :func:`pseudo_ground_truth`).
        detections: One per image, in the order of ``image_ids``, in the truth's coordinates.
        image_ids: The COCO id of each image.

    Returns:
        ``{"map": ..., "map50": ...}``; 0 when nothing was detected. Every detection counts
        (COCO's own cut at 100 per image is raised to the most an image has).

    Raises:
        UserError: The truth has no boxes at all (there is nothing to find).
    """
    from hwfit._environ import environment_kept

    with environment_kept():  # it imports OpenCV where installed, which edits LD_LIBRARY_PATH
        from faster_coco_eval import COCO, COCOeval_faster

    if not truth["annotations"]:
        raise UserError(
            "There are no boxes to find in these images, so mAP is undefined.",
            hint="Give annotated images, or images the FP32 model detects objects in.",
        )
    results = []
    for image_id, found in zip(image_ids, detections, strict=True):
        for box, score, label in zip(found.boxes, found.scores, found.labels, strict=True):
            x1, y1, x2, y2 = (float(v) for v in box)
            results.append(
                {
                    "image_id": int(image_id),
                    "category_id": int(label),
                    "bbox": [x1, y1, x2 - x1, y2 - y1],
                    "score": float(score),
                }
            )
    if not results:
        return {"map": 0.0, "map50": 0.0}
    with contextlib.redirect_stdout(io.StringIO()):  # the evaluator reports its progress
        gt = COCO({k: list(v) for k, v in truth.items()})
        dt = gt.loadRes(results)
        evaluation = COCOeval_faster(gt, dt, "bbox", print_function=lambda *_: None)
        evaluation.params.imgIds = [int(i) for i in image_ids]
        # COCO's default counts the best 100 detections of an image; a detector keeping more
        # (SSDlite: 300), against boxes that are its own FP32 detections, needs them all.
        most = max([len(found.boxes) for found in detections] + [100])
        evaluation.params.maxDets = [1, 10, most]
        evaluation.evaluate()
        evaluation.accumulate()
    # What COCOeval.summarize() prints as AP and AP50 (all areas), at the raised detection cut:
    # precision is [IoU thresholds, recall points, categories, areas, detection cuts].
    precision = np.asarray(evaluation.eval["precision"])[:, :, :, 0, -1]
    iou_50 = int(np.argmin(np.abs(evaluation.params.iouThrs - 0.5)))
    return {"map": _mean_valid(precision), "map50": _mean_valid(precision[iou_50])}


def _mean_valid(precision: np.ndarray) -> float:
    """The mean of the defined precisions (COCOeval marks categories without boxes -1), in %."""
    valid = precision[precision > -1]
    return float(np.mean(valid) * 100) if valid.size else 0.0


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(
            f"Cannot read COCO annotations {str(path)!r}: {first_line(exc)}",
            hint="Give a COCO instances JSON file.",
        ) from exc
    if not isinstance(data, dict):
        raise UserError(f"{str(path)!r} is not a COCO annotation file (not a JSON object).")
    return data
