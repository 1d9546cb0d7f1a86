"""A small synthetic COCO set (said to be synthetic: no labelled detection set ships offline).

Coloured rectangles on noise, each box annotated with its colour's category; and detector
weights that make a random-weight SSD confident, so its detections are not all below the
score threshold (the label-free guard needs some to compare).
"""

import json
from pathlib import Path

import numpy as np
from PIL import Image

COLOURS = {1: (220, 40, 40), 2: (40, 200, 40), 3: (40, 40, 220)}


def write_coco(folder: Path, images: int = 6, size: tuple[int, int] = (120, 160)) -> Path:
    """``folder/images/*.png`` and ``folder/instances.json``; returns ``folder``."""
    rng = np.random.default_rng(0)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    entries, annotations = [], []
    height, width = size
    for image_id in range(1, images + 1):
        pixels = rng.integers(0, 60, size=(height, width, 3)).astype(np.uint8)
        for _ in range(int(rng.integers(1, 4))):
            category = int(rng.integers(1, 4))
            w, h = int(rng.integers(20, 60)), int(rng.integers(20, 50))
            x, y = int(rng.integers(0, width - w)), int(rng.integers(0, height - h))
            pixels[y : y + h, x : x + w] = COLOURS[category]
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": category,
                    "bbox": [x, y, w, h],
                    "area": w * h,
                    "iscrowd": 0,
                }
            )
        name = f"{image_id:04d}.png"
        Image.fromarray(pixels).save(folder / "images" / name)
        entries.append({"id": image_id, "file_name": name, "height": height, "width": width})
    categories = [{"id": c, "name": n} for c, n in ((1, "red"), (2, "green"), (3, "blue"))]
    (folder / "instances.json").write_text(
        json.dumps({"images": entries, "annotations": annotations, "categories": categories})
    )
    return folder


def confident_ssdlite_weights(
    path: Path, label: int = 1, name: str = "ssdlite320_mobilenet_v3_large"
) -> Path:
    """Detector weights (random, seeded) whose every default box scores ``label`` highly.

    Any of hwfit's ``DETECTORS`` (``name``): an SSD, a RetinaNet, a Faster R-CNN (the state
    dict of the torchvision model) or an Ultralytics YOLO (``DetectionModel.state_dict()``;
    labels are its class indices, 0-79).
    """
    import torch

    from hwfit.models.detection import DETECTORS, build_detector

    torch.manual_seed(0)
    spec = DETECTORS[name]
    network = build_detector(name)[0]
    model = network.model if spec.head == "in_graph" else network  # the torchvision model
    size = spec.size[0]
    # Random initial weights make vanishing features (about 1e-14): fit the batch norms'
    # statistics to images, so that the network's outputs depend on its input.
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # a cumulative average over the batches below
    model.train()
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for _ in range(4 if size < 512 else 2):
            images = torch.rand(4, 3, size, size, generator=generator) * 2 - 1
            if spec.head == "in_graph":
                model.backbone(images)  # its batch norms are the backbone's
            else:
                network(images)
    model.eval()
    network.eval()
    with torch.no_grad():
        for bias, step in _class_biases(network, spec.head):
            bias.zero_()
            bias[label::step] = 6.0  # index anchor * classes + label
        if spec.head == "yolo":  # its class branches' features are large: damp them
            for branch in network.model[-1].cv3:
                branch[-1].weight.mul_(0.01)
                branch[-1].bias.sub_(6.0)
    state = model.state_dict() if spec.head == "in_graph" else network.state_dict()
    torch.save(state, path)
    return path


def _class_biases(network, head):
    """The biases of the layers that score classes, and the class count they step by."""
    import torch

    if head == "in_graph":  # Faster R-CNN's box predictor
        return [(network.model.roi_heads.box_predictor.cls_score.bias, 91)]
    if head == "yolo":  # each level's class branch (cv3), 80 classes
        detect = network.model[-1]
        return [(branch[-1].bias, 80) for branch in detect.cv3]
    found = network.head.classification_head
    blocks = getattr(found, "module_list", None) or [found.cls_logits]  # SSD, RetinaNet
    last = [[m for m in b.modules() if isinstance(m, torch.nn.Conv2d)][-1] for b in blocks]
    return [(conv.bias, 91) for conv in last]
