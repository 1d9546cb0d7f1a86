import pytest

from hwfit.errors import InputShapeError
from hwfit.models.shapes import merge_shape, parse_shape


@pytest.mark.parametrize("text", ["1x3x224x224", "1,3,224,224", " 1 x3x224x224"])
def test_parse_shape(text):
    assert parse_shape(text) == (1, 3, 224, 224)


@pytest.mark.parametrize("text", ["", "1x3xax4", "0x3x4x4", "-1x3"])
def test_parse_shape_rejects(text):
    with pytest.raises(InputShapeError, match="Cannot read input shape"):
        parse_shape(text)


def test_merge_fills_dynamic_batch_with_one():
    assert merge_shape("m", [None, 3, 8, 8], None) == (1, 3, 8, 8)


def test_merge_requires_shape_for_dynamic_spatial_dims():
    with pytest.raises(InputShapeError, match="dynamic input shape") as info:
        merge_shape("m", [None, 3, None, None], None)
    assert "--input-shape" in (info.value.hint or "")


def test_merge_rejects_contradicting_user_shape():
    with pytest.raises(InputShapeError, match="dimension 2 is fixed at 8"):
        merge_shape("m", [None, 3, 8, 8], (1, 3, 9, 8))
    with pytest.raises(InputShapeError, match="has 3 dimensions"):
        merge_shape("m", [None, 3, 8, 8], (1, 3, 8))


def test_merge_without_any_shape_says_what_to_do():
    with pytest.raises(InputShapeError, match="does not say what input shape"):
        merge_shape("m", None, None)
