"""The zoo table: shipped contents, traceability to timm's and torchvision's published numbers,
selection, user files, and the one-metric rule of a frontier."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from hwfit.errors import UnknownNameError, UserError
from hwfit.zoo import (
    COLUMNS,
    CUSTOM_FAMILY,
    DETECTION_FAMILY,
    FRONTIER_FAMILIES,
    ZooEntry,
    families,
    load_zoo,
    select,
)

SHARED = Path("/work/shared/data/timm-results")
ACCURACY_TABLE = SHARED / "results-imagenet.csv"
GMACS_TABLE = SHARED / "benchmark-infer-fp32-nchw-pt240-cpu-i9_10940x-dynamo.csv"


# The columns of zoo tables written before the zoo held detectors: they stay valid.
OLD_COLUMNS = (
    "name",
    "arch",
    "family",
    "top1",
    "top5",
    "input_size",
    "params_m",
    "gmacs",
    "source",
)


@pytest.fixture(scope="module")
def zoo() -> list[ZooEntry]:
    return load_zoo()


@pytest.fixture(scope="module")
def classifiers(zoo) -> list[ZooEntry]:
    return [e for e in zoo if e.library == "timm"]


def test_shipped_zoo_covers_the_families_with_unique_names(zoo, classifiers):
    names = [e.name for e in zoo]
    assert len(names) == len(set(names))
    assert families(zoo) == [
        "mobilenet",
        "efficientnet",
        "regnet",
        "resnet",
        "convnext",
        "fastvit",
        "efficientvit",
        DETECTION_FAMILY,
    ]
    frontier = select(zoo, families=list(FRONTIER_FAMILIES))
    assert 18 <= len(frontier) <= 22
    for needed in (
        "mobilenetv2_100",
        "mobilenetv2_140",
        "mobilenetv3_large_100",
        "mobilenetv3_small_100",
        "efficientnet_b0",
        "efficientnet_b3",
        "regnetx_002",
        "regnety_016",
        "resnet18",
        "resnet34",
    ):
        assert select(zoo, models=[needed]), needed
    assert {e.name for e in select(zoo, models=["resnet50"])} == {
        "resnet50.tv_in1k",
        "resnet50.a1_in1k",
    }
    assert len(classifiers) == 33
    assert [e for e in zoo if e not in classifiers] == select(zoo, families=[DETECTION_FAMILY])
    for entry in classifiers:
        assert entry.spec == f"timm:{entry.arch}"
        assert entry.metric == "top1"
        assert entry.name.startswith(f"{entry.arch}.")
        assert 50 < entry.accuracy < 90
        assert entry.top5 is not None
        assert entry.accuracy < entry.top5
        assert entry.gmacs is not None
        assert entry.source


def test_shipped_archs_and_weights_exist_in_this_timm(classifiers):
    import timm

    known = set(timm.list_models())
    for entry in classifiers:
        assert entry.arch in known, entry.arch
        cfg = timm.models.get_pretrained_cfg(entry.name)
        assert cfg is not None, f"timm has no weights {entry.name}"
        # The accuracy is the one at the resolution timm's config evaluates by default.
        assert cfg.input_size[-1] == entry.input_size, entry.name


@pytest.mark.skipif(not ACCURACY_TABLE.is_file(), reason="timm's published tables are absent")
def test_shipped_numbers_equal_timms_published_tables(zoo, classifiers):
    with ACCURACY_TABLE.open() as fh:
        accuracy = {(r["model"], int(r["img_size"])): r for r in csv.DictReader(fh)}
    with GMACS_TABLE.open() as fh:
        gmacs = {(r["model"], int(r["infer_img_size"])): r for r in csv.DictReader(fh)}
    for entry in classifiers:
        row = accuracy[(entry.name, entry.input_size)]
        assert entry.accuracy == float(row["top1"]), entry.name
        assert entry.top5 == float(row["top5"]), entry.name
        assert entry.params_m == float(row["param_count"]), entry.name
        assert entry.gmacs == float(gmacs[(entry.arch, entry.input_size)]["infer_gmacs"])
        assert "aa4b5850c1543fa488abf260f18390eda46cf85d" in entry.source
    spot = {e.name: e for e in zoo}["resnet50.tv_in1k"]
    assert (spot.accuracy, spot.input_size, spot.gmacs) == (76.156, 224, 4.11)


def test_select_is_a_union_in_table_order(zoo):
    chosen = select(zoo, models=["timm:resnet18", "mobilenetv2_100.ra_in1k"], families=["regnet"])
    assert [e.name for e in chosen] == [
        "mobilenetv2_100.ra_in1k",
        *(e.name for e in zoo if e.family == "regnet"),
        "resnet18.a1_in1k",
    ]
    assert select(zoo) == zoo
    assert select(zoo, models=[]) == []
    assert select(zoo, families=["ResNet"]) == [e for e in zoo if e.family == "resnet"]


def test_select_unknown_names_suggest_close_ones(zoo):
    with pytest.raises(UnknownNameError, match="Did you mean 'resnet50'"):
        select(zoo, models=["resnet5O"])
    with pytest.raises(UnknownNameError, match=r"Unknown zoo family 'mobilnet'\. Did you mean"):
        select(zoo, families=["mobilnet"])


def _csv(path: Path, rows: list[list[object]], header: tuple[str, ...] = COLUMNS) -> Path:
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_user_table_replaces_the_shipped_one(tmp_path):
    path = _csv(
        tmp_path / "mine.csv",
        [
            ["mynet.v1", "resnet18", "Mine", "70.5", "", "224", "11.69", "", ""],
            ["mynet.v2", "timm:resnet34", "mine", "72", "90.1", "256", "21.8", "3.67", "lab"],
        ],
        header=OLD_COLUMNS,  # a table written before detectors: top1, no library or metric
    )
    entries = load_zoo(path)
    assert entries == [
        ZooEntry("mynet.v1", "resnet18", "mine", 70.5, None, 224, 11.69, None, ""),
        ZooEntry("mynet.v2", "resnet34", "mine", 72.0, 90.1, 256, 21.8, 3.67, "lab"),
    ]
    assert families(entries) == ["mine"]


@pytest.mark.parametrize(
    ("header", "rows", "message"),
    [
        (("name", "arch", "family", "top1"), [["a.b", "a", "f", "1"]], "lacks the column(s)"),
        (COLUMNS, [["a.b", "a", "f", "high", "", "224", "1", "", ""]], "The accuracy 'high' in"),
        (OLD_COLUMNS, [["a.b", "a", "f", "176", "", "224", "1", "", ""]], "The top1 '176' in"),
        (COLUMNS, [["a.b", "a", "f", "76", "", "22.4", "1", "", ""]], "The input_size '22.4'"),
        (COLUMNS, [["a.b", "a", "f", "76", "", "224", "0", "", ""]], "The params_m '0' in"),
        (COLUMNS, [["a.b", "a", "f", "76", "", "224", "1", "nan", ""]], "The gmacs 'nan' in"),
        (COLUMNS, [["a.b", "", "f", "76", "", "224", "1", "", ""]], "The arch is empty in"),
        (
            COLUMNS,
            [["a.b", "a", "f", "76", "", "224", "1", "", ""]] * 2,
            "The zoo name 'a.b' repeats",
        ),
        (COLUMNS, [], "has no rows"),
        (
            (*COLUMNS, "top1"),
            [["a.b", "a", "f", "76", "", "224", "1", "", "", "", "", "76"]],
            "has both an accuracy and a top1 column",
        ),
        (
            COLUMNS,
            [["a.b", "a", "f", "76", "", "224", "1", "", "", "", "map"]],
            "The metric 'map' in",
        ),
        (
            COLUMNS,
            [["a.b", "a", "f", "76", "", "224", "1", "", "", "keras", ""]],
            "The library 'keras' in",
        ),
        (
            COLUMNS,
            [["a.b", "torchvision:a", "f", "76", "", "224", "1", "", "", "timm", ""]],
            "names the library 'torchvision', the library column 'timm'",
        ),
        (
            COLUMNS,
            [["a.b", "a", "f", "30", "50", "320", "1", "", "", "torchvision", "box_map"]],
            "gives a top5 to a box_map row",
        ),
    ],
    ids=[
        "missing-column",
        "not-a-number",
        "above-100",
        "fractional-size",
        "zero-params",
        "nan",
        "empty-arch",
        "duplicate",
        "empty",
        "two-accuracy-columns",
        "unknown-metric",
        "unknown-library",
        "arch-prefix-disagrees",
        "top5-of-a-detector",
    ],
)
def test_bad_user_tables_raise_user_errors(tmp_path, header, rows, message):
    path = _csv(tmp_path / "zoo.csv", rows, header)
    with pytest.raises(UserError) as info:
        load_zoo(path)
    assert message in info.value.message
    assert "\n" not in str(info.value)


def test_missing_user_table_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match=r"Zoo table .* not found"):
        load_zoo(tmp_path / "nope.csv")


def test_accuracy_file_overrides_and_adds_models(tmp_path, zoo):
    path = _csv(
        tmp_path / "acc.csv",
        [
            ["resnet50.a1_in1k", "81.0", "95.5", ""],
            ["mobilenetv2_100", "70.25", "", "192"],  # an arch held once: that entry
            ["timm:test_resnet", "12.5", "", ""],  # not in the zoo: added
        ],
        header=("model", "top1", "top5", "input_size"),
    )
    entries = load_zoo(accuracy_file=path)
    by_name = {e.name: e for e in entries}
    assert (by_name["resnet50.a1_in1k"].accuracy, by_name["resnet50.a1_in1k"].top5) == (81.0, 95.5)
    assert by_name["resnet50.tv_in1k"] == {e.name: e for e in zoo}["resnet50.tv_in1k"]
    mobile = by_name["mobilenetv2_100.ra_in1k"]
    assert (mobile.accuracy, mobile.top5, mobile.input_size) == (70.25, None, 192)
    assert mobile.source == "accuracy file acc.csv line 3"
    added = entries[-1]
    assert (added.name, added.arch, added.family) == ("test_resnet", "test_resnet", CUSTOM_FAMILY)
    assert added.metric == "top1"
    assert added.spec == "timm:test_resnet"
    assert added.params_m == 0.47  # counted from timm's test_resnet (0.47 M parameters)
    assert added.input_size == 160  # timm's default for the architecture
    assert added.gmacs is None
    assert len(entries) == len(zoo) + 1


@pytest.mark.parametrize(
    ("rows", "exception", "message"),
    [
        ([["resnet50", "80"]], UserError, "names the architecture 'resnet50', which the zoo"),
        ([["resnet_5O", "80"]], UnknownNameError, "neither in the zoo nor a timm model"),
        ([["resnet18", "eighty"]], UserError, "The top1 'eighty' in"),
    ],
    ids=["ambiguous-arch", "unknown-model", "bad-number"],
)
def test_bad_accuracy_files_raise_user_errors(tmp_path, rows, exception, message):
    path = _csv(tmp_path / "acc.csv", rows, header=("model", "top1"))
    with pytest.raises(exception) as info:
        load_zoo(accuracy_file=path)
    assert message in info.value.message


# -- detectors ---------------------------------------------------------------------------


def test_shipped_detectors_equal_torchvisions_weights_metadata(zoo):
    import torchvision

    version = torchvision.__version__.split("+", 1)[0]
    detectors = [e for e in select(zoo, families=[DETECTION_FAMILY]) if e.library == "torchvision"]
    assert {e.arch for e in detectors} >= {
        "ssdlite320_mobilenet_v3_large",
        "ssd300_vgg16",
        "retinanet_resnet50_fpn",
    }
    for entry in detectors:
        weights = torchvision.models.get_model_weights(entry.arch)
        assert weights.DEFAULT is weights.COCO_V1, entry.name  # the weights the row describes
        meta = weights.COCO_V1.meta
        assert (entry.library, entry.metric, entry.top5) == ("torchvision", "box_map", None)
        assert entry.spec == f"torchvision:{entry.arch}"
        assert entry.name == f"{entry.arch}.coco_v1"
        assert entry.accuracy == meta["_metrics"]["COCO-val2017"]["box_map"], entry.name
        assert entry.params_m == round(meta["num_params"] / 1e6, 2), entry.name
        # torchvision's "_ops" counts a multiply-add once: GMACs, copied unchanged; left out
        # for Faster R-CNN, whose figure is a quarter of what hwfit counts on the detector.
        expected = None if "rcnn" in entry.arch else meta["_ops"]
        assert entry.gmacs == expected, entry.name
        assert f"pytorch/vision v{version}: torchvision.models.{weights.__name__}.COCO_V1" in (
            entry.source
        )
    spot = {e.name: e for e in detectors}["ssdlite320_mobilenet_v3_large.coco_v1"]
    assert (spot.accuracy, spot.input_size, spot.params_m, spot.gmacs) == (21.3, 320, 3.44, 0.583)


def test_yolo_rows_name_ultralytics_and_their_gmacs_are_what_hwfit_counts(zoo):
    from hwfit.models import load_model

    yolos = [e for e in select(zoo, families=[DETECTION_FAMILY]) if e.library == "ultralytics"]
    assert {e.arch for e in yolos} == {"yolov8n", "yolov8s", "yolov8m"}
    for entry in yolos:
        assert (entry.spec, entry.metric) == (f"ultralytics:{entry.arch}", "box_map")
        assert "ultralytics/ultralytics docs" in entry.source
    nano = {e.arch: e for e in yolos}["yolov8n"]
    info = load_model(nano.spec).info
    assert nano.gmacs == pytest.approx(info.macs / 1e9, rel=0.01)
    assert nano.params_m == round(info.params / 1e6, 1)


def test_detector_rows_are_at_the_size_hwfit_runs_the_detector(zoo):
    from hwfit.models.detection import DETECTORS

    runnable = [e for e in select(zoo, families=[DETECTION_FAMILY]) if e.arch in DETECTORS]
    assert {"ssdlite320_mobilenet_v3_large", "ssd300_vgg16"} <= {e.arch for e in runnable}
    for entry in runnable:
        height, width = DETECTORS[entry.arch].size
        if height == width:  # frontier measures a detector at its own fixed size
            assert entry.input_size == height, entry.name


def test_select_finds_detectors_by_spec_arch_and_name(zoo):
    by_spec = select(zoo, models=["torchvision:ssd300_vgg16"])
    assert [e.name for e in by_spec] == ["ssd300_vgg16.coco_v1"]
    assert select(zoo, models=["ssd300_vgg16"]) == by_spec
    assert select(zoo, models=["ssd300_vgg16.coco_v1"]) == by_spec
    with pytest.raises(UnknownNameError):
        select(zoo, models=["timm:ssd300_vgg16"])  # the library must match


def test_user_table_with_a_detector_row(tmp_path):
    path = _csv(
        tmp_path / "mine.csv",
        [
            [
                "det.v1",
                "torchvision:ssd300_vgg16",
                "Detection",
                "25",
                "",
                "300",
                "35.6",
                "lab",
                "box_map",
            ]
        ],
        header=(*OLD_COLUMNS[:-2], "source", "metric"),  # the library from the arch's prefix
    )
    (entry,) = load_zoo(path)
    assert (entry.spec, entry.metric, entry.family) == (
        "torchvision:ssd300_vgg16",
        "box_map",
        "detection",
    )


def test_accuracy_file_overrides_a_detector_in_its_own_metric(tmp_path, zoo):
    path = _csv(
        tmp_path / "acc.csv",
        [["torchvision:ssdlite320_mobilenet_v3_large", "22.5"]],
        header=("model", "accuracy"),
    )
    entry = {e.name: e for e in load_zoo(accuracy_file=path)}[
        "ssdlite320_mobilenet_v3_large.coco_v1"
    ]
    assert (entry.accuracy, entry.metric) == (22.5, "box_map")
    bad = _csv(tmp_path / "bad.csv", [["ssd300_vgg16", "25", "40"]], ("model", "top1", "top5"))
    with pytest.raises(UserError, match="gives a top5 to a box_map row"):
        load_zoo(accuracy_file=bad)
    unknown = _csv(
        tmp_path / "u.csv", [["torchvision:fcos_resnet50_fpn", "39"]], ("model", "top1")
    )
    with pytest.raises(UnknownNameError, match="adds timm models only"):
        load_zoo(accuracy_file=unknown)


def test_frontier_refuses_a_selection_that_mixes_metrics_before_measuring():
    from hwfit.analysis.frontier import frontier

    with pytest.raises(UserError) as info:
        frontier(models=["resnet18"], families=[DETECTION_FAMILY], save=False)
    assert "mixes accuracies that are not comparable" in info.value.message
    assert "1 ImageNet-1k top-1" in info.value.message
    assert "--family detection" in (info.value.hint or "")
    assert "\n" not in str(info.value)


def test_cli_frontier_mixed_metrics_is_one_line_exit_2(capsys):
    from hwfit.cli.main import run

    assert run(["frontier", "--family", "detection,resnet", "--no-save"]) == 2
    err = capsys.readouterr().err
    assert "not comparable" in err
    assert "Traceback" not in err


def _point(entry: ZooEntry, p50_ms: float):
    from hwfit.records import (
        BenchResult,
        FrontierPoint,
        InputSpec,
        LatencyStats,
        ModelInfo,
        RowState,
        RunConfig,
    )

    latency = LatencyStats(
        n=9, p50_ms=p50_ms, p90_ms=p50_ms, p99_ms=p50_ms, mean_ms=p50_ms, std_ms=0.0,
        min_ms=p50_ms, max_ms=p50_ms, ci_low_ms=p50_ms, ci_high_ms=p50_ms, ci_rel=0.0,
        warmup_runs=1, timed_s=1.0,
    )  # fmt: skip
    size = entry.input_size
    model = ModelInfo(entry.spec, "torch", entry.arch, InputSpec("x", (1, 3, size, size)))
    result = BenchResult(model, RunConfig(runtime="openvino"), RowState.COMPLETE, latency=latency)
    return FrontierPoint(entry, result)


def _detection_report(zoo):
    from hwfit.analysis.frontier import frontier_of
    from hwfit.records import FrontierReport

    detectors = select(zoo, families=[DETECTION_FAMILY])[:2]
    points = tuple(_point(e, ms) for e, ms in zip(detectors, (6.0, 60.0), strict=True))
    front, gmacs_front = frontier_of(points)
    settings = {"runtime": "openvino", "precision": "fp32", "batch": 1, "threads": None}
    return FrontierReport(
        points, tuple(front), tuple(gmacs_front), (), settings, {}, "f", metric="box_map"
    )


def test_detection_frontier_table_and_json_say_box_map(zoo):
    from hwfit.cli.render.analysis import frontier_table

    report = _detection_report(zoo)
    assert report.frontier == (0, 1)  # the faster SSDlite, the more accurate SSD300
    table, _ = frontier_table(report)
    headers = [str(c.header) for c in table.columns]
    assert "COCO box mAP" in headers
    assert "top-1" not in headers
    data = report.to_dict()
    assert data["metric"] == "box_map"
    point = data["points"][0]
    assert (point["metric"], point["accuracy"], point["top1"]) == ("box_map", 21.3, None)


def test_detection_frontier_page_axis_and_column_say_box_map(zoo):
    from hwfit.report.frontier_page import frontier_figure, render_frontier_page

    report = _detection_report(zoo)
    figure = frontier_figure(report)
    assert figure.layout.yaxis.title.text == "COCO val2017 box mAP (IoU 0.5:0.95) (%), published"
    assert "COCO box mAP" in figure.layout.title.text
    page = render_frontier_page(report)
    assert ">COCO box mAP %</th>" in page
    assert ">top-1 %</th>" not in page
