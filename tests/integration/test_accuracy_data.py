"""Evaluation data on real files: image folders, .npz, preprocessing against timm, splits."""

import dataclasses
import io
import json
import tarfile
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from hwfit.accuracy import (
    Dataset,
    Preprocess,
    count_samples,
    load_dataset,
    load_image,
    preprocess_for,
    skipped_text,
    split,
)
from hwfit.accuracy import datasets as data_mod
from hwfit.errors import InputShapeError, UserError
from hwfit.models import load_model

CIFAR = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "cifar10-test-jpeg.tar.gz"
SMALL = Preprocess.create((3, 32, 32), crop_pct=1.0, mean=(0.5,) * 3, std=(0.5,) * 3)


def _picture(seed: int, size: tuple[int, int] = (48, 40), mode: str = "RGB") -> Image.Image:
    """A small picture with gradients, shapes and noise (so resampling has work to do)."""
    w, h = size
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx * 255 // max(w - 1, 1), yy * 255 // max(h - 1, 1), (xx + yy) % 256], -1)
    noisy = np.clip(base + rng.normal(0, 20, base.shape), 0, 255).astype(np.uint8)
    img = Image.fromarray(noisy, "RGB")
    draw = ImageDraw.Draw(img)
    for _ in range(3):
        x0, y0 = int(rng.integers(0, w // 2)), int(rng.integers(0, h // 2))
        x1, y1 = x0 + int(rng.integers(4, w // 2)), y0 + int(rng.integers(4, h // 2))
        color = tuple(int(c) for c in rng.integers(0, 256, 3))
        draw.ellipse((x0, y0, x1, y1), fill=color)
    return img.convert(mode)


@pytest.fixture
def class_folder(tmp_path: Path) -> Path:
    """3 classes of 4 images: JPEG (any case), PNG, RGBA and grayscale, one nested folder."""
    root = tmp_path / "data"
    for c, name in enumerate(["zebra", "ant", "cat"]):  # sorted: ant=0, cat=1, zebra=2
        folder = root / name
        folder.mkdir(parents=True)
        for i in range(4):
            seed = 10 * c + i
            if i == 0:
                _picture(seed).save(folder / f"img{i}.JPG")
            elif i == 1:
                _picture(seed, (30, 50), "RGBA").save(folder / f"img{i}.png")
            elif i == 2:
                _picture(seed, mode="L").save(folder / f"img{i}.jpeg")
            else:
                (folder / "nested").mkdir()
                _picture(seed, (64, 64)).save(folder / "nested" / f"img{i}.webp")
        (folder / "notes.txt").write_text("not an image")
    (root / ".cache").mkdir()  # hidden folders are not classes
    return root


def test_class_folder_labels_follow_sorted_folder_names(class_folder):
    ds = load_dataset(class_folder, SMALL)
    assert ds.classes == ("ant", "cat", "zebra")
    assert ds.x.shape == (12, 3, 32, 32)
    assert ds.x.dtype == np.float32
    assert ds.y is not None
    assert ds.y.dtype == np.int64
    assert ds.y.tolist() == [0] * 4 + [1] * 4 + [2] * 4
    assert ds.labelled
    assert len(ds) == 12
    assert ds.source == str(class_folder)
    assert -1.0 <= ds.x.min() < ds.x.max() <= 1.0
    assert count_samples(class_folder) == 12
    # first image of "ant" is img0.JPG of picture seed 10
    expected = SMALL.apply(_jpeg_roundtrip(class_folder / "ant" / "img0.JPG"))
    np.testing.assert_array_equal(ds.x[0], expected)
    assert "12 x (3, 32, 32)" in repr(ds)


def _jpeg_roundtrip(path: Path) -> Image.Image:
    with Image.open(path) as img:
        img.load()
        return img


def test_flat_folder_is_unlabelled(tmp_path):
    for i in range(5):
        _picture(i).save(tmp_path / f"{i}.png")
    ds = load_dataset(tmp_path, SMALL)
    assert ds.y is None
    assert ds.classes == ()
    assert len(ds) == 5
    assert not ds.labelled


def test_limit_reads_only_the_images_it_keeps(class_folder, monkeypatch):
    reads = []
    real = data_mod.load_image
    monkeypatch.setattr(data_mod, "load_image", lambda p: reads.append(p) or real(p))
    ds = load_dataset(class_folder, SMALL, limit=6, seed=3)
    assert len(reads) == 6
    assert len(ds) == 6
    assert ds.y is not None
    assert np.bincount(ds.y).tolist() == [2, 2, 2]  # in proportion to the class sizes
    again = load_dataset(class_folder, SMALL, limit=6, seed=3)
    np.testing.assert_array_equal(ds.x, again.x)
    others = [load_dataset(class_folder, SMALL, limit=6, seed=s).x for s in range(4, 8)]
    assert any(not np.array_equal(ds.x, o) for o in others)
    assert len(load_dataset(class_folder, SMALL, limit=100)) == 12  # more than there is: all


def test_limit_is_class_proportional_on_unbalanced_data(tmp_path):
    base = _picture(0)
    for name, count in [("a", 40), ("b", 10)]:
        (tmp_path / name).mkdir()
        for i in range(count):
            base.save(tmp_path / name / f"{i}.png")
    ds = load_dataset(tmp_path, SMALL, limit=10)
    assert ds.y is not None
    assert np.bincount(ds.y).tolist() == [8, 2]


@pytest.mark.parametrize(
    ("layout", "match"),
    [
        ("missing", "not found"),
        ("empty", "has no images: it holds no images"),
        ("only_text", "has no images"),
        ("empty_subfolders", "its sub-folders 'a', 'b' hold no images"),
        ("one_empty_class", r"Class folder\(s\) 'b' in .* hold no images"),
        ("text_file", "neither a folder nor a .npz"),
    ],
)
def test_folder_errors(tmp_path, layout, match):
    path = tmp_path / "d"
    if layout != "missing":
        path.mkdir()
    if layout == "only_text":
        (path / "a.txt").write_text("x")
    if layout in ("empty_subfolders", "one_empty_class"):
        (path / "a").mkdir()
        (path / "b").mkdir()
    if layout == "one_empty_class":
        _picture(0).save(path / "a" / "0.png")
    if layout == "text_file":
        path.rmdir()
        path = tmp_path / "d.csv"
        path.write_text("1,2")
    with pytest.raises(UserError, match=match) as e:
        load_dataset(path, SMALL)
    assert e.value.hint


def _truncated_jpeg(path: Path) -> None:
    """A JPEG cut in half, as an interrupted download or copy leaves it."""
    buffer = io.BytesIO()
    _picture(99, (400, 300)).save(buffer, "JPEG", quality=95)
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])


@pytest.fixture
def folder_with_bad_files(tmp_path: Path) -> Path:
    """2 classes of 5 good PNGs each, and 4 unreadable files PIL is asked to decode."""
    root = tmp_path / "data"
    for c, name in enumerate(["cat", "dog"]):
        (root / name).mkdir(parents=True)
        for i in range(5):
            _picture(10 * c + i, (32, 32)).save(root / name / f"{i}.png")
    _truncated_jpeg(root / "cat" / "2_cut.jpg")
    (root / "cat" / "3_text.jpg").write_text("a text file named .jpg")
    (root / "dog" / "0_empty.png").write_bytes(b"")
    (root / "dog" / "9_html.jpeg").write_bytes(b"\xff\xd8\xff\xe0 <html>404 not found</html>")
    return root


BAD_FILES = ("cat/2_cut.jpg", "cat/3_text.jpg", "dog/0_empty.png", "dog/9_html.jpeg")


def test_unreadable_images_are_skipped_and_named(folder_with_bad_files):
    ds = load_dataset(folder_with_bad_files, SMALL)
    assert ds.skipped == BAD_FILES  # folder order, relative to the dataset folder
    assert len(ds) == 10
    assert ds.y is not None
    assert ds.y.tolist() == [0] * 5 + [1] * 5
    good = sorted(folder_with_bad_files.glob("*/[0-9].png"))
    expected = np.stack([SMALL.apply(_jpeg_roundtrip(p)) for p in good])
    np.testing.assert_array_equal(ds.x, expected)  # the readable images, unchanged
    assert count_samples(folder_with_bad_files) == 14  # counting decodes nothing
    assert "4 skipped" in repr(ds)
    calib, val = split(ds, 4, 6)
    assert calib.skipped == val.skipped == BAD_FILES
    assert skipped_text(ds.skipped) == (
        "4 unreadable images (cat/2_cut.jpg, cat/3_text.jpg, dog/0_empty.png and 1 more)"
    )


def test_strict_data_fails_on_the_first_unreadable_image(folder_with_bad_files):
    with pytest.raises(UserError) as e:
        load_dataset(folder_with_bad_files, SMALL, strict=True)
    assert e.value.message.startswith("Cannot read image ")
    assert e.value.message.count("2_cut.jpg") == 1
    assert "\n" not in e.value.message
    assert "--strict-data" in (e.value.hint or "")
    with pytest.raises(UserError, match="Cannot read image"):
        load_image(folder_with_bad_files / "nope.png")


def test_limit_replaces_an_unreadable_image_with_the_next_readable_one(folder_with_bad_files):
    every = load_dataset(folder_with_bad_files, SMALL)
    ds = load_dataset(folder_with_bad_files, SMALL, limit=8, seed=1)
    assert len(ds) == 8  # as asked, though some chosen files were unreadable
    assert ds.skipped
    assert set(ds.skipped) <= set(BAD_FILES)
    for row in ds.x:  # each sample is one of the readable images
        assert any(np.array_equal(row, good) for good in every.x)
    assert len(load_dataset(folder_with_bad_files, SMALL, limit=100)) == 10


def test_a_folder_of_only_unreadable_images_is_the_no_images_error(tmp_path):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        _truncated_jpeg(tmp_path / name / "x.jpg")
    with pytest.raises(UserError, match=r"has no images: all 2 image files are unreadable") as e:
        load_dataset(tmp_path, SMALL)
    assert "a/x.jpg, b/x.jpg" in e.value.message
    assert e.value.hint


def test_many_images_decode_in_threads_with_the_same_result(tmp_path, monkeypatch):
    for i in range(40):
        _picture(i).save(tmp_path / f"{i:02d}.png")
    threaded = load_dataset(tmp_path, SMALL)
    monkeypatch.setattr(data_mod, "_PARALLEL_MIN", 10_000)
    serial = load_dataset(tmp_path, SMALL)
    np.testing.assert_array_equal(threaded.x, serial.x)


# --- .npz ------------------------------------------------------------------------------------


def test_npz_float_inputs_are_used_as_they_are(tmp_path):
    x = np.random.default_rng(0).normal(size=(7, 3, 32, 32))  # float64: cast to float32
    y = np.array([0, 1, 2, 3, 4, 5, 6], dtype=np.float64)  # integral floats are fine
    path = tmp_path / "d.npz"
    np.savez(path, x=x, y=y, classes=np.array(list("abcdefg")))
    ds = load_dataset(path, SMALL)
    np.testing.assert_array_equal(ds.x, x.astype(np.float32))
    assert ds.y is not None
    assert ds.y.tolist() == list(range(7))
    assert ds.classes == tuple("abcdefg")
    assert count_samples(path) == 7
    assert len(load_dataset(path, SMALL, limit=3)) == 3


def test_npz_uint8_images_are_preprocessed_like_image_files(tmp_path):
    images = [np.asarray(_picture(i, (40, 30))) for i in range(6)]
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i, arr in enumerate(images):
        Image.fromarray(arr).save(folder / f"{i}.png")  # lossless
    from_files = load_dataset(folder, SMALL)
    nhwc = tmp_path / "nhwc.npz"
    np.savez_compressed(nhwc, x=np.stack(images))
    nchw = tmp_path / "nchw.npz"
    np.savez(nchw, x=np.stack(images).transpose(0, 3, 1, 2), y=np.arange(6))
    np.testing.assert_array_equal(load_dataset(nhwc, SMALL).x, from_files.x)
    np.testing.assert_array_equal(load_dataset(nchw, SMALL).x, from_files.x)
    assert load_dataset(nhwc, SMALL).y is None


def test_npz_float_inputs_of_the_wrong_shape(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, x=np.zeros((2, 3, 28, 28), np.float32))
    with pytest.raises(InputShapeError, match=r"3x28x28 per sample, but the model takes 3x32x32"):
        load_dataset(path, SMALL)
    np.savez(path, x=np.zeros((2, 32, 32, 3), np.float32))
    with pytest.raises(InputShapeError) as e:
        load_dataset(path, SMALL)
    assert "transpose(0, 3, 1, 2)" in (e.value.hint or "")


@pytest.mark.parametrize(
    ("arrays", "match"),
    [
        ({"images": np.zeros((2, 3, 32, 32), np.float32)}, r"no array 'x' \(it holds: images\)"),
        ({"x": np.zeros((2, 3, 32, 32), np.float32), "y": np.arange(3)}, "2 samples in 'x' but 3"),
        ({"x": np.zeros((2, 3, 32, 32), np.float32), "y": np.array([0.5, 1])}, "not integer"),
        ({"x": np.zeros((2, 32, 32), np.float32)}, "4 dimensions"),
        ({"x": np.zeros((2, 3, 32, 32), np.int32)}, "uint8 images or float inputs"),
        ({"x": np.zeros((2, 7, 32, 9), np.uint8)}, "neither"),
    ],
)
def test_npz_errors(tmp_path, arrays, match):
    path = tmp_path / "d.npz"
    np.savez(path, **arrays)
    with pytest.raises(UserError, match=match) as e:
        load_dataset(path, SMALL)
    assert e.value.hint


def test_npz_that_is_not_a_zip(tmp_path):
    path = tmp_path / "d.npz"
    path.write_bytes(b"garbage")
    with pytest.raises(UserError, match=r"Cannot read .* as a \.npz file"):
        load_dataset(path, SMALL)
    with pytest.raises(UserError, match=r"Cannot read .* as a \.npz file"):
        count_samples(path)


def test_limit_must_be_positive(class_folder):
    with pytest.raises(UserError, match="limit must be a positive"):
        load_dataset(class_folder, SMALL, limit=0)


# --- split -----------------------------------------------------------------------------------


def _indexed(n: int, classes: int | None) -> Dataset:
    x = np.arange(n, dtype=np.float32).reshape(n, 1, 1, 1)  # x holds the sample's index
    y = None if classes is None else (np.arange(n) % classes).astype(np.int64)
    return Dataset(x=x, y=y, source="mem")


@pytest.mark.parametrize("classes", [None, 10])
def test_split_is_disjoint_seeded_and_balanced(classes):
    ds = _indexed(1000, classes)
    calib, val = split(ds, 300, 500, seed=1)
    a, b = set(calib.x.ravel().tolist()), set(val.x.ravel().tolist())
    assert len(a) == 300
    assert len(b) == 500
    assert not a & b
    again = split(ds, 300, 500, seed=1)
    np.testing.assert_array_equal(calib.x, again[0].x)
    np.testing.assert_array_equal(val.x, again[1].x)
    assert not np.array_equal(split(ds, 300, 500, seed=2)[0].x, calib.x)
    assert list(calib.x.ravel()) == sorted(calib.x.ravel())  # dataset order kept
    if classes:
        assert calib.y is not None
        assert val.y is not None
        assert np.bincount(calib.y).tolist() == [30] * 10
        assert np.bincount(val.y).tolist() == [50] * 10
        np.testing.assert_array_equal(calib.y, calib.x.ravel().astype(np.int64) % 10)


def test_split_edges_and_errors():
    ds = _indexed(10, 2)
    calib, val = split(ds, 0, 10)
    assert len(calib) == 0
    assert len(val) == 10
    with pytest.raises(UserError, match="holds 10") as e:
        split(ds, 6, 5)
    assert "at most 10" in (e.value.hint or "")
    with pytest.raises(UserError, match="negative"):
        split(ds, -1, 5)


# --- Preprocess ------------------------------------------------------------------------------


def test_preprocess_dict_round_trips_through_json():
    p = Preprocess.create(
        (3, 224, 224), crop_pct=0.95, interpolation="bicubic", crop_mode="squash"
    )
    assert p.resize == 235
    back = Preprocess.from_dict(json.loads(json.dumps(p.to_dict())))
    assert back == p
    with pytest.raises(UserError, match="missing"):
        Preprocess.from_dict({"input_size": [3, 8, 8]})
    with pytest.raises(UserError, match=r"unknown \['colour'\]"):
        Preprocess.from_dict({**p.to_dict(), "colour": 1})
    with pytest.raises(UserError, match="Cannot read preprocessing settings"):
        Preprocess.from_dict({**p.to_dict(), "resize": "big"})


def test_preprocess_options_override_the_models_settings():
    base = Preprocess.create((3, 160, 160), crop_pct=0.95)
    assert base.resize == 168
    p = Preprocess.parse("mean=0.5,0.5,0.5;std=0.5,0.5,0.5;crop_pct=1.0", base=base)
    assert (p.mean, p.std, p.crop_pct, p.resize) == ((0.5,) * 3, (0.5,) * 3, 1.0, 160)
    p = base.with_options("resize=200; interpolation=BICUBIC; crop-mode=border")
    assert (p.resize, p.crop_pct, p.interpolation, p.crop_mode) == (200, 0.8, "bicubic", "border")
    assert base.with_options("crop_pct=0.8;resize=200").resize == 200
    assert base.with_options("") is base


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("men=0.5", "Unknown preprocessing option 'men'. Did you mean 'mean'"),
        ("mean", "Cannot read preprocessing option 'mean'"),
        ("mean=a,b,c", "Cannot read mean="),
        ("mean=0.1,0.2", r"needs 3 finite numbers"),
        ("std=0,1,1", "must be positive"),
        ("crop_pct=0", "out of range"),
        ("resize=-3", "positive integer"),
        ("crop_pct=0.9;resize=100", "disagree"),
        ("interpolation=cubic", "Unknown interpolation 'cubic'. Did you mean 'bicubic'"),
        ("crop_mode=middle", "Unknown crop_mode"),
        ("mean=0.5;mean=0.4", "given twice"),
    ],
)
def test_preprocess_option_errors(text, match):
    base = Preprocess.create((3, 160, 160))
    with pytest.raises(UserError, match=match) as e:
        base.with_options(text)
    assert e.value.hint


