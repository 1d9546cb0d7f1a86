"""FP32 -> INT8 on detectors on this machine: the paired speed-up and the mAP change.

For each detector (default: torchvision's ``ssdlite320_mobilenet_v3_large`` and
``ssd300_vgg16``, Ultralytics' ``yolov8n``; ``--only`` picks others hwfit runs, e.g.
``retinanet_resnet50_fpn`` at 800x800 or ``fasterrcnn_mobilenet_v3_large_320_fpn``, whose
post-processing is inside its graph): ``hwfit.optimize`` quantizes it with NNCF (OpenVINO
INT8) and scores FP32 and INT8 with the label-free mAP (against the FP32 detector's own
detections scoring >= 0.3); then the OpenVINO FP32 and INT8 models it measured are timed
against each other paired (one worker, alternating windows), batch 1.

No trained detector weights can be downloaded here: the weights are random (seeded) with their
batch-norm statistics fitted to images and the class head biased to one class (the test suite's
``coco_synth.py``), so the detector's outputs depend on its input and it finds boxes; the images
are synthetic (coloured rectangles). The speed-up does not depend on the weights; the mAP change
of a random network is a harsher test than a trained one's (its boxes are not anchored to
objects) and is not comparable to published figures. Published anchors (NNCF, on an Intel
i9-10980XE, trained weights, COCO): YOLOv8 2.60x at +0.08 mAP, SSD300 3.94x at -0.8 points.

    python benchmarks/detection.py [--images 12] [--only yolov8n ...]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "tests" / "integration"))

DEFAULT = ("ssdlite320_mobilenet_v3_large", "ssd300_vgg16", "yolov8n")


def main(images: int, only: list[str]) -> None:
    from coco_synth import confident_ssdlite_weights, write_coco

    import hwfit
    from hwfit.bench import pair_rows
    from hwfit.hardware import probe

    hardware = probe(include_runtimes=False)
    cpu = hardware.cpu
    print(f"CPU: {cpu.brand} ({hardware.isa_summary}), {cpu.usable_threads} threads")
    work = Path(tempfile.mkdtemp(prefix="hwfit-detection-"))
    coco = write_coco(work / "coco", images=images)
    flat = work / "flat"
    flat.mkdir()
    for image in (coco / "images").iterdir():
        (flat / image.name).write_bytes(image.read_bytes())
    from hwfit.models.detection import DETECTORS

    for name in only or DEFAULT:
        weights = confident_ssdlite_weights(work / f"{name}.pt", name=name)
        result = hwfit.optimize(
            f"{DETECTORS[name].library}:{name}", str(flat), out=work / name,
            weights=str(weights),
            runtimes=["openvino"], precisions=["fp32", "int8"], max_accuracy_drop="100",
            calib_size=images // 2, val_size=images - images // 2, save=False, tune_trials=0,
        )  # fmt: skip
        by = {o.candidate.precision: o for o in result.outcomes}
        fp32, int8 = by.get("fp32"), by.get("int8")
        if fp32 is None or int8 is None or fp32.bench is None or int8.bench is None:
            print(f"{name}: no FP32/INT8 pair ({[o.reason for o in result.outcomes]})")
            continue
        figure = pair_rows(
            (fp32.bench.model, fp32.bench.config), (int8.bench.model, int8.bench.config),
            min_time_s=5.0, max_time_s=15.0,
        )  # fmt: skip
        speed = figure if isinstance(figure, str) else figure.text()
        noisy = "" if isinstance(figure, str) or not figure.noisy else " (noisy)"
        change = int8.accuracy["map"] - fp32.accuracy["map"]
        print(
            f"{name}: OpenVINO INT8 vs FP32 {speed}{noisy} paired, batch 1 "
            f"(p50 {fp32.bench.latency.p50_ms:.1f} -> {int8.bench.latency.p50_ms:.1f} ms); "
            f"label-free mAP {fp32.accuracy['map']:.1f} -> {int8.accuracy['map']:.1f} "
            f"({change:+.1f} points), mAP@.5 {fp32.accuracy['map50']:.1f} -> "
            f"{int8.accuracy['map50']:.1f}; executed {int8.bench.executed.precision}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=12)
    parser.add_argument("--only", nargs="*", default=[], help="detector names (DETECTORS)")
    arguments = parser.parse_args()
    main(arguments.images, arguments.only)
