"""The executed-precision label: per-layer element types in, one readable precision out."""

from __future__ import annotations

import dataclasses

import pytest

from hwfit.runtimes.executed import executed_label, precision_name


@dataclasses.dataclass(frozen=True)
class Case:
    id: str
    layers: tuple[str, ...]
    label: str


CASES = [
    Case("all-u8", ("u8",) * 16, "int8"),
    # OpenVINO runs a layer whose input may be negative (the stem, after no ReLU) as i8, the
    # others as u8: both are INT8 kernels, so the model is fully INT8.
    Case("u8-and-i8", ("u8",) * 15 + ("i8",), "int8"),
    Case("upper-case", ("U8", "I8", "u8"), "int8"),
    Case("all-f32", ("f32",) * 3, "fp32"),
    Case("all-bf16", ("bf16", "bf16"), "bf16"),
    Case("all-f16", ("f16",), "fp16"),
    Case(
        "int8-with-fp32",
        ("u8",) * 14 + ("i8", "f32", "f32"),
        "int8 (compute layers int8:15, fp32:2)",
    ),
    Case(
        "int8-with-bf16",
        ("bf16", "u8", "u8", "i8"),
        "int8 (compute layers int8:3, bf16:1)",
    ),
    Case(
        "mostly-float",
        ("f32", "f32", "f32", "u8"),
        "fp32 (compute layers fp32:3, int8:1)",
    ),
    Case("unknown-type", ("I4", "i4"), "i4"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_executed_label_aggregates_by_precision_name(case):
    assert executed_label(case.layers, default="fp32") == case.label


def test_executed_label_is_the_default_when_there_are_no_compute_layers():
    assert executed_label([], default="bf16") == "bf16"


def test_executed_label_accepts_any_iterable():
    assert executed_label(iter(["u8", "i8"]), default="fp32") == "int8"


@pytest.mark.parametrize(
    ("element_type", "name"),
    [
        ("f32", "fp32"),
        ("FP32", "fp32"),
        ("bf16", "bf16"),
        ("f16", "fp16"),
        ("i8", "int8"),
        ("u8", "int8"),
        ("uint8", "int8"),
        ("i4", "i4"),
    ],
)
def test_precision_name_maps_runtime_types_to_hwfit_names(element_type, name):
    assert precision_name(element_type) == name
