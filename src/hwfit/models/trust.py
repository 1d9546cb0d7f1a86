"""Which model files run code when they are loaded, found without loading them.

PyTorch's file formats can carry code. A full pickle (``torch.save`` of a model) runs whatever
its author chose while it is unpickled; TorchScript runs the code stored in the file; a
``torch.export`` archive (``.pt2``) is mostly tensors and JSON, but ``torch.export.load``
unpickles some parts with ``weights_only=False``: weights and constants stored with
``use_pickle``, Python objects among the constants, and the sample inputs (and the state dict
of the pre-2.8 layout) whenever PyTorch's restricted loader refuses them. It also hands the
symbolic shapes of the program to ``sympy.sympify``, which evaluates them as Python.

hwfit therefore loads such a file only when the user says they trust it (``--trust-model``,
``trust_model=True``), the way ``trust_remote_code`` works for Hugging Face models. ONNX files,
OpenVINO IR and ``torch.export`` archives made of tensors and plain shapes need no switch: the
checks here read the archive with :mod:`zipfile` and :mod:`json`, and decide whether a pickled
part is plain tensors with PyTorch's own restricted loader (``torch.load(weights_only=True)``,
the loader PyTorch itself tries first), so nothing in the file runs while it is inspected.
"""

from __future__ import annotations

import ast
import io
import json
import re
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path

from hwfit.errors import ModelSourceError, UntrustedModelError, first_line

__all__ = [
    "TRUST_HINT",
    "check_trusted",
    "export_archive_risks",
    "is_pickle",
    "loads_as_tensors",
    "torch_file_format",
]

TRUST_HINT = (
    "Pass --trust-model (API: trust_model=True) only for a file from someone you trust; "
    "ONNX, OpenVINO IR and torch.export archives of plain tensors load without it."
)

# The layout of torch.export archives (torch.export.pt2_archive.constants in torch >= 2.8).
_FORMAT_RECORD = "archive_format"
_MODELS_DIR = "models/"
_WEIGHTS_CONFIG = "data/weights/{}_weights_config.json"
_CONSTANTS_CONFIG = "data/constants/{}_constants_config.json"
_LEGACY_WEIGHTS = "data/weights/{}.pt"
_LEGACY_CONSTANTS = "data/constants/{}.pt"
_SAMPLE_INPUTS = "data/sample_inputs/{}.pt"
_AOTI_DIR = "data/aotinductor/"
_OBJECT_PREFIXES = ("custom_obj_", "opaque_obj_")  # unpickled as Python / TorchScript objects
# The pre-2.8 layout (still read by torch.export.load): pickled parts at the archive's root.
_LEGACY_PROGRAM = "serialized_exported_program.json"
_LEGACY_VERSION = "version"

# Names a symbolic shape of an exported program may use: sympy's expression classes (as
# sympy.srepr writes them) and torch's own sympy functions; symbols are like s0, u3, s77.
_SYMPY_NAMES = frozenset(
    {
        "Symbol", "Integer", "Rational", "Float", "Add", "Mul", "Pow", "Mod", "Max", "Min",
        "Abs", "floor", "ceiling", "Eq", "Ne", "Lt", "Le", "Gt", "Ge", "StrictLessThan",
        "StrictGreaterThan", "LessThan", "GreaterThan", "Equality", "Unequality", "And", "Or",
        "Not", "Piecewise", "ExprCondPair", "true", "false", "oo", "zoo", "nan", "Infinity",
        "NegativeInfinity", "One", "Zero", "NegativeOne", "Half", "BooleanTrue",
        "BooleanFalse", "True", "False", "None",
        # torch.utils._sympy.functions.__all__ (torch 2.14)
        "FloorDiv", "ModularIndexing", "Where", "PythonMod", "CleanDiv", "CeilToInt",
        "FloorToInt", "CeilDiv", "IntTrueDiv", "FloatTrueDiv", "LShift", "RShift",
        "IsNonOverlappingAndDenseIndicator", "TruncToFloat", "TruncToInt", "RoundToInt",
        "RoundDecimal", "ToFloat", "FloatPow", "PowByNatural", "Identity",
    }
)  # fmt: skip
_SYMBOL_RE = re.compile(r"[a-z]{1,4}\d+")
_IDENT_RE = re.compile(r"[A-Za-z_]\w*")
_EXPR_NODES = (
    ast.Expression, ast.Call, ast.keyword, ast.BinOp, ast.UnaryOp, ast.Compare, ast.BoolOp,
    ast.operator, ast.unaryop, ast.cmpop, ast.boolop, ast.Load, ast.Tuple, ast.Constant,
    ast.Name,
)  # fmt: skip


