"""Detectors: torchvision's SSDlite as network + post-processing, COCO data, mAP as the guard.

The data is synthetic (coloured rectangles with their boxes, ``coco_synth.py``): no labelled
detection set ships offline. The detector has random weights whose batch-norm statistics were
fitted to images, so its outputs depend on its input.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from coco_synth import confident_ssdlite_weights, write_coco

import hwfit
from hwfit.accuracy import EvalData, load_dataset, preprocess_for, split
from hwfit.accuracy.coco import coco_map, ground_truth, pseudo_ground_truth
from hwfit.accuracy.evaluators import MapMetric
from hwfit.errors import ModelSourceError, UserError
from hwfit.models import load_model
from hwfit.models.detection import DetectionDecoder, Detections, detection_decoder
from hwfit.records import RowState

SSDLITE = "torchvision:ssdlite320_mobilenet_v3_large"
#: FP32 and INT8 of a detector, measured briefly (speed is not what these tests check).
DETECTOR_QUICK = {
    "precisions": ["fp32", "int8"],
    "calib_size": 2,
    "duration_s": 0.3,
    "min_time_s": 0.1,
    "save": False,
    "tune_trials": 0,
}


@pytest.fixture(scope="module")
def coco(tmp_path_factory):
    return write_coco(tmp_path_factory.mktemp("coco"), images=6)


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    return confident_ssdlite_weights(tmp_path_factory.mktemp("w") / "ssdlite.pt")


@pytest.fixture(scope="module")
def detector(weights):
    return load_model(SSDLITE, weights=str(weights))


def test_a_coco_folder_loads_with_ids_sizes_and_annotations(coco, detector):
    pre = preprocess_for(detector)
    assert pre.describe().startswith("resize 320x320 (squash")
    data = load_dataset(coco, pre)
    assert data.x.shape == (6, 3, 320, 320)
    assert data.y is None
    assert data.image_ids == (1, 2, 3, 4, 5, 6)
    assert data.image_sizes == ((120, 160),) * 6
    assert data.annotations == str(coco / "instances.json")
    calib, val = split(data, 2, 3)
    assert len(val.image_ids) == 3
    assert set(calib.image_ids).isdisjoint(val.image_ids)
    for i, image_id in enumerate(val.image_ids):  # ids stay with their images
        np.testing.assert_array_equal(val.x[i], data.x[image_id - 1])


def test_cocos_own_layout_is_found(tmp_path, detector):
    folder = write_coco(tmp_path / "c", images=2)
    (folder / "annotations").mkdir()
    (folder / "instances.json").rename(folder / "annotations" / "instances_val2017.json")
    (folder / "images").rename(folder / "val2017")
    data = load_dataset(folder, preprocess_for(detector))
    assert data.annotations.endswith("instances_val2017.json")
    assert len(data) == 2


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda f: (f / "images" / "0002.png").unlink(), "Image '0002.png' of"),
        (lambda f: (f / "instances.json").write_text("{not json"), "Cannot read COCO annotations"),
        (lambda f: (f / "instances.json").write_text('{"images": []}'), "lists no images"),
    ],
    ids=["missing-image", "bad-json", "no-images"],
)
def test_broken_coco_folders_are_one_line_errors(damage, message, tmp_path, detector):
    folder = write_coco(tmp_path / "c", images=3)
    damage(folder)
    with pytest.raises(UserError) as info:
        load_dataset(folder, preprocess_for(detector))
    assert message in info.value.message
    assert "\n" not in info.value.message


def test_decoding_is_torchvisions_own_postprocessing(weights):
    import torchvision
    from torchvision.models.detection.image_list import ImageList

    model = torchvision.models.get_model(
        "ssdlite320_mobilenet_v3_large", weights=None, weights_backbone=None
    ).eval()
    model.load_state_dict(torch.load(weights, weights_only=True))
    decoder = detection_decoder(SSDLITE)
    x = torch.rand(2, 3, 320, 320) * 2 - 1
    with torch.no_grad():
        features = list(model.backbone(x).values())
        head = model.head(features)
        anchors = model.anchor_generator(ImageList(x, [(320, 320)] * 2), features)
        expected = model.postprocess_detections(head, anchors, [(320, 320)] * 2)
    np.testing.assert_allclose(decoder.anchors, anchors[0].numpy(), rtol=1e-6)
    found = decoder.decode((head["cls_logits"].numpy(), head["bbox_regression"].numpy()))
    for mine, theirs in zip(found, expected, strict=True):
        assert len(mine.boxes) > 0
        np.testing.assert_allclose(mine.boxes, theirs["boxes"].numpy(), rtol=1e-5, atol=1e-3)
        np.testing.assert_allclose(mine.scores, theirs["scores"].numpy(), rtol=1e-5)
        np.testing.assert_array_equal(mine.labels, theirs["labels"].numpy())
    scaled = decoder.decode(
        (head["cls_logits"].numpy(), head["bbox_regression"].numpy()), [(160, 640), (320, 320)]
    )
    np.testing.assert_allclose(scaled[0].boxes, found[0].boxes * [2, 0.5, 2, 0.5], rtol=1e-5)


def test_retinanets_decoding_is_torchvisions_own_postprocessing(tmp_path):
    """RetinaNet's head: sigmoid per class, top-k per feature level (a smaller input: cheaper)."""
    import torchvision
    from torchvision.models.detection.image_list import ImageList

    from hwfit.models._detector_networks import build_ssd

    size = (256, 256)
    network, settings = build_ssd("retinanet_resnet50_fpn", size, head="retinanet")
    decoder = DetectionDecoder(**settings)
    decoder.save(tmp_path / "d.npz")
    decoder = DetectionDecoder.load(tmp_path / "d.npz")  # the head and levels travel too
    assert decoder.head == "retinanet"
    assert len(decoder.level_sizes) == 5
    assert sum(decoder.level_sizes) == len(decoder.anchors)
    model = torchvision.models.get_model(
        "retinanet_resnet50_fpn", weights=None, weights_backbone=None
    ).eval()
    with torch.no_grad():
        network.head.classification_head.cls_logits.bias.fill_(-2.0)  # scores above 0.05
        model.load_state_dict(network.state_dict())
        x = torch.rand(2, 3, *size)
        features = list(model.backbone(x).values())
        head = model.head(features)
        anchors = model.anchor_generator(ImageList(x, [size] * 2), features)
        per_level = list(decoder.level_sizes)
        expected = model.postprocess_detections(
            {k: list(v.split(per_level, dim=1)) for k, v in head.items()},
            [list(a.split(per_level)) for a in anchors],
            [size] * 2,
        )
        raw = network(x)
    np.testing.assert_allclose(decoder.anchors, anchors[0].numpy(), rtol=1e-6)
    found = decoder.decode((raw[0].numpy(), raw[1].numpy()))
    for mine, theirs in zip(found, expected, strict=True):
        assert len(mine.boxes) == 300  # detections_per_img
        np.testing.assert_allclose(mine.boxes, theirs["boxes"].numpy(), rtol=1e-4, atol=1e-2)
        np.testing.assert_allclose(mine.scores, theirs["scores"].numpy(), rtol=1e-5)
        np.testing.assert_array_equal(mine.labels, theirs["labels"].numpy())


