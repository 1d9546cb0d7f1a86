"""The network part of a torchvision SSD, as hwfit runs it (see :mod:`hwfit.models.detection`)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torchvision
from torch import nn

__all__ = ["SSDNetwork", "build_ssd"]


class SSDNetwork(nn.Module):
    """An SSD's backbone and head: ``(N, 3, H, W)`` -> ``(class logits, box regression)``.

    The input is preprocessed (resized and normalised) already. The parameters keep the SSD's
    own names (``backbone.*``, ``head.*``), so a torchvision SSD's state dict loads as it is.
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
    name: str, size: tuple[int, int], num_classes: int = 91
) -> tuple[SSDNetwork, dict[str, Any]]:
    """The network part of a torchvision SSD (random weights) and its post-processing settings.

    Built with ``weights=None, weights_backbone=None``: nothing is downloaded.

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
    weights = tuple(float(w) for w in model.box_coder.weights)
    settings = {
        "anchors": anchors.numpy().astype(np.float32),
        "size": size,
        "box_weights": (weights[0], weights[1], weights[2], weights[3]),
        "score_thresh": float(model.score_thresh),
        "nms_thresh": float(model.nms_thresh),
        "topk_candidates": int(model.topk_candidates),
        "detections_per_img": int(model.detections_per_img),
    }
    return network, settings
