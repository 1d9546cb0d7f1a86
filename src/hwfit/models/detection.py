"""Object detectors: torchvision's single-stage detectors as a network plus post-processing.

A torchvision detector takes a list of images and returns a list of dicts of boxes; its
network part is a plain tensor function. hwfit runs, exports, quantizes and times that part:
:class:`~hwfit.models._ssd_network.SSDNetwork` maps preprocessed ``(N, 3, H, W)`` images to
the raw head outputs ``(class logits (N, A, classes), box regression (N, A, 4))``, one per
default box (anchor). Two heads are known: the SSD family's (softmax over classes with a
background class, top-k per class) and RetinaNet's (sigmoid per class, top-k per feature
level).
The post-processing (scores, box decoding against the anchors, top-k and NMS) runs outside the
timed graph, in :class:`DetectionDecoder`, exactly as torchvision's
``SSD.postprocess_detections`` / ``RetinaNet.postprocess_detections`` do it, with
``torchvision.ops``; the decoder's anchors and settings are plain arrays and numbers (an
``.npz`` an artifact ships, no code).

Built with ``weights=None`` and ``weights_backbone=None``: nothing is downloaded. The
preprocessing is resize to the fixed input size (aspect not kept) and normalise with the
model's mean and std. For RetinaNet that differs from torchvision's own transform, which keeps
the aspect (shorter side 800 px, longer at most 1333) and pads to a multiple of 32: hwfit runs
a fixed 800x800 input, so its network is one static graph.

Two-stage detectors (Faster R-CNN) are not run: their second stage works on proposals chosen
by NMS inside the network, so there is no fixed-shape network part to time and quantize apart
from the post-processing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from hwfit.errors import ModelSourceError, first_line

__all__ = [
    "DETECTORS",
    "POSTPROCESS",
    "DetectionDecoder",
    "Detections",
    "DetectorSpec",
    "build_detector",
    "class_axis",
    "detection_decoder",
    "detector_spec",
]

#: Where each head's post-processing runs, and what it is (reports and manifests say it).
POSTPROCESS: dict[str, str] = {
    "ssd": "outside the timed graph: softmax, top-k per class, box decoding against the "
    "default boxes and NMS (torchvision.ops), as torchvision's SSD does it",
    "retinanet": "outside the timed graph: sigmoid, top-k per feature level, box decoding "
    "against the anchors and NMS (torchvision.ops), as torchvision's RetinaNet does it",
    "in_graph": "inside the timed graph (the whole detector, NMS included, its detections "
    "padded to a fixed count); outside it only the padding is dropped",
    "yolo": "outside the timed graph: NMS per class (torchvision.ops) with Ultralytics' "
    "validation settings; the box decoding is inside the graph, as Ultralytics exports it",
}


@dataclasses.dataclass(frozen=True)
class DetectorSpec:
    """A torchvision detector hwfit knows: its input size and normalisation.

    Attributes:
        size: The fixed input ``(H, W)`` its transform resizes to.
        mean: Per-channel mean of its transform (on images scaled to [0, 1]).
        std: Per-channel std of its transform.
        head: How its outputs become boxes (:class:`DetectionDecoder`): ``"ssd"`` (softmax
            with a background class), ``"retinanet"`` (sigmoid per class, top-k per feature
            level), ``"in_graph"`` (the post-processing is inside the network: Faster R-CNN)
            or ``"yolo"`` (decoded boxes and class scores per anchor point; NMS outside).
        library: The package that builds it: ``torchvision`` or ``ultralytics`` (the model
            source is ``<library>:<name>``).
    """

    size: tuple[int, int]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    head: str = "ssd"
    library: str = "torchvision"

    @property
    def outputs(self) -> int:
        """How many outputs its network gives."""
        return _OUTPUTS[self.head]

    @property
    def postprocess(self) -> str:
        """Where its post-processing runs, and what it is."""
        return POSTPROCESS[self.head]


_HEADS = tuple(POSTPROCESS)
#: How many outputs each head's network gives, in the order :meth:`DetectionDecoder.decode`
#: takes them.
_OUTPUTS = {"ssd": 2, "retinanet": 2, "in_graph": 3, "yolo": 1}
_ZERO = (0.0, 0.0, 0.0)
_ONE = (1.0, 1.0, 1.0)

_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)

#: The detectors hwfit runs, by name (the model source is ``<library>:<name>``).
DETECTORS: dict[str, DetectorSpec] = {
    "ssdlite320_mobilenet_v3_large": DetectorSpec((320, 320), (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
    "ssd300_vgg16": DetectorSpec(
        (300, 300), (0.48235, 0.45882, 0.40784), (1 / 255.0, 1 / 255.0, 1 / 255.0)
    ),
    "retinanet_resnet50_fpn": DetectorSpec((800, 800), _IMAGENET_MEAN, _IMAGENET_STD, "retinanet"),
    "retinanet_resnet50_fpn_v2": DetectorSpec(
        (800, 800), _IMAGENET_MEAN, _IMAGENET_STD, "retinanet"
    ),
    "fasterrcnn_mobilenet_v3_large_320_fpn": DetectorSpec(
        (320, 320), _IMAGENET_MEAN, _IMAGENET_STD, "in_graph"
    ),
    **{
        name: DetectorSpec((640, 640), _ZERO, _ONE, "yolo", "ultralytics")
        for name in ("yolov8n", "yolov8s", "yolov8m", "yolo11n", "yolo11s")
    },
}


def detection_decoder(source: str) -> DetectionDecoder | None:
    """The post-processing of a detector hwfit knows (``torchvision:ssdlite320_...``), or None.

    Its default boxes depend on the architecture and input size only, not on the weights.
    """
    if detector_spec(source) is None:
        return None
    return build_detector(source.partition(":")[2])[1]


def build_detector(name: str) -> tuple[Any, DetectionDecoder]:
    """A detector's network part (a ``torch.nn.Module``) and its post-processing.

    Random weights (torchvision: ``weights=None, weights_backbone=None``; Ultralytics: built
    from its architecture file): nothing is downloaded.

    Raises:
        ModelSourceError: ``name`` is not one of :data:`DETECTORS`, or its library is not
            installed.
    """
    spec = DETECTORS.get(name)
    if spec is None:
        raise ModelSourceError(
            f"{name!r} is not a detector hwfit runs; known: {', '.join(sorted(DETECTORS))}."
        )
    # PyTorch and the detector's library: only imported for a detector.
    from hwfit.models import _detector_networks as networks

    network: Any
    if spec.head == "in_graph":
        network, settings = networks.build_in_graph(name, spec.size)
    elif spec.head == "yolo":
        try:
            network, settings = networks.build_yolo(name, spec.size)
        except ImportError as exc:
            raise ModelSourceError(
                f"ultralytics:{name} needs the ultralytics package ({first_line(exc)}).",
                hint="pip install 'hwfit[yolo]' (Ultralytics is AGPL-3.0 licensed).",
            ) from exc
    else:
        network, settings = networks.build_ssd(name, spec.size, head=spec.head)
    return network, DetectionDecoder(**settings)


def class_axis(decoder: DetectionDecoder | None) -> int | None:
    """The class axis of a model's first output, given its detector post-processing or None.

    1 (``(N, classes, ...)``) for a model that is not a detector; the decoder's own for one
    (an SSD's last axis; None where the first output holds boxes).
    """
    return 1 if decoder is None else decoder.class_axis


def detector_spec(source: str) -> DetectorSpec | None:
    """The detector spec of a model source (``torchvision:ssd300_vgg16``), None for others."""
    library, _, name = source.partition(":")
    spec = DETECTORS.get(name)
    return spec if spec is not None and spec.library == library else None


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
    """The post-processing of a single-stage detector: raw head outputs to boxes and labels.

    Attributes:
        anchors: ``(A, 4)`` default boxes, ``x1, y1, x2, y2`` in input pixels.
        size: The input ``(H, W)`` the anchors are for.
        box_weights: The box coder's weights (torchvision's SSD: 10, 10, 5, 5).
        score_thresh: Detections scoring at most this are dropped.
        nms_thresh: IoU above which NMS drops the lower-scoring box of a class.
        topk_candidates: Best boxes per class (SSD) or per feature level (RetinaNet) kept
            before NMS.
        detections_per_img: Best detections kept after NMS.
        head: ``"ssd"``: softmax scores, class 0 the background, top-k per class;
            ``"retinanet"``: sigmoid scores per class, top-k per feature level;
            ``"in_graph"``: the network did it all (boxes, scores, labels padded with zero
            scores): only the padding is dropped; ``"yolo"``: decoded boxes (centre, size)
            and class scores per anchor point: every (point, class) scoring above the
            threshold, top-k, NMS per class (Ultralytics' validation settings).
        level_sizes: Anchors per feature level, in order (RetinaNet's top-k is per level);
            empty for the other heads.
        num_classes: Label ids run from 0 to this minus one (COCO's 91 for every built-in).
        label_map: The label id of each class index, when they differ (YOLO's 80 classes
            to COCO's category ids); empty: the index is the id.
    """

    anchors: npt.NDArray[np.float32]
    size: tuple[int, int]
    box_weights: tuple[float, float, float, float] = (10.0, 10.0, 5.0, 5.0)
    score_thresh: float = 0.01
    nms_thresh: float = 0.45
    topk_candidates: int = 400
    detections_per_img: int = 200
    head: str = "ssd"
    level_sizes: tuple[int, ...] = ()
    num_classes: int = 91
    label_map: tuple[int, ...] = ()

    @property
    def outputs(self) -> int:
        """How many outputs of the network it decodes (an unknown head: decode refuses it)."""
        return _OUTPUTS.get(self.head, 2)

    @property
    def postprocess(self) -> str:
        """Where the post-processing runs, and what it is."""
        return POSTPROCESS.get(self.head, self.head)

    @property
    def class_axis(self) -> int | None:
        """The class axis of the first output (None: that output is not class scores)."""
        return -1 if self.head in ("ssd", "retinanet") else None

    def save(self, path: Path) -> None:
        """Write the decoder as an ``.npz`` of plain arrays (no pickles)."""
        np.savez(
            path,
            anchors=self.anchors.astype(np.float32),
            size=np.asarray(self.size, np.int64),
            box_weights=np.asarray(self.box_weights, np.float64),
            thresholds=np.asarray([self.score_thresh, self.nms_thresh], np.float64),
            counts=np.asarray([self.topk_candidates, self.detections_per_img], np.int64),
            head=np.asarray(self.head),
            level_sizes=np.asarray(self.level_sizes, np.int64),
            num_classes=np.asarray(self.num_classes, np.int64),
            label_map=np.asarray(self.label_map, np.int64),
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
                    head=str(data["head"]) if "head" in data else "ssd",
                    level_sizes=tuple(int(n) for n in data["level_sizes"])
                    if "level_sizes" in data
                    else (),
                    num_classes=int(data["num_classes"]) if "num_classes" in data else 91,
                    label_map=tuple(int(n) for n in data["label_map"])
                    if "label_map" in data
                    else (),
                )
        except (OSError, KeyError, ValueError, IndexError) as exc:
            raise ModelSourceError(
                f"Cannot read the detection post-processing {str(path)!r}: {exc}",
                hint="Point to a folder `hwfit optimize --out` wrote, its files unedited.",
            ) from exc

    def decode(
        self,
        outputs: Sequence[npt.ArrayLike],
        image_sizes: Sequence[tuple[int, int]] | None = None,
    ) -> list[Detections]:
        """The network's outputs for a batch to each image's detections.

        Args:
            outputs: The network's outputs, in order (:attr:`outputs` of them): SSD and
                RetinaNet: class logits ``(N, A, classes)``, box regression ``(N, A, 4)``;
                in-graph: boxes ``(N, K, 4)``, scores ``(N, K)``, labels ``(N, K)``; YOLO:
                ``(N, 4 + classes, A)``.
            image_sizes: Each image's original ``(H, W)``: boxes are scaled to it. None keeps
                them in input pixels.

        Returns:
            One :class:`Detections` per image.

        Raises:
            ModelSourceError: The outputs are not this detector's (their number), or the
                head is unknown (an edited file).
        """
        import torch
        from torchvision.models.detection import _utils as det_utils
        from torchvision.ops import boxes as box_ops

        if self.head not in _HEADS:
            raise ModelSourceError(
                f"Unknown detection head {self.head!r}; known: {', '.join(_HEADS)}.",
                hint="Point to a folder `hwfit optimize --out` wrote, its files unedited.",
            )
        if len(outputs) != self.outputs:
            raise ModelSourceError(
                f"A {self.head} detector's post-processing takes {self.outputs} outputs, "
                f"not {len(outputs)}.",
                hint="Decode the outputs of the detector this post-processing came with.",
            )
        tensors = [torch.as_tensor(np.asarray(o, np.float32)) for o in outputs]
        anchors = torch.as_tensor(self.anchors)
        coder = det_utils.BoxCoder(weights=self.box_weights)
        results = []
        for index in range(tensors[0].shape[0]):
            mine = [t[index] for t in tensors]
            if self.head == "in_graph":
                all_boxes, all_scores, labels = mine
                keep = torch.where(all_scores > self.score_thresh)[0]  # drops the padding
                all_labels = labels.round().to(torch.int64)
            else:
                if self.head == "yolo":
                    found = self._yolo_candidates(mine[0])
                elif self.head == "retinanet":
                    found = self._retinanet_candidates(mine[0], mine[1], anchors, coder)
                else:
                    found = self._ssd_candidates(mine[0], mine[1], anchors, coder)
                all_boxes, all_scores, all_labels = found
                keep = box_ops.batched_nms(all_boxes, all_scores, all_labels, self.nms_thresh)
            keep = keep[: self.detections_per_img]
            kept = all_boxes[keep]
            if self.head == "yolo":  # Ultralytics clips after NMS
                kept = box_ops.clip_boxes_to_image(kept, self.size)
            out = kept.numpy().astype(np.float32)
            labels_out = all_labels[keep].numpy().astype(np.int64)
            if self.label_map:
                labels_out = np.asarray(self.label_map, np.int64)[labels_out]
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
                    labels=labels_out,
                )
            )
        return results

    def _yolo_candidates(self, prediction: Any) -> Any:
        """One image's boxes before NMS, as Ultralytics' ``non_max_suppression`` keeps them.

        Its validation settings: every (anchor point, class) pair scoring above the threshold
        (multi-label), the best ``topk_candidates`` of them.
        """
        import torch
        from torchvision.ops import boxes as box_ops

        boxes = box_ops.box_convert(prediction[:4].T, "cxcywh", "xyxy")
        scores = prediction[4:].T  # (points, classes)
        point, label = torch.where(scores > self.score_thresh)
        found = scores[point, label]
        found, order = found.topk(min(self.topk_candidates, int(found.numel())))
        return boxes[point[order]], found, label[order]

    def _ssd_candidates(self, logits: Any, regression: Any, anchors: Any, coder: Any) -> Any:
        """One image's boxes before NMS, as ``SSD.postprocess_detections`` keeps them."""
        import torch
        from torchvision.ops import boxes as box_ops

        scores_all = torch.softmax(logits, dim=-1)
        boxes = coder.decode_single(regression, anchors)
        boxes = box_ops.clip_boxes_to_image(boxes, self.size)
        kept_boxes, kept_scores, kept_labels = [], [], []
        for label in range(1, scores_all.shape[-1]):
            score = scores_all[:, label]
            keep = score > self.score_thresh
            score, box = score[keep], boxes[keep]
            score, order = score.topk(min(self.topk_candidates, score.numel()))
            kept_boxes.append(box[order])
            kept_scores.append(score)
            kept_labels.append(torch.full_like(score, label, dtype=torch.int64))
        return torch.cat(kept_boxes), torch.cat(kept_scores), torch.cat(kept_labels)

    def _retinanet_candidates(self, logits: Any, regression: Any, anchors: Any, coder: Any) -> Any:
        """One image's boxes before NMS, as ``RetinaNet.postprocess_detections`` keeps them."""
        import torch
        from torchvision.ops import boxes as box_ops

        sizes = list(self.level_sizes) or [int(logits.shape[0])]
        kept_boxes, kept_scores, kept_labels = [], [], []
        for level_logits, level_regression, level_anchors in zip(
            logits.split(sizes), regression.split(sizes), anchors.split(sizes), strict=True
        ):
            classes = level_logits.shape[-1]
            scores = torch.sigmoid(level_logits).flatten()
            keep = scores > self.score_thresh
            scores = scores[keep]
            candidates = torch.where(keep)[0]
            scores, order = scores.topk(min(self.topk_candidates, int(candidates.numel())))
            candidates = candidates[order]
            anchor_index = torch.div(candidates, classes, rounding_mode="floor")
            boxes = coder.decode_single(
                level_regression[anchor_index], level_anchors[anchor_index]
            )
            kept_boxes.append(box_ops.clip_boxes_to_image(boxes, self.size))
            kept_scores.append(scores)
            kept_labels.append(candidates % classes)
        return torch.cat(kept_boxes), torch.cat(kept_scores), torch.cat(kept_labels)