def test_retinanet_runs_at_a_fixed_800_pixels_with_imagenet_normalisation():
    model = load_model("torchvision:retinanet_resnet50_fpn")
    assert tuple(model.info.input.shape[1:]) == (3, 800, 800)
    pre = preprocess_for(model)
    assert pre.describe().startswith("resize 800x800 (squash")
    assert pre.mean == pytest.approx((0.485, 0.456, 0.406))


def test_the_decoder_file_holds_plain_arrays(tmp_path):
    decoder = detection_decoder(SSDLITE)
    decoder.save(tmp_path / "d.npz")
    again = DetectionDecoder.load(tmp_path / "d.npz")
    np.testing.assert_array_equal(again.anchors, decoder.anchors)
    assert (again.size, again.box_weights, again.detections_per_img) == (
        decoder.size,
        decoder.box_weights,
        decoder.detections_per_img,
    )
    np.save(tmp_path / "evil.npy", np.array([object()], dtype=object), allow_pickle=True)
    (tmp_path / "evil.npy").rename(tmp_path / "evil.npz")
    with pytest.raises(ModelSourceError, match="Cannot read the detection post-processing"):
        DetectionDecoder.load(tmp_path / "evil.npz")


def test_coco_map_known_values():
    boxes = np.array([[10, 10, 50, 50], [60, 60, 90, 100]], np.float32)
    mine = [Detections(boxes, np.array([0.9, 0.5], np.float32), np.array([1, 2]))]
    truth = pseudo_ground_truth(mine, (320, 320), 91)
    assert coco_map(truth, mine, [0]) == pytest.approx({"map": 100.0, "map50": 100.0})
    shifted = [
        Detections(np.array([[12, 10, 52, 50]], np.float32), np.array([0.9]), np.array([1]))
    ]  # IoU 0.905 with the first box; the second class's box is missed
    assert coco_map(truth, shifted, [0]) == pytest.approx({"map": 45.0, "map50": 50.0})
    assert coco_map(truth, [Detections(np.zeros((0, 4)), np.zeros(0), np.zeros(0))], [0]) == {
        "map": 0.0,
        "map50": 0.0,
    }


