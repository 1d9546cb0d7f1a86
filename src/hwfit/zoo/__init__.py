"""The model zoo: curated models with their published accuracy.

``zoo.csv`` (shipped with the package) holds one row per set of weights: its family, the accuracy
published for it, the square input resolution that accuracy was measured at, its parameters and
GMACs, and where each number comes from. A row's ``metric`` says which accuracy it holds:
ImageNet-1k top-1 for the timm classifiers, COCO val2017 box mAP for the torchvision detectors.
The two are not comparable, so a frontier draws one metric at a time. Columns:

========== ===================================================================================
name       unique: timm's ``arch.weights_tag`` (``resnet50.a1_in1k``); torchvision's
           ``arch.weights`` (``ssd300_vgg16.coco_v1``: the weights enum member, lower case)
arch       architecture name in its library; the model is benchmarked as ``<library>:<arch>``
family     ``mobilenet``, ``efficientnet``, ``regnet``, ``resnet``, ``convnext``, ...,
           ``detection`` (every detector)
accuracy   the published accuracy of the FP32 weights, percent, of kind ``metric``
           (a table may call this column ``top1``, as tables before detectors did)
top5       ImageNet top-5, percent (may be empty; ``top1`` rows only)
input_size resolution (square) the accuracy was measured at
params_m   parameters, millions
gmacs      multiply-accumulates of one image at ``input_size``, billions (may be empty)
source     the published tables (and commit or version) the numbers were copied from
library    ``timm`` (default when empty or absent), ``torchvision`` or ``ultralytics``
metric     ``top1`` = ImageNet-1k validation top-1 (default when empty or absent) or
           ``box_map`` = COCO val2017 box mAP at IoU 0.5:0.95
========== ===================================================================================

The shipped classifier numbers are copied from timm's ``results/`` tables (commit named in
``source``): accuracy and parameters from ``results-imagenet.csv`` at the resolution of the
weight's default pretrained configuration, GMACs from the PyTorch 2.4 CPU inference benchmark
table at that resolution. The families ``mobilenet``, ``efficientnet``, ``regnet`` and ``resnet``
(:data:`FRONTIER_FAMILIES`) hold 21 entries, few enough to benchmark on a small CPU.

The detectors (family :data:`DETECTION_FAMILY`) are copied from torchvision's weights metadata
(``torchvision.models.get_model_weights(arch).COCO_V1.meta``, version named in ``source``):
``_metrics["COCO-val2017"]["box_map"]`` as the accuracy, ``num_params`` (in millions, two
decimals) and ``_ops`` as GMACs. torchvision calls ``_ops`` GFLOPS but counts one multiply-add
as one operation: it equals hwfit's own MAC count of the network (PyTorch's FLOP counter
halved; ResNet-50: 4.089 both), so it is copied unchanged. ``input_size`` is the fixed input
size hwfit runs the detector at (``hwfit.models.detection.DETECTORS``: SSDlite 320, SSD 300,
RetinaNet 800). RetinaNet's mAP was published with torchvision's own transform, which keeps the
aspect (shorter side 800, longer at most 1333); its ``_ops`` are at 800x800.

Example:
    >>> zoo = load_zoo()
    >>> [e.name for e in select(zoo, models=["resnet50"])]
    ['resnet50.tv_in1k', 'resnet50.a1_in1k']
    >>> select(zoo, models=["mobilenetv2_100"])[0].spec
    'timm:mobilenetv2_100'
    >>> [(e.spec, e.metric) for e in select(zoo, families=["detection"])][0]
    ('torchvision:ssdlite320_mobilenet_v3_large', 'box_map')
"""

from __future__ import annotations

import csv
import dataclasses
import difflib
import importlib.resources
import logging
import math
import typing
from collections.abc import Iterable, Sequence
from pathlib import Path

from hwfit.db._cells import number, read_text, whole
from hwfit.errors import UnknownNameError, UserError
from hwfit.records import PUBLISHED_METRICS, ZooEntry, ZooLibrary, ZooMetric