def test_preprocess_refuses_non_image_shapes():
    with pytest.raises(InputShapeError, match="4 channels"):
        Preprocess.create((1, 4, 32, 32))
    with pytest.raises(InputShapeError, match=r"\(C, H, W\)"):
        Preprocess.create((32, 32))


def test_grayscale_model_and_small_image_padding():
    gray = Preprocess.create((1, 16, 16), crop_pct=1.0)
    assert gray.mean == (0.449,)
    out = gray.apply(_picture(0, (16, 16)))
    assert out.shape == (1, 16, 16)
    # crop_pct > 1 shrinks the image below the input size: zero-padded, as torchvision does
    padded = Preprocess.create((3, 16, 16), crop_pct=2.0, mean=(0,) * 3, std=(1,) * 3)
    arr = padded.apply(_picture(1, (16, 16)))
    assert arr.shape == (3, 16, 16)
    assert (arr[:, 0, :] == 0).all()
    assert (arr[:, 4:12, 4:12] > 0).any()


# --- against timm ----------------------------------------------------------------------------


def _real_images() -> list[Image.Image]:
    """Pictures of several sizes and aspect ratios, plus CIFAR-10 photos when available."""
    images = [_picture(s, size) for s, size in enumerate([(300, 200), (97, 131), (224, 224)])]
    images.append(_picture(5, (640, 480)).resize((320, 240)))
    if CIFAR.exists():
        with tarfile.open(CIFAR) as tf:
            members = []
            for m in tf:
                if m.isfile() and m.name.endswith(".jpg"):
                    members.append(m)
                if len(members) == 4:
                    break
            for m in members:
                fh = tf.extractfile(m)
                assert fh is not None
                with Image.open(fh) as img:
                    images.append(img.convert("RGB"))
    return images