def test_map_against_annotations_scales_boxes_to_each_image(coco):
    """Detections equal to the annotated boxes score 100, in original image pixels."""
    truth = json.loads((coco / "instances.json").read_text())
    ids = [im["id"] for im in truth["images"]]
    found = []
    for image_id in ids:
        anns = [a for a in truth["annotations"] if a["image_id"] == image_id]
        xyxy = [[x, y, x + w, y + h] for x, y, w, h in (a["bbox"] for a in anns)]
        found.append(
            Detections(
                np.array(xyxy, np.float32),
                np.ones(len(anns), np.float32),
                np.array([a["category_id"] for a in anns]),
            )
        )
    assert coco_map(ground_truth(coco / "instances.json", ids), found, ids)["map"] == (
        pytest.approx(100.0)
    )


def test_the_map_metric_needs_a_detector_and_its_two_outputs():
    data = EvalData(x=np.zeros((1, 3, 8, 8), np.float32), y=None)
    with pytest.raises(UserError, match="needs a detector hwfit knows"):
        MapMetric().score((np.zeros((1, 4, 3)), np.zeros((1, 4, 4))), data)


def test_unsupported_torchvision_detectors_say_so():
    with pytest.raises(ModelSourceError, match="not 'maskrcnn_resnet50_fpn': its post-process"):
        load_model("torchvision:maskrcnn_resnet50_fpn")


