"""Training data loading, short training and successive halving, on real tensors and files."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from hwfit.errors import InputShapeError, UserError
from hwfit.nas.data import TrainData, demo_path, load_demo, load_train_data
from hwfit.nas.train import TrainRecipe, successive_halving, train_and_evaluate

CIFAR = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
COLOURS = np.array([[220, 30, 30], [30, 200, 30], [30, 30, 220], [200, 200, 40]], dtype=np.uint8)


def _images(n_per_class: int, size: int = 12, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """uint8 (N, H, W, 3) images whose class is their dominant colour, with strong noise."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(len(COLOURS)), n_per_class)
    noise = rng.normal(0, 50, size=(len(y), size, size, 3))
    x = np.clip(COLOURS[y][:, None, None, :] + noise, 0, 255).astype(np.uint8)
    return x, y


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny networks train fastest on one thread (and the test machine is shared)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def easy() -> TrainData:
    x, y = _images(64, size=12)
    xv, yv = _images(25, size=12, seed=1)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)

    def norm(a):
        return ((torch.from_numpy(a).permute(0, 3, 1, 2).float() / 255) - mean) / std

    return TrainData(
        x_train=norm(x).contiguous(),
        y_train=torch.from_numpy(y),
        x_val=norm(xv).contiguous(),
        y_val=torch.from_numpy(yv),
        classes=("red", "green", "blue", "yellow"),
        source="synthetic",
    )


class TinyCNN(nn.Module):
    def __init__(self, width: int = 8, classes: int = 4, dead: bool = False) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, width, 3, padding=1),
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.head = nn.Linear(width, classes)
        self.dead = dead

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.head(self.body(x))
        return out * 0.0 if self.dead else out  # dead: constant logits, zero gradients


# --- data ----------------------------------------------------------------------------------


def test_load_train_data_reads_a_class_folder_and_holds_out_val(tmp_path: Path):
    x, y = _images(10, size=20)
    for i, (img, label) in enumerate(zip(x, y, strict=True)):
        folder = tmp_path / "data" / f"c{label}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(folder / f"{i:03d}.png")
    data = load_train_data(tmp_path / "data", resolution=16, val_fraction=0.25)
    assert data.classes == ("c0", "c1", "c2", "c3")
    assert data.x_train.shape == (30, 3, 16, 16)
    assert data.x_val.shape == (10, 3, 16, 16)
    assert sorted(torch.bincount(data.y_val).tolist()) == [2, 2, 3, 3]
    assert data.x_train.dtype == torch.float32
    capped = load_train_data(tmp_path / "data", max_train=8, max_val=4)
    assert (len(capped.y_train), len(capped.y_val), capped.resolution) == (8, 4, 20)
    assert torch.bincount(capped.y_train).tolist() == [2, 2, 2, 2]


def test_load_train_data_uses_train_and_val_subfolders(tmp_path: Path):
    x, y = _images(3, size=8)
    for split in ("train", "test"):
        for i, (img, label) in enumerate(zip(x, y, strict=True)):
            folder = tmp_path / split / f"k{label}"
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(img).save(folder / f"{i}.jpg")
    data = load_train_data(tmp_path)
    assert len(data.y_train) == 12
    assert len(data.y_val) == 12
    assert data.classes == ("k0", "k1", "k2", "k3")