@pytest.mark.parametrize(
    ("spec", "interpolation", "crop_pct"),
    [("timm:test_resnet", "bilinear", 0.95), ("timm:efficientnet_b0", "bicubic", 0.875)],
)
@pytest.mark.parametrize("crop_mode", ["center", "squash", "border"])
def test_preprocess_matches_timm_eval_transform(spec, interpolation, crop_pct, crop_mode):
    from timm.data import create_transform, resolve_data_config

    artifact = load_model(spec)
    module = artifact.torch_module()
    pre = preprocess_for(artifact)
    assert pre.interpolation == interpolation
    assert pre.crop_pct == crop_pct
    cfg = resolve_data_config({}, model=module)
    assert pre.input_size == cfg["input_size"]
    assert pre.mean == pytest.approx(cfg["mean"])
    assert pre.std == pytest.approx(cfg["std"])
    pre = dataclasses.replace(pre, crop_mode=crop_mode)
    reference = create_transform(**{**cfg, "crop_mode": crop_mode})
    worst = max(
        float(np.abs(reference(img).numpy() - pre.apply(img)).max()) for img in _real_images()
    )
    assert worst < 1e-5  # measured: 0.0 (same PIL resize, same float32 arithmetic)


def test_preprocess_for_other_input_size_and_non_timm_models(onnx_file):
    small = preprocess_for(load_model("timm:test_resnet"), (1, 3, 128, 128))
    assert (small.input_size, small.crop_pct, small.resize) == ((3, 128, 128), 0.95, 134)
    assert small.mean == (0.5, 0.5, 0.5)

    assert small.source == "timm config"

    # an ONNX file carries no preprocessing: derived from its input size, ImageNet mean/std
    onnx = preprocess_for(load_model(str(onnx_file)))
    assert onnx.input_size == (3, 160, 160)
    assert (onnx.crop_pct, onnx.resize, onnx.interpolation) == (1.0, 160, "bilinear")
    assert onnx.mean == (0.485, 0.456, 0.406)
    assert onnx.std == (0.229, 0.224, 0.225)
    assert onnx.source == "the model's input size"

    tv = preprocess_for(load_model("torchvision:resnet18"))
    assert (tv.input_size, tv.resize, tv.interpolation) == ((3, 224, 224), 256, "bilinear")
    assert tv.source == "torchvision weights"

    with pytest.raises(InputShapeError, match="image data needs"):
        preprocess_for(load_model("timm:test_resnet"), (1, 1000))