@pytest.fixture
def _environment_kept():
    """Importing Ultralytics here (its NMS, its class map) sets OMP_NUM_THREADS=1: undo it."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


def test_yolo_and_map_leave_the_environment_as_it_was():
    """Ultralytics' import sets OMP_NUM_THREADS=1, OpenCV's (faster-coco-eval imports it) edits
    LD_LIBRARY_PATH: every worker started later would inherit that, and the fork server would
    stop forking."""
    script = (
        "import os\n"
        "before = dict(os.environ)\n"
        "from hwfit.accuracy.coco import coco_map\n"  # first: it imports OpenCV
        "from hwfit.errors import UserError\n"
        "try:\n"
        "    coco_map({'images': [], 'annotations': [], 'categories': []}, [], [])\n"
        "except UserError:\n"
        "    pass\n"
        "from hwfit.models import load_model\n"
        "load_model('ultralytics:yolov8n')\n"
        "import sys\n"
        "assert {'ultralytics', 'faster_coco_eval', 'cv2'} <= set(sys.modules)\n"
        "keys = {*before, *os.environ}\n"
        "import json\n"
        "print(json.dumps(sorted(k for k in keys if before.get(k) != os.environ.get(k))))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    changed = json.loads(done.stdout.strip().splitlines()[-1])
    # PyTorch's compiler, imported on the way, sets its cache folder: not Ultralytics' doing.
    assert [k for k in changed if not k.startswith("TORCHINDUCTOR_")] == []


@pytest.mark.usefixtures("_environment_kept")
def test_yolo_is_built_offline_and_decodes_as_ultralytics_validates(tmp_path, monkeypatch):
    import socket

    from ultralytics.data.converter import coco80_to_coco91_class
    from ultralytics.utils.nms import non_max_suppression

    def no_network(*args, **kwargs):
        raise OSError("a test reached for the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    weights = confident_ssdlite_weights(tmp_path / "yolo.pt", name="yolov8n")
    model = load_model("ultralytics:yolov8n", weights=str(weights))  # Ultralytics' own keys
    assert tuple(model.info.input.shape[1:]) == (3, 640, 640)
    decoder = detection_decoder("ultralytics:yolov8n")
    assert decoder.label_map == tuple(coco80_to_coco91_class())
    network = model.torch_module()
    with torch.no_grad():  # varied scores and boxes off the anchor grid: few exact ties
        for branch in network.model[-1].cv3:
            branch[-1].weight.mul_(0.3)
            branch[-1].bias.fill_(-4.0)
        for branch in network.model[-1].cv2:
            branch[-1].weight.mul_(0.01)
        out = network(torch.rand(2, 3, 640, 640, generator=torch.Generator().manual_seed(0)))
    assert out.shape == (2, 84, 8400)
    expected = non_max_suppression(out, conf_thres=0.001, iou_thres=0.7, multi_label=True)
    found = decoder.decode((out.numpy(),), [(320, 1280)] * 2)
    coco_ids = np.asarray(coco80_to_coco91_class())
    for mine, theirs in zip(found, expected, strict=True):
        assert 0 < len(mine.boxes) == len(theirs) <= 300
        boxes = theirs[:, :4].clamp(0, 640).numpy() * [2, 0.5, 2, 0.5]  # clipped, scaled
        labels = coco_ids[theirs[:, 5].numpy().astype(int)]
        scores = theirs[:, 4].numpy()
        # Equal scores may come in either order: compare sorted by score, then box.
        ours = np.lexsort((mine.boxes[:, 1], mine.boxes[:, 0], -mine.scores))
        own = np.lexsort((boxes[:, 1], boxes[:, 0], -scores))
        np.testing.assert_allclose(mine.boxes[ours], boxes[own], rtol=1e-4, atol=1e-2)
        np.testing.assert_allclose(mine.scores[ours], scores[own], rtol=1e-5)
        np.testing.assert_array_equal(mine.labels[ours], labels[own])


def test_yolo_without_ultralytics_says_how_to_get_it(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "ultralytics", None)  # as if not installed
    monkeypatch.setitem(sys.modules, "ultralytics.nn.tasks", None)
    with pytest.raises(ModelSourceError, match="needs the ultralytics package") as info:
        load_model("ultralytics:yolov8n")
    assert "hwfit[yolo]" in info.value.hint
    with pytest.raises(UserError, match="Unknown Ultralytics detector 'yolov8x'"):
        load_model("ultralytics:yolov8x")


def test_faster_rcnn_runs_whole_with_its_detections_padded(tmp_path):
    """A two-stage detector in one graph: torchvision's own detections, padded to 100."""
    import torchvision

    from hwfit.models.detection import DETECTORS

    name = "fasterrcnn_mobilenet_v3_large_320_fpn"
    weights = confident_ssdlite_weights(tmp_path / "frcnn.pt", name=name)
    model = load_model(f"torchvision:{name}", weights=str(weights))  # torchvision's keys
    assert tuple(model.info.input.shape[1:]) == (3, 320, 320)
    assert DETECTORS[name].outputs == 3
    theirs = torchvision.models.get_model(name, weights=None, weights_backbone=None).eval()
    theirs.load_state_dict(torch.load(weights, weights_only=True))
    images = torch.rand(2, 3, 320, 320)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)
    with torch.no_grad():
        boxes, scores, labels = model.torch_module()((images - mean) / std)  # hwfit's input
        expected = theirs(list(images))  # torchvision normalises inside
    assert boxes.shape == (2, 100, 4)
    assert scores.shape == labels.shape == (2, 100)
    decoder = detection_decoder(f"torchvision:{name}")
    found = decoder.decode((boxes.numpy(), scores.numpy(), labels.numpy()), [(160, 640)] * 2)
    for index, (mine, own) in enumerate(zip(found, expected, strict=True)):
        kept = len(own["boxes"])
        assert 0 < kept == len(mine.boxes)  # the padding (score 0) is dropped
        np.testing.assert_array_equal(scores[index, kept:].numpy(), 0.0)
        np.testing.assert_allclose(mine.scores, own["scores"].numpy(), rtol=1e-4)
        np.testing.assert_array_equal(mine.labels, own["labels"].numpy())
        np.testing.assert_allclose(
            mine.boxes, own["boxes"].numpy() * [2, 0.5, 2, 0.5], rtol=1e-4, atol=1e-2
        )


