"""Object detectors: torchvision's SSD family as a network plus a post-processing step.

A torchvision detector takes a list of images and returns a list of dicts of boxes; its
network part is a plain tensor function. hwfit runs, exports, quantizes and times that part:
:class:`~hwfit.models._ssd_network.SSDNetwork` maps preprocessed ``(N, 3, H, W)`` images to
the raw head outputs ``(class logits (N, A, classes), box regression (N, A, 4))``, one per
default box (anchor).
The post-processing (softmax, box decoding against the anchors, per-class top-k and NMS) runs
outside the timed graph, in :class:`DetectionDecoder`, exactly as torchvision's
``SSD.postprocess_detections`` does it, with ``torchvision.ops``; the decoder's anchors and
settings are plain arrays and numbers (an ``.npz`` an artifact ships, no code).

Built with ``weights=None`` and ``weights_backbone=None``: nothing is downloaded. The
preprocessing is the model's own transform: resize to the fixed input size (aspect not kept)
and normalise with its mean and std.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from hwfit.errors import ModelSourceError

__all__ = [
    "DETECTORS",
    "POSTPROCESS",
    "DetectionDecoder",
    "Detections",
    "DetectorSpec",
    "build_detector",
    "detection_decoder",
    "detector_spec",
]

POSTPROCESS = (
    "outside the timed graph: softmax, box decoding against the default boxes, per-class "
    "top-k and NMS (torchvision.ops), as torchvision's SSD does it"
)


@dataclasses.dataclass(frozen=True)
class DetectorSpec:
    """A torchvision detector hwfit knows: its input size and normalisation.

    Attributes:
        size: The fixed input ``(H, W)`` its transform resizes to.
        mean: Per-channel mean of its transform (on images scaled to [0, 1]).
        std: Per-channel std of its transform.
    """

    size: tuple[int, int]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]


#: The detectors of the SSD family (single-stage, fixed-size raw outputs), by torchvision name.
DETECTORS: dict[str, DetectorSpec] = {
    "ssdlite320_mobilenet_v3_large": DetectorSpec((320, 320), (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
    "ssd300_vgg16": DetectorSpec(
        (300, 300), (0.48235, 0.45882, 0.40784), (1 / 255.0, 1 / 255.0, 1 / 255.0)
    ),
}


def detection_decoder(source: str) -> DetectionDecoder | None:
    """The post-processing of a detector hwfit knows (``torchvision:ssdlite320_...``), or None.

    Its default boxes depend on the architecture and input size only, not on the weights.
    """
    if detector_spec(source) is None:
        return None
    return build_detector(source.removeprefix("torchvision:"))[1]


def build_detector(name: str) -> tuple[Any, DetectionDecoder]:
    """A torchvision SSD's network part (a ``torch.nn.Module``) and its post-processing.

    Random weights (``weights=None, weights_backbone=None``): nothing is downloaded.

    Raises:
        ModelSourceError: ``name`` is not one of :data:`DETECTORS`.
    """
    spec = DETECTORS.get(name)
    if spec is None:
        raise ModelSourceError(
            f"{name!r} is not a detector hwfit runs; known: {', '.join(sorted(DETECTORS))}."
        )
    from hwfit.models._ssd_network import build_ssd  # PyTorch: only for a detector

    network, settings = build_ssd(name, spec.size)
    return network, DetectionDecoder(**settings)


def detector_spec(source: str) -> DetectorSpec | None:
    """The detector spec of a model source (``torchvision:ssd300_vgg16``), None for others."""
    if not source.startswith("torchvision:"):
        return None
    return DETECTORS.get(source.removeprefix("torchvision:"))


@dataclasses.dataclass(frozen=True)
class Detections:
    """One image's detections, in its own pixel coordinates.

    Attributes:
        boxes: ``(K, 4)`` boxes as ``x1, y1, x2, y2``.
        scores: ``(K,)`` confidences in [0, 1], highest first.
        labels: ``(K,)`` class indices (0 is the background; COCO's category ids for the
            torchvision detectors).
    """

    boxes: npt.NDArray[np.float32]
    scores: npt.NDArray[np.float32]
    labels: npt.NDArray[np.int64]


@dataclasses.dataclass(frozen=True)
class DetectionDecoder:
    """The post-processing of an SSD: raw head outputs to boxes, scores and labels.

    Attributes:
        anchors: ``(A, 4)`` default boxes, ``x1, y1, x2, y2`` in input pixels.
        size: The input ``(H, W)`` the anchors are for.
        box_weights: The box coder's weights (torchvision's SSD: 10, 10, 5, 5).
        score_thresh: Detections scoring at most this are dropped.
        nms_thresh: IoU above which NMS drops the lower-scoring box of a class.
        topk_candidates: Best boxes per class kept before NMS.
        detections_per_img: Best detections kept after NMS.
    """

    anchors: npt.NDArray[np.float32]
    size: tuple[int, int]
    box_weights: tuple[float, float, float, float] = (10.0, 10.0, 5.0, 5.0)
    score_thresh: float = 0.01
    nms_thresh: float = 0.45
    topk_candidates: int = 400
    detections_per_img: int = 200

    def save(self, path: Path) -> None:
        """Write the decoder as an ``.npz`` of plain arrays (no pickles)."""
        np.savez(
            path,
            anchors=self.anchors.astype(np.float32),
            size=np.asarray(self.size, np.int64),
            box_weights=np.asarray(self.box_weights, np.float64),
            thresholds=np.asarray([self.score_thresh, self.nms_thresh], np.float64),
            counts=np.asarray([self.topk_candidates, self.detections_per_img], np.int64),
        )

    @classmethod
    def load(cls, path: Path) -> DetectionDecoder:
        """Read a decoder :meth:`save` wrote; pickled content is refused.

        Raises:
            ModelSourceError: The file is missing, or not a decoder.
        """
        try:
            with np.load(path, allow_pickle=False) as data:
                weights = tuple(float(w) for w in data["box_weights"])
                return cls(
                    anchors=np.asarray(data["anchors"], np.float32),
                    size=(int(data["size"][0]), int(data["size"][1])),
                    box_weights=(weights[0], weights[1], weights[2], weights[3]),
                    score_thresh=float(data["thresholds"][0]),
                    nms_thresh=float(data["thresholds"][1]),
                    topk_candidates=int(data["counts"][0]),
                    detections_per_img=int(data["counts"][1]),
                )
        except (OSError, KeyError, ValueError, IndexError) as exc:
            raise ModelSourceError(
                f"Cannot read the detection post-processing {str(path)!r}: {exc}",
                hint="Point to a folder `hwfit optimize --out` wrote, its files unedited.",
            ) from exc

    def decode(
        self,
        cls_logits: npt.ArrayLike,
        bbox_regression: npt.ArrayLike,
        image_sizes: Sequence[tuple[int, int]] | None = None,
    ) -> list[Detections]:
        """Raw head outputs of a batch to each image's detections.

        Args:
            cls_logits: ``(N, A, classes)``.
            bbox_regression: ``(N, A, 4)``.
            image_sizes: Each image's original ``(H, W)``: boxes are scaled to it. None keeps
                them in input pixels.

        Returns:
            One :class:`Detections` per image.
        """
        import torch
        from torchvision.models.detection import _utils as det_utils
        from torchvision.ops import boxes as box_ops

        logits = torch.as_tensor(np.asarray(cls_logits, np.float32))
        regression = torch.as_tensor(np.asarray(bbox_regression, np.float32))
        anchors = torch.as_tensor(self.anchors)
        coder = det_utils.BoxCoder(weights=self.box_weights)
        scores_all = torch.softmax(logits, dim=-1)
        results = []
        for index in range(logits.shape[0]):
            boxes = coder.decode_single(regression[index], anchors)
            boxes = box_ops.clip_boxes_to_image(boxes, self.size)
            kept_boxes, kept_scores, kept_labels = [], [], []
            for label in range(1, scores_all.shape[-1]):
                score = scores_all[index, :, label]
                keep = score > self.score_thresh
                score, box = score[keep], boxes[keep]
                score, order = score.topk(min(self.topk_candidates, score.numel()))
                kept_boxes.append(box[order])
                kept_scores.append(score)
                kept_labels.append(torch.full_like(score, label, dtype=torch.int64))
            all_boxes = torch.cat(kept_boxes)
            all_scores = torch.cat(kept_scores)
            all_labels = torch.cat(kept_labels)
            keep = box_ops.batched_nms(all_boxes, all_scores, all_labels, self.nms_thresh)
            keep = keep[: self.detections_per_img]
            out = all_boxes[keep].numpy().astype(np.float32)
            if image_sizes is not None:
                height, width = image_sizes[index]
                scale = np.array(
                    [width / self.size[1], height / self.size[0]] * 2, dtype=np.float32
                )
                out = out * scale
            results.append(
                Detections(
                    boxes=out,
                    scores=all_scores[keep].numpy().astype(np.float32),
                    labels=all_labels[keep].numpy().astype(np.int64),
                )
            )
        return results