def test_preprocess_from_the_input_size_keeps_matching_images_as_they_are(factory_module, ir_file):
    pre = preprocess_for(load_model(f"{factory_module}:small_cnn", input_shape="1x3x32x32"))
    assert (pre.input_size, pre.resize, pre.crop_pct) == ((3, 32, 32), 32, 1.0)
    assert pre.source == "the model's input size"
    ir = preprocess_for(load_model(str(ir_file)))
    assert (ir.input_size, ir.resize, ir.crop_pct, ir.source) == (
        (3, 160, 160),
        160,
        1.0,
        "the model's input size",
    )
    mean, std = np.array(pre.mean)[:, None, None], np.array(pre.std)[:, None, None]

    same = _picture(3, (32, 32))
    pixels = np.asarray(same, dtype=np.float32).transpose(2, 0, 1) / 255.0
    np.testing.assert_allclose(pre.apply(same), (pixels - mean) / std, rtol=0, atol=1e-6)

    # a 64x48 image: the shorter side to 32 (48 -> 32, 64 -> 42), then the center 32x32
    wide = _picture(4, (64, 48))
    shrunk = np.asarray(wide.resize((42, 32), Image.Resampling.BILINEAR), dtype=np.float32)
    crop = shrunk[:, 5:37].transpose(2, 0, 1) / 255.0
    np.testing.assert_allclose(pre.apply(wide), (crop - mean) / std, rtol=0, atol=1e-6)