def test_load_train_data_reads_npz_layouts(tmp_path: Path):
    x, y = _images(5, size=8)
    np.savez(tmp_path / "nhwc.npz", x=x, y=y)
    data = load_train_data(tmp_path / "nhwc.npz", resolution=16, val_fraction=0.2)
    assert data.x_train.shape == (16, 3, 16, 16)
    assert len(data.y_val) == 4
    assert data.classes == ("class0", "class1", "class2", "class3")

    xf = np.random.default_rng(0).normal(size=(20, 3, 8, 8)).astype(np.float32)
    np.savez(
        tmp_path / "float.npz",
        x=xf,
        y=y,
        x_val=xf[:6],
        y_val=y[:6],
        classes=np.array(["a", "b", "c", "d"]),
    )
    data = load_train_data(tmp_path / "float.npz")
    assert torch.equal(data.x_train, torch.from_numpy(xf))  # float is taken as normalised
    assert len(data.y_val) == 6
    assert data.classes == ("a", "b", "c", "d")
    assert data.at_resolution(16).x_train.shape == (20, 3, 16, 16)
    assert data.at_resolution(16).at_resolution(8).resolution == 8
    assert torch.allclose(data.at_resolution(16).at_resolution(8).x_train, data.x_train)
    assert data.at_resolution(16) is data.at_resolution(16)  # cached

    inputs, labels = data.minibatch(8, seed=3)
    assert inputs.shape == (8, 3, 8, 8)
    assert torch.bincount(labels).tolist() == [2, 2, 2, 2]
    again, _ = data.minibatch(8, seed=3)
    assert torch.equal(inputs, again)


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"y": np.zeros(3)}, "no array 'x'"),
        ({"x": np.zeros((4, 8, 8, 3), np.uint8)}, "no labels 'y'"),
        ({"x": np.zeros((4, 8, 8, 3), np.uint8), "y": np.zeros(3)}, "4 images but 3 labels"),
        ({"x": np.zeros((4, 8, 8, 3), np.uint8), "y": np.full(4, 0.5)}, "not class indices"),
        ({"x": np.zeros((4, 8, 8), np.uint8), "y": np.zeros(4)}, "4 dimensions"),
        ({"x": np.zeros((4, 8, 8, 3), np.uint8), "y": np.zeros(4, int)}, "at least 2"),
        (
            {
                "x_encoded": np.arange(10, dtype=np.uint8),
                "x_offsets": np.array([0, 10]),
                "y": np.zeros(1),
            },
            "cannot be decoded",
        ),
    ],
    ids=["no-x", "no-y", "label-count", "float-labels", "not-images", "one-class", "corrupt"],
)
def test_load_train_data_rejects_bad_npz(tmp_path: Path, arrays, message):
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises((UserError, InputShapeError), match=message) as info:
        load_train_data(tmp_path / "bad.npz")
    assert "\n" not in str(info.value)


def test_load_train_data_rejects_missing_empty_and_corrupt(tmp_path: Path):
    with pytest.raises(UserError, match="not found"):
        load_train_data(tmp_path / "nope")
    (tmp_path / "empty" / "cat").mkdir(parents=True)
    with pytest.raises(UserError, match="no images"):
        load_train_data(tmp_path / "empty")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(UserError, match="Cannot read"):
        load_train_data(tmp_path / "junk.npz")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(UserError, match="neither a folder nor"):
        load_train_data(tmp_path / "file.txt")
    with pytest.raises(UserError, match="val_fraction"):
        load_train_data(tmp_path, val_fraction=1.0)


def test_demo_set_loads_with_cifar_classes():
    assert demo_path().is_file()
    assert demo_path().stat().st_size < 5_000_000
    data = load_demo()
    assert data.classes == CIFAR
    assert data.x_train.shape == (5000, 3, 32, 32)
    assert data.x_val.shape == (1000, 3, 32, 32)
    assert torch.bincount(data.y_train).tolist() == [500] * 10
    assert torch.bincount(data.y_val).tolist() == [100] * 10
    assert abs(float(data.x_train.mean())) < 0.5  # normalised, real images (not constant)
    assert float(data.x_train.std()) > 0.5
    small = load_demo(resolution=64, max_train=200, max_val=50)
    assert small.x_train.shape == (200, 3, 64, 64)
    assert len(small.y_val) == 50


# --- training ------------------------------------------------------------------------------