@pytest.fixture(scope="module")
def detector_run(coco, weights, tmp_path_factory):
    flat = tmp_path_factory.mktemp("flat")
    for image in (coco / "images").iterdir():
        (flat / image.name).write_bytes(image.read_bytes())
    return hwfit.optimize(
        SSDLITE,
        str(flat),
        out=tmp_path_factory.mktemp("out") / "ssdlite",
        weights=str(weights),
        runtimes=["openvino"],
        val_size=2,
        max_accuracy_drop="5",
        **DETECTOR_QUICK,
    )


def test_optimize_guards_a_detector_with_label_free_map(detector_run):
    result = detector_run
    assert result.metric == "map"
    assert result.evaluator == "map"
    assert any("No COCO annotations: map is label-free" in n for n in result.notes)
    assert any("post-processing runs outside the timed graph" in n for n in result.notes)
    assert result.baseline.accuracy["map"] == pytest.approx(100.0)
    by_precision = {o.candidate.precision: o for o in result.outcomes}
    fp32 = by_precision["fp32"]
    assert fp32.accuracy["map"] == pytest.approx(100.0, abs=1.0)  # the same float model
    assert {"map", "map50", "cosine_0", "cosine_1", "agreement"} <= set(fp32.accuracy)
    int8 = by_precision["int8"]
    assert int8.accuracy["map"] < fp32.accuracy["map"]  # INT8 moves the boxes
    if int8.state is RowState.REJECTED:
        assert "on map" in int8.reason
    assert result.winner is not None


def test_the_detector_artifact_detects_boxes_in_image_pixels(detector_run, coco):
    from hwfit.artifacts import read_manifest

    out = detector_run.out_dir
    manifest = read_manifest(out)
    assert manifest.postprocess["file"] == "detection.npz"
    assert "outside the timed graph" in manifest.postprocess["where"]
    predictor = hwfit.load(out)
    assert predictor.is_detector
    images = sorted((coco / "images").iterdir())[:2]
    found = predictor.detect(images)
    assert len(found) == 2
    for detections in found:
        assert len(detections.boxes) > 0
        assert detections.boxes[:, [0, 2]].max() <= 160 + 1e-3  # the image's own width
        assert detections.boxes[:, [1, 3]].max() <= 120 + 1e-3
        assert np.all(np.diff(detections.scores) <= 1e-6)  # highest first
    with pytest.raises(ModelSourceError, match="holds a detector"):
        predictor.classify(images)