def test_preprocess_source_survives_overrides_and_json():
    base = Preprocess.create((3, 32, 32), crop_pct=1.0, source="the model's input size")
    mine = base.with_options("mean=0.5;std=0.5")
    assert mine.source == "--preprocess over the model's input size"
    assert Preprocess.from_dict(json.loads(json.dumps(mine.to_dict()))).source == mine.source
    assert mine.to_dict()["source"] == mine.source
    old = {k: v for k, v in base.to_dict().items() if k != "source"}  # an older manifest
    assert Preprocess.from_dict(old) == base
    assert Preprocess.from_dict(old).source == ""
    assert base.describe() == (
        "resize 32 (shorter side, bilinear; none for 32x32 images), center crop 32, "
        "mean (0.485, 0.456, 0.406), std (0.229, 0.224, 0.225) (ImageNet defaults) "
        "- from the model's input size"
    )
    assert mine.describe().endswith(
        "mean (0.5, 0.5, 0.5), std (0.5, 0.5, 0.5) - from --preprocess over the model's input size"
    )


# --- fewer than two classes ------------------------------------------------------------------


def test_one_class_folder_is_refused_with_a_hint(tmp_path):
    (tmp_path / "only").mkdir()
    for i in range(3):
        _picture(i).save(tmp_path / "only" / f"{i}.png")
    for call in (lambda: load_dataset(tmp_path, SMALL), lambda: count_samples(tmp_path)):
        with pytest.raises(UserError, match=r"has one class \('only'\); .*at least 2") as e:
            call()
        assert "\n" not in e.value.message
        assert "directly in the folder" in (e.value.hint or "")
    # the same images, flat: unlabelled data (fidelity only) still loads
    flat = load_dataset(tmp_path / "only", SMALL)
    assert flat.y is None
    assert len(flat) == 3


