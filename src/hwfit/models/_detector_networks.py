"""The network parts of the detectors hwfit runs (see :mod:`hwfit.models.detection`).

Three shapes of network, each a plain tensor function of preprocessed ``(N, 3, H, W)`` images:

* :class:`SSDNetwork` (torchvision's SSDs and RetinaNets): the head's raw outputs, class logits
  and box regression per default box; decoding and NMS run outside, in the decoder.
* :class:`InGraphDetector` (torchvision's Faster R-CNN): the whole detector, post-processing
  included, its detections padded to a fixed count so every output has a fixed shape.
* :class:`YoloNetwork` (Ultralytics YOLO): boxes (centre, size) and class scores per anchor
  point, decoded inside the graph as Ultralytics exports it; only NMS runs outside.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

import numpy as np
import torch
import torchvision
from torch import nn

__all__ = [
    "InGraphDetector",
    "SSDNetwork",
    "YoloNetwork",
    "build_in_graph",
    "build_ssd",
    "build_yolo",
]


class SSDNetwork(nn.Module):
    """A detector's backbone and head: ``(N, 3, H, W)`` -> ``(class logits, box regression)``.

    The input is preprocessed (resized and normalised) already. The parameters keep the
    detector's own names (``backbone.*``, ``head.*``), so a torchvision SSD's or RetinaNet's
    state dict loads as it is.
    """

    def __init__(self, ssd: Any) -> None:
        super().__init__()
        self.backbone = ssd.backbone
        self.head = ssd.head

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The backbone's feature maps, in the head's order."""
        found = self.backbone(x)
        return list(found.values()) if isinstance(found, dict) else [found]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The head's raw outputs: class logits and box regression, per default box."""
        out = self.head(self.features(x))
        return out["cls_logits"], out["bbox_regression"]


def build_ssd(
    name: str, size: tuple[int, int], num_classes: int = 91, head: str = "ssd"
) -> tuple[SSDNetwork, dict[str, Any]]:
    """The network part of a single-stage torchvision detector and its post-processing settings.

    Random weights, built with ``weights=None, weights_backbone=None``: nothing is downloaded.
    ``head`` is ``"ssd"`` or ``"retinanet"`` (whose top-k is per feature level: the settings
    then hold the anchors per level).

    Returns:
        The network, and the settings of :class:`~hwfit.models.detection.DetectionDecoder`
        (the default boxes for the input ``size`` (H, W), the box coder's weights, thresholds).
    """
    model: Any = torchvision.models.get_model(
        name, weights=None, weights_backbone=None, num_classes=num_classes
    )
    model.eval()
    network = SSDNetwork(model).eval()
    with torch.no_grad():
        images = torch.zeros(1, 3, *size)
        features = network.features(images)
        image_list = torchvision.models.detection.image_list.ImageList(images, [size])
        anchors = model.anchor_generator(image_list, features)[0]
    level_sizes: tuple[int, ...] = ()
    if head == "retinanet":
        per_location = anchors.shape[0] // sum(f.shape[2] * f.shape[3] for f in features)
        level_sizes = tuple(int(f.shape[2] * f.shape[3] * per_location) for f in features)
    weights = tuple(float(w) for w in model.box_coder.weights)
    settings = {
        "anchors": anchors.numpy().astype(np.float32),
        "size": size,
        "box_weights": (weights[0], weights[1], weights[2], weights[3]),
        "score_thresh": float(model.score_thresh),
        "nms_thresh": float(model.nms_thresh),
        "topk_candidates": int(model.topk_candidates),
        "detections_per_img": int(model.detections_per_img),
        "head": head,
        "level_sizes": level_sizes,
        "num_classes": num_classes,
    }
    return network, settings


class InGraphDetector(nn.Module):
    """A whole torchvision detector, post-processing inside, with fixed-shape outputs.

    ``(N, 3, H, W)`` preprocessed images -> ``boxes (N, K, 4)`` (``x1, y1, x2, y2``, input
    pixels), ``scores (N, K)``, ``labels (N, K)`` (float, COCO category ids), ``K`` the
    detector's ``detections_per_img``; an image with fewer detections is padded with zero
    scores. The detector's own transform neither resizes (the input is at its size already)
    nor normalises (the preprocessing did). Exported per batch size, the images of a batch are
    separate branches of the graph. The parameters keep the detector's own names (``model.*``
    under this wrapper), so a torchvision state dict loads into :attr:`model`.
    """

    def __init__(self, model: Any, detections: int) -> None:
        super().__init__()
        self.model = model
        self.detections = detections

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Each image's detections, padded to :attr:`detections`."""
        boxes, scores, labels = [], [], []
        for found in self.model(list(x.unbind(0))):
            missing = self.detections - found["boxes"].shape[0]
            boxes.append(nn.functional.pad(found["boxes"], (0, 0, 0, missing)))
            scores.append(nn.functional.pad(found["scores"], (0, missing)))
            labels.append(nn.functional.pad(found["labels"].to(torch.float32), (0, missing)))
        return torch.stack(boxes), torch.stack(scores), torch.stack(labels)

    def load_state_dict(self, state_dict: Any, strict: bool = True, assign: bool = False) -> Any:
        """Load a wrapper's state dict, or the torchvision detector's own (``backbone.*``...)."""
        if state_dict and not any(str(k).startswith("model.") for k in state_dict):
            return self.model.load_state_dict(state_dict, strict=strict, assign=assign)
        return super().load_state_dict(state_dict, strict=strict, assign=assign)