def test_hwfit_predict_prints_a_detectors_boxes(detector_run, coco, capsys):
    from hwfit.cli.main import run

    image = str(sorted((coco / "images").iterdir())[0])
    code = run(["predict", str(detector_run.out_dir), image, "--top-k", "2", "--json"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report[0]["image"] == image
    assert len(report[0]["detections"]) == 2
    assert set(report[0]["detections"][0]) == {"label", "score", "box"}


def test_a_postprocess_file_outside_the_folder_is_refused(detector_run, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(detector_run.out_dir, copy)
    manifest = json.loads((copy / "hwfit.json").read_text())
    manifest["postprocess"]["file"] = "../elsewhere.npz"
    (copy / "hwfit.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelSourceError):
        hwfit.load(copy)
    manifest["postprocess"] = {"kind": "python", "file": "x.npz"}
    (copy / "hwfit.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelSourceError, match="postprocess"):
        hwfit.load(copy)


def test_accuracy_control_scores_a_detector_by_map(detector, tmp_path):
    """The quantizer's own metric (NNCF's validation function) is the detector's mAP too."""
    from hwfit.precisions.job import PrepareJob, _quant_data, write_quant_data

    x = torch.rand(3, 3, 320, 320) * 2 - 1
    with torch.no_grad():
        reference = tuple(o.numpy() for o in detector.torch_module()(x))
    path = tmp_path / "quant.npz"
    write_quant_data(
        path, calibration=x.numpy(), validation=x.numpy(), labels=None, reference=reference
    )
    job = PrepareJob(
        recipe_path="", model=detector.info, runtime="openvino", precision="int8-mixed",
        spec=detector.info.input, out_dir=str(tmp_path), data=str(path), metric="map",
        max_drop=1.0, class_axis=-1,
    )  # fmt: skip
    metric = _quant_data(job).metric
    assert metric(reference) == pytest.approx(100.0)
    moved = (reference[0], reference[1] + 0.5)  # every box shifted
    assert metric(moved) < 90.0


def test_nncfs_validation_sees_every_output(tmp_path):
    """int8-mixed's validation function gets all of a model's outputs, per item or FP32."""
    from hwfit.precisions.ov_quant import _fp32_outputs, _SubsetValidation, read_fp32

    model = load_model("colour_model:colour_two_heads", input_shape="1x3x32x32")
    ov_model = read_fp32(model, model.info.input)
    batches = [np.full((1, 3, 32, 32), v, np.float32) for v in (0.1, 0.5, 0.9)]
    reference = _fp32_outputs(ov_model, batches)
    assert [o.shape for o in reference[0]] == [(1, 3), (1, 4, 32, 32)]
    seen = []

    def metric(outputs):
        seen.append([o.shape for o in outputs])
        return float(np.abs(outputs[1] - np.concatenate([r[1] for r in reference])).max())

    import openvino as ov

    compiled = ov.Core().compile_model(ov_model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    validate = _SubsetValidation(reference, metric, 3)
    value, per_item = validate(compiled, [(1, batches[1])])
    assert per_item is None
    assert seen == [[(3, 3), (3, 4, 32, 32)]]
    assert value < 1e-5  # the same FP32 model: its outputs are the reference's


@pytest.mark.slow
def test_accuracy_controlled_int8_of_a_detector_searches_by_map(coco, weights, tmp_path):
    """NNCF's accuracy control with the label-free mAP as its metric (about 6 minutes here)."""
    flat = tmp_path / "flat"
    flat.mkdir()
    for image in (coco / "images").iterdir():
        (flat / image.name).write_bytes(image.read_bytes())
    result = hwfit.optimize(
        SSDLITE, str(flat), out=tmp_path / "out", weights=str(weights), runtimes=["openvino"],
        precisions=["int8", "int8-mixed"], calib_size=3, val_size=3, max_accuracy_drop="10",
        duration_s=0.3, min_time_s=0.1, save=False, tune_trials=0,
    )  # fmt: skip
    by_precision = {o.candidate.precision: o for o in result.outcomes}
    plain, mixed = by_precision["int8"], by_precision["int8-mixed"]
    assert mixed.state in (RowState.COMPLETE, RowState.REJECTED), mixed.reason
    assert "accuracy_control_metric" not in mixed.prepare_details  # the mAP itself, no proxy
    reverted = mixed.prepare_details["int8_compute_layers"]
    assert reverted != "98 of 98" or mixed.accuracy["map"] >= plain.accuracy["map"]


@pytest.mark.slow
def test_onnx_runtimes_qdq_int8_of_a_detector_is_guarded_by_map(coco, weights, tmp_path):
    """ONNX Runtime's static QDQ INT8 on a detector (about 35 s: slow-marked for suite time)."""
    result = hwfit.optimize(
        SSDLITE,
        str(coco),  # annotated: mAP against the COCO boxes
        out=tmp_path / "out",
        weights=str(weights),
        runtimes=["onnxruntime"],
        val_size=3,
        max_accuracy_drop="100",
        **DETECTOR_QUICK,
    )
    assert result.metric == "map"
    by = {o.candidate.precision: o for o in result.outcomes}
    assert by["int8"].bench is not None
    assert by["int8"].bench.executed.precision == "int8"
    assert {"map", "map50"} <= set(by["int8"].accuracy)
    assert by["fp32"].accuracy["map"] == pytest.approx(result.baseline.accuracy["map"], abs=1.0)
