"""Search training data from real files: unreadable images skipped and named, or refused."""

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from hwfit.errors import UserError
from hwfit.nas.data import load_train_data

COLOURS = {"blue": (20, 20, 200), "green": (20, 200, 20), "red": (200, 20, 20)}


def _png_bytes(colour: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), colour).save(buffer, "PNG")
    return buffer.getvalue()


def _truncated_jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.effect_noise((200, 150), 60).convert("RGB").save(buffer, "JPEG", quality=95)
    return buffer.getvalue()[: len(buffer.getvalue()) // 2]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """3 classes of 6 one-colour PNGs, plus a truncated JPEG and a text file named .png."""
    for name, colour in COLOURS.items():
        (tmp_path / name).mkdir()
        for i in range(6):
            (tmp_path / name / f"{i}.png").write_bytes(_png_bytes(colour))
    (tmp_path / "green" / "0_cut.jpg").write_bytes(_truncated_jpeg())
    (tmp_path / "red" / "00_text.png").write_text("not an image")
    return tmp_path


def test_unreadable_training_images_are_skipped_and_named(folder):
    data = load_train_data(folder, resolution=16)
    assert data.skipped == ("green/0_cut.jpg", "red/00_text.png")
    assert len(data.y_train) + len(data.y_val) == 18  # every readable image, split
    assert torch.bincount(torch.cat([data.y_train, data.y_val])).tolist() == [6, 6, 6]
    # each image is its class colour: the labels stayed with their images
    x = torch.cat([data.x_train, data.x_val])
    y = torch.cat([data.y_train, data.y_val])
    blue, green, red = (x[y == i].mean(dim=(0, 2, 3)) for i in range(3))
    assert blue.argmax() == 2
    assert green.argmax() == 1
    assert red.argmax() == 0
    notes = data.notes()
    assert notes[0].startswith("Preprocessing of the training data (")
    assert "resize 16 (shorter side, bilinear; none for 16x16 images), center crop 16" in notes[0]
    assert notes[1].startswith(
        "Skipped 2 unreadable images (green/0_cut.jpg, red/00_text.png) in "
    )
    assert "--strict-data" in notes[1]


def test_strict_training_data_fails_on_the_first_unreadable_image(folder):
    with pytest.raises(UserError, match=r"Cannot read image .*0_cut\.jpg") as e:
        load_train_data(folder, resolution=16, strict=True)
    assert "--strict-data" in (e.value.hint or "")


def test_the_size_comes_from_the_first_readable_image(folder):
    for name in COLOURS:  # the first file of every class cannot be read
        (folder / name / "0.png").rename(folder / name / "9.png")
        (folder / name / "0.png").write_bytes(b"")
    data = load_train_data(folder)
    assert data.resolution == 16
    assert {"blue/0.png", "green/0.png", "red/0.png"} <= set(data.skipped)


def test_encoded_npz_images_that_cannot_be_decoded_are_skipped_with_their_labels(tmp_path):
    files = [_png_bytes(COLOURS["red"]), _truncated_jpeg(), _png_bytes(COLOURS["blue"])] * 4
    blob = np.frombuffer(b"".join(files), dtype=np.uint8)
    offsets = np.cumsum([0, *(len(f) for f in files)])
    labels = np.array([0, 1, 2] * 4)  # class 1 is the broken one: it must vanish with its images
    path = tmp_path / "encoded.npz"
    np.savez(path, x_encoded=blob, x_offsets=offsets, y=labels, classes=np.array(["r", "x", "b"]))
    data = load_train_data(path, val_fraction=0.25)
    assert data.skipped == tuple(f"x_encoded[{i}]" for i in (1, 4, 7, 10))
    y = torch.cat([data.y_train, data.y_val])
    assert sorted(y.tolist()) == [0, 0, 0, 0, 2, 2, 2, 2]
    x = torch.cat([data.x_train, data.x_val])
    assert (x[y == 0][:, 0].mean() > x[y == 0][:, 2].mean()).item()  # red images labelled 0
    assert (x[y == 2][:, 2].mean() > x[y == 2][:, 0].mean()).item()
    with pytest.raises(UserError, match=r"Encoded image 1 of 'x' .* cannot be decoded"):
        load_train_data(path, strict=True)