__all__ = [
    "COLUMNS",
    "CUSTOM_FAMILY",
    "DETECTION_FAMILY",
    "FRONTIER_FAMILIES",
    "LIBRARIES",
    "ZooEntry",
    "families",
    "load_zoo",
    "select",
]

logger = logging.getLogger(__name__)

COLUMNS: tuple[str, ...] = (
    "name",
    "arch",
    "family",
    "accuracy",
    "top5",
    "input_size",
    "params_m",
    "gmacs",
    "source",
    "library",
    "metric",
)
"""The columns of a zoo table, in the order ``zoo.csv`` writes them."""

_REQUIRED: tuple[str, ...] = ("name", "arch", "family", "input_size", "params_m")
# The accuracy column; tables written before detectors call it "top1" (still read).
_ACCURACY_COLUMNS: tuple[str, str] = ("accuracy", "top1")

CUSTOM_FAMILY = "custom"
"""Family of the models an accuracy file adds to the zoo."""

DETECTION_FAMILY = "detection"
"""Family of the shipped torchvision detectors (their accuracy is COCO box mAP)."""

FRONTIER_FAMILIES: tuple[str, ...] = ("mobilenet", "efficientnet", "regnet", "resnet")
"""The families a small accuracy-latency frontier of classifiers is drawn from."""

LIBRARIES: tuple[ZooLibrary, ...] = typing.get_args(ZooLibrary)
"""The libraries a zoo row's model may come from."""

_ZOO_HINT = (
    f"A zoo table is a CSV with the columns {', '.join(COLUMNS)} (top5, gmacs, source, "
    "library and metric may be empty or left out)."
)
_ACCURACY_HINT = (
    "An accuracy file is a CSV with the columns model,accuracy (or model,top1) and optionally "
    "top5 and input_size; model is a zoo name (resnet50.a1_in1k), an architecture (resnet50) or "
    "a spec (torchvision:ssd300_vgg16); the accuracy is of the zoo row's metric."
)


def load_zoo(
    path: str | Path | None = None, *, accuracy_file: str | Path | None = None
) -> list[ZooEntry]:
    """Load the zoo table, optionally with the user's own accuracy numbers.

    Args:
        path: A CSV with the columns of :data:`COLUMNS` that replaces the shipped table
            (``top5``, ``gmacs``, ``source``, ``library`` and ``metric`` may be left out or
            empty; the accuracy column may be called ``top1``); default: the table hwfit
            ships.
        accuracy_file: A CSV with the columns ``model,accuracy`` (or ``model,top1``) and
            optionally ``top5`` and ``input_size``. ``model`` is a zoo name, an architecture
            or a spec (``torchvision:ssd300_vgg16``) that is in the zoo exactly once; that
            entry's accuracy is replaced, in the entry's own metric (its top-5 too: emptied
            when the file has none). A timm model that is not in the zoo is added with the
            family :data:`CUSTOM_FAMILY` and the metric ``top1``: its parameters are counted
            by building the timm model on PyTorch's meta device (no weights, no download), its
            input size is the file's ``input_size`` or timm's default for the architecture, and
            its GMACs stay empty (a benchmark measures them).

    Returns:
        The entries in table order (added models last).

    Raises:
        UserError: A file is missing or unreadable, lacks a required column, has a bad number,
            library or metric, repeats a name, gives a top-5 to a row that is not top-1, or
            an accuracy row names an architecture the zoo holds more than once.
        UnknownNameError: An accuracy row names a model that is neither in the zoo nor in timm.

    Example:
        >>> len([e for e in load_zoo() if e.family in FRONTIER_FAMILIES])
        21
    """
    if path is None:
        text = importlib.resources.files("hwfit.zoo").joinpath("zoo.csv").read_text("utf-8")
        where = "the shipped zoo.csv"
    else:
        text = read_text(Path(path), "Zoo table", _ZOO_HINT)
        where = repr(str(path))
    entries = _parse_zoo(text, where)
    if accuracy_file is not None:
        entries = _apply_accuracy(entries, Path(accuracy_file))
    return entries


