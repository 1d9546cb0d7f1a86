"""Search-space logic: dimensions, keys, decode/sample/mutate/scaled, name resolution."""

from __future__ import annotations

import math
import os
import random
import subprocess
import sys
from dataclasses import dataclass

import pytest

from hwfit.errors import UnknownNameError, UserError
from hwfit.nas import Arch, Dimension, space_for, space_summary
from hwfit.nas.space import choices_around, depth_choices, resolution_choices, round_width
from hwfit.nas.spaces import supported_names
from hwfit.nas.spaces.nb201 import arch_string, parse_arch_string

FAMILIES = {
    "mobilenetv2": "mobilenetv2_100",
    "efficientnet": "efficientnet_b0",
    "mobilenetv3": "mobilenetv3_large_100",
    "resnet": "resnet50",
    "regnet": "regnety_002",
    "nb201": "nb201",
}


@pytest.fixture(scope="module", params=list(FAMILIES.values()), ids=list(FAMILIES))
def space(request):
    return space_for(request.param, num_classes=10, resolution=64)


def _in_space(space, arch: Arch) -> bool:
    dims = {d.name: d for d in space.dimensions()}
    values = arch.as_dict()
    return set(values) == set(dims) and all(
        dims[k].match(v) is not None and type(dims[k].match(v)) is type(v)
        for k, v in values.items()
    )


def test_round_width_matches_timm_make_divisible():
    from timm.layers import make_divisible

    for channels in (8, 16, 24, 32, 40, 96, 112, 320, 1280):
        for mult in (0.35, 0.5, 0.75, 1.0, 1.1, 1.25, 1.4):
            assert round_width(channels, mult) == make_divisible(channels * mult, 8)


def test_choice_helpers_surround_the_baseline():
    assert choices_around(24, (0.5, 0.75, 1.0, 1.25)) == (16, 24, 32)
    assert depth_choices(3) == (2, 3, 4)
    assert depth_choices(1) == (1, 2)
    assert resolution_choices(64) == (32, 40, 48, 56, 64, 80)
    assert 224 in resolution_choices(224)
    assert min(resolution_choices(224)) == 112


def test_dimension_match_keeps_bools_and_numbers_apart():
    se = Dimension("s1_se", (False, True), False)
    assert se.match(True) is True
    assert se.match(1) is None
    depth = Dimension("s1_depth", (1, 2, 3), 2)
    assert depth.match(True) is None
    assert depth.match(3.0) == 3
    with pytest.raises(ValueError, match="not a choice"):
        Dimension("bad", (1, 2), 5)


def test_arch_params_sorted_and_key_golden():
    arch = Arch("demo", (("b", 2), ("a", "x"), ("c", True)))
    assert [k for k, _ in arch.params] == ["a", "b", "c"]
    assert arch == Arch("demo", (("c", True), ("a", "x"), ("b", 2)))
    assert arch.as_dict() == {"a": "x", "b": 2, "c": True}
    assert len(arch.key) == 12
    int(arch.key, 16)  # hexadecimal
    # A golden value: the key is a SHA-1, so it must never change between versions.
    assert Arch("demo", (("b", 2), ("a", "x"))).key == "1035d67185db"