def test_one_readable_class_left_after_skipping_is_refused(tmp_path):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    for i in range(3):
        _picture(i).save(tmp_path / "a" / f"{i}.png")
        (tmp_path / "b" / f"{i}.jpg").write_text("not an image")
    with pytest.raises(UserError, match=r"of one class only \('a'\) after skipping 3 unread"):
        load_dataset(tmp_path, SMALL)


def test_one_class_npz_is_refused_and_unlabelled_npz_loads(tmp_path):
    path = tmp_path / "d.npz"
    x = np.zeros((4, 3, 32, 32), np.float32)
    np.savez(path, x=x, y=np.full(4, 7))
    with pytest.raises(UserError, match=r"hold one class \(7\); accuracy needs .* at least 2"):
        load_dataset(path, SMALL)
    np.savez(path, x=x)
    assert load_dataset(path, SMALL).y is None


# --- the real CIFAR-10 test set --------------------------------------------------------------


@pytest.mark.skipif(not CIFAR.exists(), reason=f"CIFAR-10 test archive not found at {CIFAR}")
def test_cifar10_jpeg_folder(tmp_path):
    per_class: dict[str, int] = {}
    with tarfile.open(CIFAR) as tf:
        picked = []
        for m in tf:
            parts = Path(m.name).parts
            if not m.isfile() or len(parts) != 3 or per_class.get(parts[1], 0) >= 5:
                continue
            per_class[parts[1]] = per_class.get(parts[1], 0) + 1
            picked.append(m)
            if len(picked) == 50:
                break
        tf.extractall(tmp_path, members=picked, filter="data")
    pre = preprocess_for(load_model("timm:test_resnet"))
    start = time.perf_counter()
    ds = load_dataset(tmp_path / "test", pre)
    elapsed = time.perf_counter() - start
    assert ds.x.shape == (50, 3, 160, 160)
    assert len(ds.classes) == 10
    assert ds.y is not None
    assert np.bincount(ds.y).tolist() == [5] * 10
    assert np.isfinite(ds.x).all()
    assert elapsed < 30
    calib, val = split(ds, 20, 30)
    assert len(calib) == 20
    assert len(val) == 30
