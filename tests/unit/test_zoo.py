"""The zoo table: shipped contents, traceability to timm's tables, selection and user files."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from hwfit.errors import UnknownNameError, UserError
from hwfit.zoo import (
    COLUMNS,
    CUSTOM_FAMILY,
    FRONTIER_FAMILIES,
    ZooEntry,
    families,
    load_zoo,
    select,
)

SHARED = Path("/work/shared/data/timm-results")
ACCURACY_TABLE = SHARED / "results-imagenet.csv"
GMACS_TABLE = SHARED / "benchmark-infer-fp32-nchw-pt240-cpu-i9_10940x-dynamo.csv"


@pytest.fixture(scope="module")
def zoo() -> list[ZooEntry]:
    return load_zoo()


def test_shipped_zoo_covers_the_families_with_unique_names(zoo):
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
    for entry in zoo:
        assert entry.spec == f"timm:{entry.arch}"
        assert entry.name.startswith(f"{entry.arch}.")
        assert 50 < entry.top1 < 90
        assert entry.top5 is not None
        assert entry.top1 < entry.top5
        assert entry.gmacs is not None
        assert entry.source


def test_shipped_archs_and_weights_exist_in_this_timm(zoo):
    import timm

    known = set(timm.list_models())
    for entry in zoo:
        assert entry.arch in known, entry.arch
        cfg = timm.models.get_pretrained_cfg(entry.name)
        assert cfg is not None, f"timm has no weights {entry.name}"
        # The accuracy is the one at the resolution timm's config evaluates by default.
        assert cfg.input_size[-1] == entry.input_size, entry.name


@pytest.mark.skipif(not ACCURACY_TABLE.is_file(), reason="timm's published tables are absent")
def test_shipped_numbers_equal_timms_published_tables(zoo):
    with ACCURACY_TABLE.open() as fh:
        accuracy = {(r["model"], int(r["img_size"])): r for r in csv.DictReader(fh)}
    with GMACS_TABLE.open() as fh:
        gmacs = {(r["model"], int(r["infer_img_size"])): r for r in csv.DictReader(fh)}
    for entry in zoo:
        row = accuracy[(entry.name, entry.input_size)]
        assert entry.top1 == float(row["top1"]), entry.name
        assert entry.top5 == float(row["top5"]), entry.name
        assert entry.params_m == float(row["param_count"]), entry.name
        assert entry.gmacs == float(gmacs[(entry.arch, entry.input_size)]["infer_gmacs"])
        assert "aa4b5850c1543fa488abf260f18390eda46cf85d" in entry.source
    spot = {e.name: e for e in zoo}["resnet50.tv_in1k"]
    assert (spot.top1, spot.input_size, spot.gmacs) == (76.156, 224, 4.11)


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
        (COLUMNS, [["a.b", "a", "f", "high", "", "224", "1", "", ""]], "The top1 'high' in"),
        (COLUMNS, [["a.b", "a", "f", "176", "", "224", "1", "", ""]], "The top1 '176' in"),
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
    assert (by_name["resnet50.a1_in1k"].top1, by_name["resnet50.a1_in1k"].top5) == (81.0, 95.5)
    assert by_name["resnet50.tv_in1k"] == {e.name: e for e in zoo}["resnet50.tv_in1k"]
    mobile = by_name["mobilenetv2_100.ra_in1k"]
    assert (mobile.top1, mobile.top5, mobile.input_size) == (70.25, None, 192)
    assert mobile.source == "accuracy file acc.csv line 3"
    added = entries[-1]
    assert (added.name, added.arch, added.family) == ("test_resnet", "test_resnet", CUSTOM_FAMILY)
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
