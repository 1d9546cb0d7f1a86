"""Crafted model files whose payload, if it ever ran, would create a marker file.

Each payload is a pickle whose ``__reduce__`` runs ``exec`` on code that creates the marker
(or, for the symbolic shape, a Python expression that does the same): the marker existing
afterwards is the proof that the file ran code. The archives are written with PyTorch's own
archive writer, so they are laid out exactly as ``torch.export.save`` lays them out; only the
records named change.
"""

from __future__ import annotations

import json
import pickle
import zipfile
from collections.abc import Callable
from pathlib import Path

Edit = Callable[[dict[str, bytes]], None]


class Payload:
    """Unpickling this creates ``marker``: the stand-in for any code an attacker would run."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').close()",))


def payload_bytes(marker: Path) -> bytes:
    return pickle.dumps(Payload(marker), protocol=2)


class ConvScale:
    """A tiny conv net (3 -> 4 channels) with a buffer: weights and a constant in the archive."""

    @staticmethod
    def build():
        import torch

        class Net(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.conv = torch.nn.Conv2d(3, 4, 3)
                self.register_buffer("scale", torch.full((4,), 2.0))

            def forward(self, x):
                return (self.conv(x) * self.scale[None, :, None, None]).mean(dim=(2, 3))

        torch.manual_seed(0)
        return Net().eval()


def rewrite_archive(src: Path, dst: Path, edit: Edit) -> Path:
    """Copy a torch.export archive record by record, changing what ``edit`` changes."""
    from torch.export.pt2_archive._package import PT2ArchiveWriter

    with zipfile.ZipFile(src) as archive:
        records = {n.split("/", 1)[1]: archive.read(n) for n in archive.namelist()}
    edit(records)
    with PT2ArchiveWriter(str(dst)) as writer:
        for name, data in records.items():
            if name in (".data/version", ".data/serialization_id", "byteorder"):
                continue  # the writer adds its own
            writer.write_bytes(name, data)
    return dst


def weight_as_pickle(pickled: Callable[[bytes], bytes], fqn: str = "conv.bias") -> Edit:
    """Store one weight with ``use_pickle`` (as torch.export.save does for tensor subclasses)."""

    def edit(records: dict[str, bytes]) -> None:
        name = "data/weights/model_weights_config.json"
        config = json.loads(records[name])
        meta = config["config"][fqn]
        raw = records[f"data/weights/{meta['path_name']}"]
        meta["use_pickle"] = True
        meta["path_name"] = "weight_pickled"
        records["data/weights/weight_pickled"] = pickled(raw)
        records[name] = json.dumps(config).encode()

    return edit
