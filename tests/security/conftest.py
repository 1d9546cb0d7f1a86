"""Fixtures: real torch.export archives, plain and pickle-bearing, and crafted attacks."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from crafted_files import ConvScale, payload_bytes, rewrite_archive, weight_as_pickle


@pytest.fixture(scope="session")
def security_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("security")


@pytest.fixture(scope="session")
def plain_pt2(security_dir: Path) -> Path:
    """A plain torch.export archive: raw tensors and JSON only."""
    import torch

    path = security_dir / "plain.pt2"
    module = ConvScale.build()
    torch.export.save(torch.export.export(module, (torch.zeros(1, 3, 16, 16),)), str(path))
    return path


@pytest.fixture(scope="session")
def dynamic_pt2(security_dir: Path) -> Path:
    """A torch.export archive with a dynamic batch: its shapes are sympy expressions."""
    import torch

    path = security_dir / "dynamic.pt2"
    batch = torch.export.Dim("batch", min=1, max=64)
    program = torch.export.export(
        ConvScale.build(), (torch.zeros(2, 3, 16, 16),), dynamic_shapes=({0: batch},)
    )
    torch.export.save(program, str(path))
    return path


@pytest.fixture(scope="session")
def pickled_pt2(security_dir: Path, plain_pt2: Path) -> Path:
    """A legitimate archive with one weight pickled by torch.save (what use_pickle stores)."""
    import torch

    def as_torch_save(raw: bytes) -> bytes:
        tensor = torch.frombuffer(bytearray(raw), dtype=torch.float32).clone()
        buffer = io.BytesIO()
        torch.save(torch.nn.Parameter(tensor), buffer)
        return buffer.getvalue()

    return rewrite_archive(
        plain_pt2, security_dir / "pickled.pt2", weight_as_pickle(as_torch_save)
    )


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    """The file a payload creates; tests assert it never exists."""
    return tmp_path / "PAYLOAD_RAN"


@pytest.fixture
def evil_pt2(tmp_path: Path, plain_pt2: Path, marker: Path) -> Path:
    """The archive of the issue: one weight stored with use_pickle, its pickle a payload."""
    edit = weight_as_pickle(lambda _raw: payload_bytes(marker))
    return rewrite_archive(plain_pt2, tmp_path / "evil.pt2", edit)