def check_trusted(spec: str, kind: str, *, trust_model: bool) -> None:
    """Refuse a model file that would run code when loaded, unless the user trusts it.

    Reads the file without loading it (see the module docstring). ``timm:``, ``torchvision:``,
    ONNX and OpenVINO sources pass; ``module.path:factory`` is the user's own code and passes.

    Args:
        spec: The model spec.
        kind: Its :func:`~hwfit.models.sources.source_kind`.
        trust_model: The user trusts the file: nothing is checked.

    Raises:
        UntrustedModelError: The file would run code and ``trust_model`` is False.
        ModelSourceError: A ``.pt2`` that is not a ``torch.export`` archive at all.
    """
    if trust_model or kind not in ("torchscript", "export"):
        return
    path = Path(spec)
    if kind == "export":
        risks = export_archive_risks(path)
        if risks:
            more = f" (and {len(risks) - 1} more)" if len(risks) > 1 else ""
            raise UntrustedModelError(
                f"Model {spec!r} would run code when loaded: {risks[0]}{more}.", hint=TRUST_HINT
            )
        return
    fmt = torch_file_format(path)
    if fmt == "torchscript":
        raise UntrustedModelError(
            f"Model {spec!r} is TorchScript: loading it runs the code stored in the file.",
            hint=TRUST_HINT,
        )
    if fmt == "pickle":
        raise UntrustedModelError(
            f"Model {spec!r} is a full pickle (torch.save of Python objects): loading it runs "
            "whatever code its author put in.",
            hint=TRUST_HINT,
        )
    if fmt == "tensors":
        raise ModelSourceError(
            f"Model {spec!r} holds only tensors (a state dict), not a model.",
            hint="Pass it with --weights to the timm:, torchvision: or module:factory model it "
            "was saved from.",
        )
    if fmt == "unknown":  # never handed to torch.jit.load untrusted: it reads more formats
        raise ModelSourceError(
            f"Cannot read model {spec!r}: it is neither a TorchScript archive nor a torch.save "
            "file.",
            hint="Save it with torch.jit.save(torch.jit.script(model), path), or export it with "
            "torch.export or to ONNX.",
        )


def torch_file_format(path: Path) -> str:
    """What a ``.pt``-like file is: ``torchscript``, ``pickle``, ``tensors`` or ``unknown``.

    ``tensors`` is a pickle that PyTorch's restricted loader reads (a state dict); ``pickle``
    one that only the full unpickler reads.
    """
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            records = {record for record, _ in _records(archive)}
        if "constants.pkl" in records or any(r.startswith("code/") for r in records):
            return "torchscript"
    if not is_pickle(path):
        return "unknown"
    return "tensors" if loads_as_tensors(path.read_bytes()) else "pickle"


def is_pickle(path: Path) -> bool:
    """True for a ``torch.save`` file (a zip with ``data.pkl``) or a plain pickle."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            return "data.pkl" in {record for record, _ in _records(archive)}
    with path.open("rb") as fh:
        return fh.read(1) == b"\x80"  # every pickle of protocol 2 or later starts with PROTO


def export_archive_risks(path: Path) -> list[str]:
    """Why ``torch.export.load`` of this archive would run code (empty: it would not).

    Raises:
        ModelSourceError: The file is not a ``torch.export`` archive.
    """
    not_export = ModelSourceError(
        f"Cannot read torch.export program {str(path)!r}: it is not a torch.export archive.",
        hint="Save it with torch.export.save(torch.export.export(model, args), path).",
    )
    if not zipfile.is_zipfile(path):
        raise not_export
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            risks = []
            if len(set(names)) != len(names):  # which copy a reader takes is its own choice
                risks.append("it holds two records under one name")
            legacy = _LEGACY_VERSION in names
            if legacy:
                risks.extend(_legacy_risks(archive))
            # PyTorch's reader takes every record under the first one's folder (and refuses an
            # archive with records elsewhere).
            root = names[0].split("/", 1)[0] + "/" if names else ""
            records = {n[len(root) :]: n for n in names if n.startswith(root)}
            if _FORMAT_RECORD in records:
                risks.extend(_archive_risks(archive, records))
            elif not legacy:
                raise not_export
            return risks
    except (zipfile.BadZipFile, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ModelSourceError(
            f"Cannot read torch.export program {str(path)!r}: {first_line(exc, 200)}",
            hint="Save it again with torch.export.save.",
        ) from exc


def loads_as_tensors(data: bytes) -> bool:
    """True when PyTorch's restricted loader (``weights_only=True``) reads ``data``.

    That loader builds tensors, containers and plain values only, and runs no code from the
    data; what it refuses needs the full unpickler.
    """
    if not data:
        return True  # torch.export reads an empty record as {}
    import torch

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. "Detected pickle protocol 4"
            torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception:
        return False
    return True


def _records(archive: zipfile.ZipFile) -> Iterator[tuple[str, str]]:
    """``(record, zip name)``: PyTorch's archive reader drops the first folder of each name."""
    for name in archive.namelist():
        yield (name.split("/", 1)[1] if "/" in name else name), name