def select(
    entries: Sequence[ZooEntry],
    *,
    models: Sequence[str] | None = None,
    families: Sequence[str] | None = None,
) -> list[ZooEntry]:
    """Pick zoo entries by model and by family.

    The result holds the entries that ``models`` names plus those of ``families`` (a union), in
    table order and without repeats; with neither given, every entry.

    Args:
        entries: The zoo, as :func:`load_zoo` returns it.
        models: Zoo names (``resnet50.a1_in1k``), architectures (``resnet50``: every entry
            of that architecture) or specs (``timm:resnet50``, ``torchvision:ssd300_vgg16``).
        families: Family names (``mobilenet``, ``detection``).

    Returns:
        The selected entries.

    Raises:
        UnknownNameError: A model or family is not in ``entries``; the message suggests close
            names.

    Example:
        >>> zoo = load_zoo()
        >>> len(select(zoo, families=["resnet", "regnet"]))
        11
        >>> select(zoo, families=["resnets"])  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        hwfit.errors.UnknownNameError: Unknown zoo family 'resnets'. Did you mean 'resnet' or ...
    """
    if models is None and families is None:
        return list(entries)
    wanted: set[str] = set()
    for model in models or ():
        matched = [e.name for e in entries if _names(e, model.strip())]
        if not matched:
            names = _unique([e.name for e in entries] + [e.arch for e in entries])
            key = _split_spec(model.strip())[1]
            raise UnknownNameError(
                f"Unknown zoo model {model!r}.{_did_you_mean(key, names)}",
                hint="Name a zoo entry (resnet50.a1_in1k) or an architecture in the zoo "
                "(resnet50, ssd300_vgg16), or add the model with an accuracy file.",
            )
        wanted.update(matched)
    known = _family_names(entries)
    for family in families or ():
        key = family.strip().lower()
        if key not in known:
            raise UnknownNameError(
                f"Unknown zoo family {family!r}.{_did_you_mean(key, known)} "
                f"Known: {', '.join(known)}.",
                hint="Pick families out of the zoo table, or pass models by name.",
            )
        wanted.update(e.name for e in entries if e.family == key)
    return [e for e in entries if e.name in wanted]


def families(entries: Sequence[ZooEntry]) -> list[str]:
    """Return the families of ``entries`` in the order they first appear.

    Example:
        >>> families(load_zoo())[:4]
        ['mobilenet', 'efficientnet', 'regnet', 'resnet']
    """
    return _family_names(entries)


def _family_names(entries: Sequence[ZooEntry]) -> list[str]:
    return _unique(e.family for e in entries)


def _split_spec(text: str) -> tuple[str | None, str]:
    """``"torchvision:ssd300_vgg16"`` -> ``("torchvision", "ssd300_vgg16")``; no prefix: None."""
    library, sep, bare = text.partition(":")
    return (library, bare) if sep else (None, text)


def _names(entry: ZooEntry, text: str) -> bool:
    """Whether ``text`` (name, architecture, or either with a library prefix) is ``entry``."""
    library, bare = _split_spec(text)
    return bare in (entry.name, entry.arch) and library in (None, entry.library)


# -- parsing -------------------------------------------------------------------------------


def _rows(
    text: str, where: str, required: Sequence[str], hint: str
) -> tuple[list[tuple[int, dict[str, str]]], str]:
    """Parse CSV text into (line number, row) pairs and the name of its accuracy column."""
    reader = csv.DictReader(text.splitlines())
    header = [h.strip() for h in reader.fieldnames or ()]
    accuracy = [c for c in _ACCURACY_COLUMNS if c in header]
    missing = [c for c in required if c not in header] + ([] if accuracy else ["accuracy"])
    if missing:
        raise UserError(
            f"The CSV {where} lacks the column(s) {', '.join(missing)} "
            f"(found: {', '.join(header) or 'nothing'}).",
            hint=hint,
        )
    if len(accuracy) > 1:
        raise UserError(
            f"The CSV {where} has both an accuracy and a top1 column.",
            hint="Keep one: accuracy (top1 is its older name).",
        )
    reader.fieldnames = header
    rows = []
    for row in reader:
        if not any((v or "").strip() for k, v in row.items() if k is not None):
            continue  # a blank line
        clean = {k: (v or "").strip() for k, v in row.items() if k is not None}
        rows.append((reader.line_num, clean))
    if not rows:
        raise UserError(f"The CSV {where} has no rows.", hint=hint)
    return rows, accuracy[0]