def test_train_and_evaluate_learns_an_easy_task(easy: TrainData):
    torch.manual_seed(0)
    seen = []
    result = train_and_evaluate(
        TinyCNN(),
        easy,
        TrainRecipe(epochs=2, batch_size=32, lr=0.1),
        progress=lambda event: seen.append((event.result.epochs, event.result.loss)),
    )
    assert result.top1 > 90.0
    assert result.epochs == pytest.approx(2.0)
    assert result.ok
    assert math.isfinite(result.loss)
    assert result.seconds > 0
    assert seen[-1][0] == pytest.approx(2.0)
    assert len(seen) == 2 * (256 // 32)


def test_train_and_evaluate_is_deterministic_for_a_seed(easy: TrainData):
    def run(seed: int):
        torch.manual_seed(0)
        model = TinyCNN()
        result = train_and_evaluate(model, easy, TrainRecipe(epochs=0.5, seed=seed))
        return result, next(iter(model.parameters())).detach().clone()

    (first, w1), (second, w2), (_other, w3) = run(0), run(0), run(1)
    assert (first.top1, first.loss) == (second.top1, second.loss)
    assert torch.equal(w1, w2)
    assert not torch.equal(w1, w3)  # another seed: another batch order and augmentation


def test_train_and_evaluate_stops_at_the_time_limit(easy: TrainData):
    result = train_and_evaluate(TinyCNN(), easy, TrainRecipe(epochs=50), time_limit_s=0.0)
    assert result.epochs == 0.0
    assert result.ok


def test_train_and_evaluate_rejects_wrong_class_count(easy: TrainData):
    with pytest.raises(UserError, match="num_classes=4"):
        train_and_evaluate(TinyCNN(classes=10), easy, TrainRecipe(epochs=0.1))


def test_successive_halving_drops_broken_candidates_and_counts_epochs(easy: TrainData):
    def boom() -> nn.Module:
        raise RuntimeError("cannot build")

    candidates = {
        "wide": lambda: TinyCNN(16),
        "dead": lambda: TinyCNN(8, dead=True),
        "narrow": lambda: TinyCNN(8),
        "boom": boom,
    }
    calls = []
    rungs = successive_halving(
        candidates,
        easy,
        min_epochs=0.5,
        eta=2,
        rungs=3,
        recipe=TrainRecipe(epochs=1, batch_size=32, lr=0.1),
        resolutions={"narrow": 8},
        on_result=lambda i, key, result: calls.append((i, key)),
    )
    assert [r.epochs for r in rungs] == [0.5, 1.0, 2.0]
    first, second, third = rungs
    assert set(first.results) == set(candidates)
    assert first.results["boom"].error == "cannot build"
    assert not first.results["boom"].ok
    assert first.results["dead"].top1 == pytest.approx(25.0)  # chance: constant prediction
    assert first.ranking[-1] == "boom"
    assert set(first.promoted) == {"wide", "narrow"}
    assert set(second.results) == {"wide", "narrow"}
    assert len(second.promoted) == 1
    assert set(third.results) == set(second.promoted)
    assert third.promoted == ()
    assert first.results["wide"].epochs == pytest.approx(0.5)
    assert second.epochs_spent == pytest.approx(2.0)
    assert len(calls) == 4 + 2 + 1


def test_successive_halving_rejects_bad_settings(easy: TrainData):
    with pytest.raises(UserError):
        successive_halving({}, easy, min_epochs=1)
    with pytest.raises(UserError, match="eta"):
        successive_halving({"a": TinyCNN}, easy, min_epochs=1, eta=1)
    with pytest.raises(UserError, match="epochs"):
        TrainRecipe(epochs=0)


def test_successive_halving_takes_data_per_key_and_reports_progress(easy: TrainData):
    asked, ticks = [], []

    def data_for(key: str) -> TrainData:
        asked.append(key)
        return easy.at_resolution(8) if key == "small" else easy

    rungs = successive_halving(
        {"small": TinyCNN, "big": lambda: TinyCNN(12), "dead": lambda: TinyCNN(dead=True)},
        data_for,
        min_epochs=0.25,
        eta=3,
        rungs=2,
        progress=lambda event: ticks.append((event.done, event.total)),
    )
    assert sorted(asked) == sorted(["small", "big", "dead", *rungs[0].promoted])
    assert len(rungs[0].promoted) == 1
    assert rungs[0].promoted != ("dead",)
    assert ticks[0] == (0, 4)
    assert ticks[-1] == (4, 4)