def build_in_graph(
    name: str, size: tuple[int, int], num_classes: int = 91
) -> tuple[InGraphDetector, dict[str, Any]]:
    """A two-stage torchvision detector whole (random weights), and its decoder's settings.

    Built with ``weights=None, weights_backbone=None``: nothing is downloaded. The transform
    is set to the fixed ``size`` and to no normalisation (hwfit's preprocessing does it).
    """
    model: Any = torchvision.models.get_model(
        name, weights=None, weights_backbone=None, num_classes=num_classes
    )
    model.transform.min_size = (min(size),)
    model.transform.max_size = max(size)
    model.transform.image_mean = [0.0, 0.0, 0.0]
    model.transform.image_std = [1.0, 1.0, 1.0]
    model.eval()
    heads = model.roi_heads
    detections = int(heads.detections_per_img)
    settings = {
        "anchors": np.zeros((0, 4), np.float32),
        "size": size,
        "score_thresh": float(heads.score_thresh),
        "nms_thresh": float(heads.nms_thresh),
        "topk_candidates": detections,
        "detections_per_img": detections,
        "head": "in_graph",
        "num_classes": num_classes,
    }
    return InGraphDetector(model, detections).eval(), settings


class YoloNetwork(nn.Module):
    """An Ultralytics YOLO detection model as it exports: ``(N, 4 + classes, anchor points)``.

    Rows 0-3 are each anchor point's box (centre x, centre y, width, height, input pixels),
    the others its class scores (sigmoid). The parameters keep Ultralytics' names (``model.*``),
    so ``DetectionModel.state_dict()`` loads as it is.
    """

    def __init__(self, detection_model: Any) -> None:
        super().__init__()
        self.model = detection_model.model
        self._yolo = detection_model  # its forward (layer routing); the same modules

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Boxes and class scores per anchor point."""
        out = self._yolo(x)
        found: torch.Tensor = out[0] if isinstance(out, tuple | list) else out
        return found

    def state_dict(self, *args: Any, **kwargs: Any) -> Any:
        """The detection model's own parameters (``model.*``), once."""
        return self._yolo.state_dict(*args, **kwargs)

    def load_state_dict(self, state_dict: Any, strict: bool = True, assign: bool = False) -> Any:
        """Load ``DetectionModel.state_dict()`` (``model.*``)."""
        return self._yolo.load_state_dict(state_dict, strict=strict, assign=assign)


#: COCO's category ids of the 80 classes Ultralytics' COCO models number 0-79.
COCO80_TO_91 = (
    *range(1, 12), *range(13, 26), 27, 28, *range(31, 45), *range(46, 66), 67, 70,
    *range(72, 83), *range(84, 91),
)  # fmt: skip


def build_yolo(name: str, size: tuple[int, int]) -> tuple[YoloNetwork, dict[str, Any]]:
    """An Ultralytics YOLO detection model built from its architecture file (random weights).

    ``name`` is an architecture Ultralytics ships (``yolov8n``, ``yolo11s``...): the model is
    built from ``<name>.yaml`` inside the package; nothing is downloaded. Ultralytics writes
    its settings file on import: it goes to hwfit's own folder, not the user's home. The
    environment variables its import sets (``OMP_NUM_THREADS=1`` among them) are undone.
    """
    from hwfit._environ import environment_kept
    from hwfit._paths import cache_dir

    # Importing Ultralytics sets OMP_NUM_THREADS=1 (and more) for the whole process: every
    # worker started later would inherit it. The environment is given back as it was.
    with environment_kept():
        os.environ.setdefault("YOLO_OFFLINE", "1")
        os.environ.setdefault("YOLO_CONFIG_DIR", str(cache_dir() / "ultralytics"))
        tasks: Any = importlib.import_module("ultralytics.nn.tasks")  # untyped
        model: Any = tasks.DetectionModel(f"{name}.yaml", nc=80, verbose=False)
    model.eval()
    for module in model.modules():
        if type(module).__name__ in ("Detect", "v10Detect"):
            module.export = True  # the exported form: one tensor, decoded boxes
            module.format = "onnx"
    network = YoloNetwork(model).eval()
    settings = {
        "anchors": np.zeros((0, 4), np.float32),
        "size": size,
        "score_thresh": 0.001,
        "nms_thresh": 0.7,
        "topk_candidates": 30000,
        "detections_per_img": 300,
        "head": "yolo",
        "num_classes": 91,
        "label_map": COCO80_TO_91,
    }
    return network, settings