def _parse_zoo(text: str, where: str) -> list[ZooEntry]:
    entries: list[ZooEntry] = []
    seen: dict[str, int] = {}
    rows, accuracy = _rows(text, where, _REQUIRED, _ZOO_HINT)
    for line, row in rows:
        at = f"{where} line {line}"
        for column in ("name", "arch", "family"):
            if not row[column]:
                raise UserError(f"The {column} is empty in {at}.", hint=_ZOO_HINT)
        name = row["name"]
        if name in seen:
            raise UserError(
                f"The zoo name {name!r} repeats in {at} (first on line {seen[name]}).",
                hint="Give every row a unique name (timm's arch.weights_tag).",
            )
        seen[name] = line
        library, arch = _library_and_arch(row, at)
        metric = _metric(row, at)
        entries.append(
            ZooEntry(
                name=name,
                arch=arch,
                family=row["family"].lower(),
                accuracy=_percent(row, accuracy, at, _ZOO_HINT),
                top5=_top5(row, metric, at, _ZOO_HINT),
                input_size=_size(row, "input_size", at, _ZOO_HINT),
                params_m=_number(row, "params_m", at, _ZOO_HINT, positive=True),
                gmacs=_optional_number(row, "gmacs", at, _ZOO_HINT),
                source=row.get("source", ""),
                metric=metric,
                library=library,
            )
        )
    return entries


def _library_and_arch(row: dict[str, str], at: str) -> tuple[ZooLibrary, str]:
    """The row's library (column, else the arch's prefix, else timm) and its bare arch."""
    prefix, arch = _split_spec(row["arch"])
    name = row.get("library", "").lower() or prefix or "timm"
    if prefix is not None and prefix != name:
        raise UserError(
            f"The arch {row['arch']!r} in {at} names the library {prefix!r}, the library "
            f"column {name!r}.",
            hint="Give the arch without a prefix and the library in its column.",
        )
    for library in LIBRARIES:
        if library == name:
            return library, arch
    raise UserError(
        f"The library {name!r} in {at} is not one of {', '.join(LIBRARIES)}.", hint=_ZOO_HINT
    )


def _metric(row: dict[str, str], at: str) -> ZooMetric:
    name = row.get("metric", "").lower() or "top1"
    for metric in PUBLISHED_METRICS:
        if metric == name:
            return metric
    known = ", ".join(f"{m.key} ({m.title})" for m in PUBLISHED_METRICS.values())
    raise UserError(f"The metric {name!r} in {at} is not one of {known}.", hint=_ZOO_HINT)


def _top5(row: dict[str, str], metric: ZooMetric, at: str, hint: str) -> float | None:
    top5 = _optional_percent(row, "top5", at, hint)
    if top5 is not None and metric != "top1":
        raise UserError(
            f"{at} gives a top5 to a {metric} row; top-5 is an ImageNet classifier's.",
            hint="Leave top5 empty for a detector.",
        )
    return top5