def _archive_risks(archive: zipfile.ZipFile, records: dict[str, str]) -> Iterator[str]:
    if any(r.startswith(_AOTI_DIR) for r in records):
        yield "it holds AOTInductor compiled code (a shared library torch.export.load runs)"
    # As torch.export.load names them: every record under models/, less 5 characters of suffix.
    programs = [
        (r[len(_MODELS_DIR) : -len(".json")], r) for r in records if r.startswith(_MODELS_DIR)
    ]
    for model, program in programs:
        for config_name, what in ((_WEIGHTS_CONFIG, "weight"), (_CONSTANTS_CONFIG, "constant")):
            name = config_name.format(model)
            if name not in records:
                continue
            config = json.loads(archive.read(records[name])).get("config") or {}
            for fqn, meta in config.items():
                path_name = str(meta.get("path_name", ""))
                if path_name.startswith(_OBJECT_PREFIXES):
                    yield f"{what} {fqn!r} is a pickled Python object"
                elif meta.get("use_pickle"):
                    yield f"{what} {fqn!r} is stored as a pickle (use_pickle)"
        for name, what in (
            (_LEGACY_WEIGHTS, "its weights"),
            (_LEGACY_CONSTANTS, "its constants"),
            (_SAMPLE_INPUTS, "its sample inputs"),
        ):
            record = records.get(name.format(model))
            if record is not None and not loads_as_tensors(archive.read(record)):
                yield f"{what} are a pickle of more than tensors"
        yield from _expression_risks(json.loads(archive.read(records[program])))


def _legacy_risks(archive: zipfile.ZipFile) -> list[str]:
    risks = []
    for name in archive.namelist():
        if name in (_LEGACY_VERSION, _LEGACY_PROGRAM) or name.startswith("extra_files"):
            continue
        if not loads_as_tensors(archive.read(name)):
            risks.append(f"{name} is a pickle of more than tensors")
    if _LEGACY_PROGRAM in archive.namelist():
        risks.extend(_expression_risks(json.loads(archive.read(_LEGACY_PROGRAM))))
    return risks


def _expression_risks(program: object) -> Iterator[str]:
    """Symbolic shapes that are not plain arithmetic (torch evaluates them with sympify)."""
    for text in _values_of(program, "expr_str"):
        if not _is_plain_expression(text):
            shown = text[:60] if isinstance(text, str) else text
            yield f"a symbolic shape is not plain arithmetic ({shown!r})"
            return


def _values_of(node: object, key: str) -> Iterator[object]:
    if isinstance(node, dict):
        for k, v in node.items():
            if k == key:
                yield v
            else:
                yield from _values_of(v, key)
    elif isinstance(node, list):
        for item in node:
            yield from _values_of(item, key)


def _is_plain_expression(text: object) -> bool:
    """True for sympy arithmetic over symbols, as torch.export writes it; nothing callable else.

    Example:
        >>> _is_plain_expression("Mul(Integer(2), Symbol('s0', positive=True, integer=True))")
        True
        >>> _is_plain_expression("__import__('os').system('id')")
        False
    """
    if not isinstance(text, str):
        return False
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError:
        return False
    # A string only as the name of a Symbol: sympy's S("...") would evaluate it as Python.
    names = {
        id(node.args[0])
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "Symbol"
        and node.args
    }
    for node in ast.walk(tree):
        if not isinstance(node, _EXPR_NODES):
            return False
        if isinstance(node, ast.Name) and not (
            node.id in _SYMPY_NAMES or _SYMBOL_RE.fullmatch(node.id)
        ):
            return False
        if isinstance(node, ast.keyword) and not (node.arg and _IDENT_RE.fullmatch(node.arg)):
            return False
        if isinstance(node, ast.Call) and not isinstance(node.func, ast.Name):
            return False
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if id(node) not in names or not _IDENT_RE.fullmatch(node.value):
                return False
        elif isinstance(node, ast.Constant) and not isinstance(node.value, int | float | None):
            return False
    return True