def test_arch_key_stable_across_processes():
    space = space_for("mobilenetv2_100", num_classes=10, resolution=64)
    archs = [space.sample(random.Random(7)), space.baseline()]
    code = (
        "import sys; from hwfit.nas.space import Arch; "
        "print(*(Arch(s, p).key for s, p in eval(sys.stdin.read())))"
    )
    for seed in ("1", "2"):  # hash() would differ between these; the SHA-1 key must not
        out = subprocess.run(
            [sys.executable, "-c", code],
            input=repr([(a.space, a.params) for a in archs]),
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout.split()
        assert out == [a.key for a in archs]


def test_space_baseline_is_a_point_that_decodes_to_itself(space):
    base = space.baseline()
    assert _in_space(space, base)
    assert space.decode(base.as_dict()) == base
    assert space.decode({}) == base  # missing dimensions take the baseline value
    assert space.scaled(1.0, 1.0) == base


def test_space_sample_is_deterministic_and_in_space(space):
    first = [space.sample(random.Random(3)) for _ in range(2)]
    assert first[0] == first[1]
    rng = random.Random(0)
    archs = [space.sample(rng) for _ in range(20)]
    assert all(_in_space(space, a) for a in archs)
    assert all(space.decode(a.as_dict()) == a for a in archs)
    assert len({a.key for a in archs}) == 20


def test_space_mutate_stays_in_space_and_changes_something(space):
    rng = random.Random(1)
    arch = space.baseline()
    for _ in range(30):
        child = space.mutate(arch, rng, rate=0.1)
        assert _in_space(space, child)
        assert child != arch
        arch = child


def test_space_size_is_exact_product(space):
    dims = space.dimensions()
    assert space.size() == math.prod(len(d.choices) for d in dims)
    assert isinstance(space.size(), int)
    assert len({d.name for d in dims}) == len(dims)
    assert all(d.baseline in d.choices for d in dims)


def test_resnet18_size_by_hand():
    # per stage: depth 2 -> (1, 2, 3), width 64 -> 4 choices, se 2, act 3; resolution 6 choices
    space = space_for("resnet18", num_classes=10)
    assert space.size() == (3 * 4 * 2 * 3) ** 4 * 6 == 161_243_136


def test_space_decode_rejects_bad_params(space):
    name = space.dimensions()[0].name
    with pytest.raises(UserError, match="Unknown dimension 'no_such_dim'"):
        space.decode({"no_such_dim": 1})
    with pytest.raises(UserError, match="is not a choice"):
        space.decode({name: "definitely-not-a-choice"})
    other = space_for("resnet18", num_classes=10) if space.name != "resnet18" else None
    if other is not None:
        with pytest.raises(UserError, match="belongs to"):
            space.build(other.baseline())


def test_decode_rejects_bool_for_int_dimension():
    space = space_for("resnet18", num_classes=10)
    with pytest.raises(UserError, match="is not a choice"):
        space.decode({"s1_depth": True})


def test_space_scaled_variants_are_exact_choices():
    space = space_for("efficientnet_b0", num_classes=10)
    base = space.baseline().as_dict()
    for width in (0.5, 0.75, 1.0):
        for depth in (0.5, 1.0):
            values = space.scaled(width, depth).as_dict()
            for i in range(7):
                assert values[f"s{i}_width"] == round_width(int(base[f"s{i}_width"]), width)
                assert values[f"s{i}_depth"] == math.ceil(int(base[f"s{i}_depth"]) * depth)
            assert values["resolution"] == base["resolution"]
            assert values["s3_kernel"] == base["s3_kernel"]
    # Multipliers between the choices snap to the nearest one.
    assert _in_space(space, space.scaled(0.6, 0.7))


def test_regnet_widths_stay_multiples_of_the_group_size():
    space = space_for("regnetx_004", num_classes=10)
    groups = {16}
    for dim in space.dimensions():
        if dim.name.endswith("_width") and dim.name != "stem_width":
            assert all(int(c) % g == 0 for c in dim.choices for g in groups)
    assert _in_space(space, space.scaled(0.5, 0.5))


def test_resolution_argument_sets_the_baseline():
    space = space_for("timm:mobilenetv2_100", num_classes=10, resolution=64)
    assert space.resolution(space.baseline()) == 64
    assert space.input_shape(space.baseline(), batch=4) == (4, 3, 64, 64)
    res = next(d for d in space.dimensions() if d.name == "resolution")
    assert set(res.choices) >= {32, 48, 64, 80}
    assert (
        space_for("mobilenetv2_100", num_classes=10).resolution(
            space_for("mobilenetv2_100", num_classes=10).baseline()
        )
        == 224
    )


def test_timm_families_vary_what_they_support():
    names = {d.name for d in space_for("efficientnet_b0", num_classes=10).dimensions()}
    assert {"s3_depth", "s3_width", "s3_kernel", "s3_expand", "s3_se", "s3_act"} <= names
    assert {"stem_width", "head_width", "resolution"} <= names
    v3 = {d.name: d for d in space_for("mobilenetv3_large_100", num_classes=10).dimensions()}
    assert "s3_expand_x" in v3  # mixed expansion ratios inside the stage
    assert v3["s2_act"].baseline == "relu"
    assert v3["s3_act"].baseline == "hard_swish"
    assert v3["s2_kernel"].choices == (3, 5, 7)
    r50 = {d.name for d in space_for("resnet50", num_classes=10).dimensions()}
    assert "s2_bottleneck" in r50
    assert not any(n.endswith("_kernel") for n in r50)


@dataclass(frozen=True)
class BadName:
    text: str
    message: str


@pytest.mark.parametrize(
    "case",
    [
        BadName("mobilenetv2_10", "Did you mean .*'mobilenetv2_100'"),
        BadName("timm:vit_base_patch16_224", "Unsupported search baseline"),
        BadName("nothing", "Unsupported search baseline"),
    ],
    ids=lambda c: c.text,
)
def test_space_for_unknown_name_lists_families(case: BadName):
    with pytest.raises(UnknownNameError, match=case.message) as info:
        space_for(case.text, num_classes=10)
    assert "Supported families" in str(info.value)
    assert "resnet" in str(info.value)


def test_space_for_rejects_bad_numbers():
    with pytest.raises(UserError, match="num_classes"):
        space_for("resnet18", num_classes=0)
    with pytest.raises(UserError, match="Resolution"):
        space_for("resnet18", num_classes=10, resolution=4)


def test_supported_names_cover_the_requested_baselines():
    names = set(supported_names())
    assert {
        "mobilenetv2_100",
        "mobilenetv2_050",
        "mobilenetv3_large_100",
        "mobilenetv3_small_100",
        "efficientnet_b0",
        "efficientnet_b3",
        "resnet18",
        "resnet34",
        "resnet50",
        "regnetx_002",
        "regnety_002",
        "nb201",
    } <= names


def test_nb201_space_has_15625_cells_and_round_trips_strings():
    space = space_for("nb201", num_classes=10)
    assert space.size() == 15625 == 5**6
    assert space.resolution(space.baseline()) == 32
    best = (
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|"
        "+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
    )
    arch = space.from_string(best)
    assert space.describe(arch) == best
    assert arch.value("edge_3_0") == "skip_connect"
    assert space.describe(space.baseline()) == (
        "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|none~2|"
    )
    rng = random.Random(5)
    for _ in range(50):
        sample = space.sample(rng)
        assert space.from_string(space.describe(sample)) == sample


@pytest.mark.parametrize(
    "text",
    [
        "|nor_conv_3x3~0|+|none~0|",
        "|conv_5x5~0|+|none~0|none~1|+|none~0|none~1|none~2|",
        "|none~1|+|none~0|none~1|+|none~0|none~1|none~2|",
    ],
)
def test_nb201_bad_strings_are_user_errors(text):
    with pytest.raises(UserError):
        parse_arch_string(text)


def test_nb201_arch_string_of_parse_is_identity():
    text = "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|none~0|none~1|nor_conv_3x3~2|"
    assert arch_string(parse_arch_string(text)) == text


def test_space_summary_record():
    summary = space_summary(space_for("resnet18", num_classes=10, resolution=64))
    assert summary.size == 161_243_136
    assert summary.size_sci == "1.61e+08"
    assert summary.resolution == 64
    assert summary.baseline_params == 11_181_642
    assert summary.dimensions[0].name == "s1_depth"
    assert "BasicBlock" in summary.baseline_description
    data = summary.to_dict()
    assert data["size"] == 161_243_136
    assert data["dimensions"][0] == {"name": "s1_depth", "choices": [1, 2, 3], "baseline": 2}