def _apply_accuracy(entries: list[ZooEntry], path: Path) -> list[ZooEntry]:
    text = read_text(path, "Accuracy file", _ACCURACY_HINT)
    where = repr(str(path))
    result = list(entries)
    index = {e.name: i for i, e in enumerate(result)}
    rows, accuracy_column = _rows(text, where, ("model",), _ACCURACY_HINT)
    for line, row in rows:
        at = f"{where} line {line}"
        library, model = _split_spec(row["model"])
        if not model:
            raise UserError(f"The model is empty in {at}.", hint=_ACCURACY_HINT)
        accuracy = _percent(row, accuracy_column, at, _ACCURACY_HINT)
        size = _size(row, "input_size", at, _ACCURACY_HINT) if row.get("input_size") else None
        source = f"accuracy file {path.name} line {line}"
        position = index.get(model)
        if position is not None and library not in (None, result[position].library):
            position = None
        if position is None:
            same_arch = [
                i for i, e in enumerate(result) if e.arch == model and library in (None, e.library)
            ]
            if len(same_arch) > 1:
                names = ", ".join(result[i].name for i in same_arch)
                raise UserError(
                    f"{at} names the architecture {model!r}, which the zoo holds more than once "
                    f"({names}).",
                    hint="Name one entry (arch.weights_tag) instead.",
                )
            position = same_arch[0] if same_arch else None
        if position is not None:
            old = result[position]
            result[position] = dataclasses.replace(
                old,
                accuracy=accuracy,
                top5=_top5(row, old.metric, at, _ACCURACY_HINT),
                input_size=size or old.input_size,
                source=source,
            )
            continue
        if library not in (None, "timm"):
            raise UnknownNameError(
                f"{at} names {row['model']!r}, which is not in the zoo; an accuracy file adds "
                "timm models only.",
                hint="Add the model as a row of your own zoo table (--zoo).",
            )
        top5 = _optional_percent(row, "top5", at, _ACCURACY_HINT)
        entry = _custom_entry(model, accuracy, top5, size, source, at)
        index[entry.name] = len(result)
        result.append(entry)
    return result


def _custom_entry(
    model: str, top1: float, top5: float | None, size: int | None, source: str, at: str
) -> ZooEntry:
    """A model the zoo lacks: checked against timm, parameters counted on the meta device."""
    import timm
    import torch

    arch = model.split(".", 1)[0]
    if arch not in timm.list_models():
        close = difflib.get_close_matches(arch, timm.list_models(), n=3, cutoff=0.6)
        suggestion = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise UnknownNameError(
            f"{at} names {model!r}, which is neither in the zoo nor a timm model.{suggestion}",
            hint=_ACCURACY_HINT,
        )
    with torch.device("meta"):  # shapes only: no memory, no initialisation cost
        module = timm.create_model(arch, pretrained=False)
    params_m = sum(p.numel() for p in module.parameters()) / 1e6
    if size is None:
        cfg = timm.models.get_pretrained_cfg(arch)
        size = int(cfg.input_size[-1]) if cfg is not None and cfg.input_size else 224
    logger.info("Added %s to the zoo from %s (%.2f M params)", model, source, params_m)
    return ZooEntry(
        name=model,
        arch=arch,
        family=CUSTOM_FAMILY,
        accuracy=top1,
        top5=top5,
        input_size=size,
        params_m=round(params_m, 2),
        gmacs=None,
        source=f"{source}; params: counted from timm {timm.__version__}",
    )


def _number(
    row: dict[str, str], column: str, at: str, hint: str, *, positive: bool = False
) -> float:
    raw = row.get(column, "")
    value = number(raw, column, at, hint)
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        kind = "positive" if positive else "non-negative"
        raise UserError(f"The {column} {raw!r} in {at} is not a {kind} number.", hint=hint)
    return value


def _optional_number(row: dict[str, str], column: str, at: str, hint: str) -> float | None:
    return _number(row, column, at, hint) if row.get(column) else None


def _percent(row: dict[str, str], column: str, at: str, hint: str) -> float:
    value = _number(row, column, at, hint)
    if value > 100:
        raise UserError(
            f"The {column} {row[column]!r} in {at} is above 100.",
            hint="Accuracy is a percentage (76.1, not 0.761 or 761).",
        )
    return value


def _optional_percent(row: dict[str, str], column: str, at: str, hint: str) -> float | None:
    return _percent(row, column, at, hint) if row.get(column) else None


def _size(row: dict[str, str], column: str, at: str, hint: str) -> int:
    return whole(row.get(column, ""), column, at, hint, unit=" of pixels")


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _did_you_mean(name: str, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
    return f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
