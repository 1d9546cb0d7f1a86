"""Model sources: turn a spec into a model hwfit can measure.

Sources: ``timm:``, ``torchvision:``, ``.onnx``, OpenVINO ``.xml``, TorchScript,
``torch.export`` (``.pt2``) and ``module.path:factory``.

Each source turns a spec into a :class:`ModelInfo` (identity, input, size) and, for PyTorch
sources, a module. PyTorch models are built with a fixed seed, so random weights are the same in
every process and the content hash is stable.

A file that would run code when loaded (TorchScript, a full pickle, a ``torch.export`` archive
with pickled parts) is refused before anything reads it, unless the caller passes
``trust_model=True`` (:mod:`hwfit.models.trust`). ``module.path:factory`` imports and calls the
user's own code: that is what it is for.
"""

from __future__ import annotations

import contextlib
import contextvars
import difflib
import hashlib
import importlib
import re
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from hwfit.errors import (
    InputShapeError,
    ModelSourceError,
    UnknownNameError,
    UntrustedModelError,
    UserError,
    first_line,
)
from hwfit.models._graph_files import describe_onnx, describe_openvino
from hwfit.models.detection import DETECTORS, build_detector, detector_spec
from hwfit.models.shapes import Dim, merge_shape
from hwfit.models.trust import TRUST_HINT, check_trusted, is_pickle, torch_file_format
from hwfit.records import InputSpec, ModelInfo

if TYPE_CHECKING:
    from torch import nn

__all__ = [
    "TorchDescriber",
    "build_torch_module",
    "describe",
    "describe_torch_with",
    "model_format",
    "source_kind",
]

TORCHSCRIPT_SUFFIXES = (".pt", ".pth", ".ts", ".jit", ".torchscript")
FACTORY_RE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
SEED = 0  # random weights are built under this seed: same spec, same weights, same hash

SOURCE_HELP = (
    "Use timm:NAME, torchvision:NAME, ultralytics:NAME (a YOLO detector), a .onnx, .xml "
    "(OpenVINO IR), .pt (TorchScript) or .pt2 (torch.export) file, or module.path:factory."
)

#: Builds a PyTorch model, runs its first forward pass and returns its info somewhere other than
#: this process: ``(spec, input_shape, weights, trust_model) -> ModelInfo``. Raises what
#: :func:`describe` does.
TorchDescriber = Callable[[str, tuple[int, ...] | None, str | None, bool], ModelInfo]

_torch_describer: contextvars.ContextVar[TorchDescriber | None] = contextvars.ContextVar(
    "hwfit_torch_describer", default=None
)


@contextlib.contextmanager
def describe_torch_with(describer: TorchDescriber) -> Iterator[None]:
    """Inside the block, :func:`describe` hands PyTorch models to ``describer``.

    The CLI passes :func:`hwfit.bench.spawn.describe_in_worker`, so a model whose first forward
    pass crashes natively fails as one error line instead of killing the CLI. Outside such a
    block models are built and run in this process: tests and internal callers that load many
    models (search, tuning, analysis) do not pay a process start for each. The modules of
    models described elsewhere are built here again only when something asks for them
    (:meth:`ModelArtifact.torch_module`).

    Example:
        >>> from hwfit.bench.spawn import describe_in_worker
        >>> with describe_torch_with(describe_in_worker):  # doctest: +SKIP
        ...     load_model("timm:resnet18")
    """
    token = _torch_describer.set(describer)
    try:
        yield
    finally:
        _torch_describer.reset(token)


#: Model sources built by name from a library (their input size is the library's).
_BUILT_BY_NAME = ("timm", "torchvision", "ultralytics")


def source_kind(spec: str) -> str:
    """Classify a model spec: timm, torchvision, onnx, openvino, torchscript, export, factory.

    Raises:
        ModelSourceError: A model file that does not exist.
        UnknownNameError: The spec is none of the known forms.
    """
    if spec.startswith("timm:"):
        return "timm"
    if spec.startswith("torchvision:"):
        return "torchvision"
    if spec.startswith("ultralytics:"):
        return "ultralytics"
    suffix = Path(spec).suffix.lower()
    by_suffix = {".onnx": "onnx", ".xml": "openvino", ".pt2": "export"}
    by_suffix.update(dict.fromkeys(TORCHSCRIPT_SUFFIXES, "torchscript"))
    if suffix in by_suffix:
        if not Path(spec).is_file():
            raise ModelSourceError(
                f"Model file {spec!r} not found.", hint="Check the path (relative to this folder)."
            )
        return by_suffix[suffix]
    if FACTORY_RE.match(spec):
        return "factory"
    raise UnknownNameError(f"Cannot tell what model {spec!r} is.", hint=SOURCE_HELP)


def model_format(info: ModelInfo) -> str:
    """The format a runtime sees: ``info.kind``, or ``torchscript`` for a TorchScript file.

    This is what :meth:`hwfit.runtimes.base.Runtime.skip_reason` is asked about: TorchScript is
    a PyTorch model (kind ``torch``) that only PyTorch itself can run.

    Example:
        >>> from hwfit.records import InputSpec
        >>> model_format(ModelInfo("m.pt", "torch", "h", InputSpec("x", (1, 3)), path="/m.pt"))
        'torchscript'
    """
    if info.kind == "torch" and info.path and Path(info.path).suffix in TORCHSCRIPT_SUFFIXES:
        return "torchscript"
    return info.kind


def describe(
    spec: str,
    *,
    input_shape: tuple[int, ...] | None,
    weights: str | None,
    trust_model: bool = False,
) -> tuple[ModelInfo, nn.Module | None]:
    """Resolve ``spec`` into its :class:`ModelInfo` and (PyTorch sources) the built module.

    PyTorch models are run once on the input shape, which checks the shape and counts MACs;
    inside :func:`describe_torch_with` that happens elsewhere (the CLI: in a worker process).
    A file that would run code when loaded is refused first, unless ``trust_model``.

    Raises:
        UntrustedModelError: A file that runs code when loaded, and ``trust_model`` is False.
        UserError: Unknown name, missing or corrupt file, bad weights, wrong or unknown shape.
    """
    kind = source_kind(spec)
    if weights is not None and kind not in ("timm", "torchvision", "ultralytics", "factory"):
        raise UserError(
            f"--weights applies to timm:, torchvision: and module:factory models, not {spec!r}.",
            hint="The weights of a model file are inside the file.",
        )
    if weights is not None and not Path(weights).is_file():
        raise ModelSourceError(f"Weights file {weights!r} not found.", hint="Check the path.")
    check_trusted(spec, kind, trust_model=trust_model)  # before anything reads the file
    if kind == "onnx":
        return describe_onnx(spec, input_shape), None
    if kind == "openvino":
        return describe_openvino(spec, input_shape), None
    describer = _torch_describer.get()
    if describer is not None:
        return describer(spec, input_shape, weights, trust_model), None
    module = build_torch_module(spec, weights, trust_model=trust_model)
    native = own = _native_torch_shape(spec, kind, module)
    fixed_size = detector_spec(spec) is not None  # its default boxes are for one size
    if input_shape is not None and native is not None and kind in _BUILT_BY_NAME:
        if fixed_size:
            native = [None, *native[1:]]
        else:
            # A convnet runs at any resolution: only the channels are the model's. Whether
            # this one does (a ViT's position embeddings may not) the forward pass tells.
            native = [None, native[1], *([None] * (len(native) - 2))]
    shape = merge_shape(spec, native, input_shape)
    params, macs = _check_forward(spec, module, shape, own)
    info = ModelInfo(
        source=spec,
        kind="torch",
        content_hash=_hash_module(spec, module),
        input=InputSpec("input", shape),
        params=params,
        macs=macs,
        weights=str(Path(weights).resolve()) if weights else None,
        path=str(Path(spec).resolve()) if kind in ("torchscript", "export") else None,
    )
    return info, module


def build_torch_module(spec: str, weights: str | None, *, trust_model: bool = False) -> nn.Module:
    """Build the ``torch.nn.Module`` of a PyTorch source, in eval mode, weights loaded.

    Args:
        spec: The model spec.
        weights: A state-dict file, or None.
        trust_model: Load files that run code when loaded (TorchScript, pickles, pickled
            ``torch.export`` parts, weights files with more than tensors).

    Raises:
        UntrustedModelError: Such a file, and ``trust_model`` is False.
        UserError: Unknown name, unreadable file, or weights that do not fit the model.
    """
    import torch

    kind = source_kind(spec)
    check_trusted(spec, kind, trust_model=trust_model)  # workers rebuild models from info
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        if kind == "timm":
            module = _build_timm(spec.removeprefix("timm:"))
        elif kind == "torchvision":
            module = _build_torchvision(spec.removeprefix("torchvision:"))
        elif kind == "ultralytics":
            module = _build_ultralytics(spec.removeprefix("ultralytics:"))
        elif kind == "torchscript":
            module = _load_torch_file(spec)
        elif kind == "export":
            module = _load_export(spec)
        elif kind == "factory":
            module = _build_factory(spec)
        else:
            raise ModelSourceError(f"Model {spec!r} is not a PyTorch model.")
    if weights:
        _load_weights(spec, module, weights, trust_model=trust_model)
    if kind != "export":  # an exported program keeps the mode it was exported in
        module.eval()
    return module


def _suggest(name: str, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, known, n=5, cutoff=0.6)
    if not close:
        close = [k for k in known if name.lower() in k.lower()][:5]
    return f" Did you mean: {', '.join(close)}?" if close else ""


def _build_timm(name: str) -> nn.Module:
    import timm

    if not timm.is_model(name):
        known = timm.list_models()
        raise UnknownNameError(
            f"Unknown timm model {name!r}.{_suggest(name, known)}",
            hint="List names with: python -c \"import timm; print(timm.list_models('*net*'))\"",
        )
    return timm.create_model(name, pretrained=False)


def _build_torchvision(name: str) -> nn.Module:
    import torchvision

    known = torchvision.models.list_models()
    if name not in known:
        raise UnknownNameError(f"Unknown torchvision model {name!r}.{_suggest(name, known)}")
    if detector_spec(f"torchvision:{name}") is not None:
        network: nn.Module = build_detector(name)[0]
        return network
    detection = torchvision.models.list_models(module=torchvision.models.detection)
    if name in detection:
        known_detectors = sorted(n for n, d in DETECTORS.items() if d.library == "torchvision")
        raise ModelSourceError(
            f"hwfit runs the torchvision detectors {', '.join(known_detectors)}, not {name!r}: "
            "its post-processing is not built in yet.",
            hint="Export it to ONNX yourself and guard it with --metric module:function.",
        )
    model: nn.Module = torchvision.models.get_model(name, weights=None)
    return model


def _build_ultralytics(name: str) -> nn.Module:
    """An Ultralytics YOLO detector hwfit knows, built from the package's architecture file."""
    known = sorted(n for n, d in DETECTORS.items() if d.library == "ultralytics")
    if detector_spec(f"ultralytics:{name}") is None:
        raise UnknownNameError(
            f"Unknown Ultralytics detector {name!r}.{_suggest(name, known)}",
            hint=f"hwfit runs ultralytics:{', ultralytics:'.join(known)}.",
        )
    network: nn.Module = build_detector(name)[0]
    return network


def _load_torch_file(path: str) -> nn.Module:
    """A trusted ``.pt``: TorchScript, or a full pickle of a module (``torch.save(model)``)."""
    import torch

    if torch_file_format(Path(path)) == "pickle":
        try:
            module = torch.load(path, map_location="cpu", weights_only=False)
        except Exception as exc:
            raise ModelSourceError(
                f"Cannot unpickle model {path!r}: {first_line(exc, 300)}",
                hint="Unpickling needs the classes it was saved with to be importable.",
            ) from exc
        if not isinstance(module, torch.nn.Module):
            raise ModelSourceError(
                f"Model {path!r} holds a {type(module).__name__}, not a torch.nn.Module."
            )
        return module
    try:
        scripted: nn.Module = torch.jit.load(path, map_location="cpu")
    except Exception as exc:
        raise ModelSourceError(
            f"Cannot read TorchScript model {path!r}: {first_line(exc, 300)}",
            hint="Save it with torch.jit.save(torch.jit.script(model), path); a state dict needs "
            "a model: pass it with --weights to a timm: or module:factory model.",
        ) from exc
    return scripted


def _load_export(path: str) -> nn.Module:
    import torch

    try:
        return torch.export.load(path).module()
    except Exception as exc:
        raise ModelSourceError(
            f"Cannot read torch.export program {path!r}: {first_line(exc, 300)}",
            hint="Save it with torch.export.save(torch.export.export(model, args), path).",
        ) from exc


def _build_factory(spec: str) -> nn.Module:
    import torch

    module_name, _, attr = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ModelSourceError(
            f"Cannot import {module_name!r} for model {spec!r}: {exc}",
            hint="Make sure the module is importable (installed, or on PYTHONPATH).",
        ) from exc
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise ModelSourceError(
            f"{module_name!r} has no callable {attr!r}.",
            hint="module.path:factory names a function that takes no arguments and returns a "
            "torch.nn.Module.",
        )
    try:
        built = factory()
    except Exception as exc:
        raise ModelSourceError(f"Factory {spec!r} raised: {first_line(exc, 300)}") from exc
    if not isinstance(built, torch.nn.Module):
        raise ModelSourceError(
            f"Factory {spec!r} returned {type(built).__name__}, not a torch.nn.Module.",
            hint="module.path:factory names a function that takes no arguments and returns a "
            "torch.nn.Module.",
        )
    return built


def _load_weights(
    spec: str, module: nn.Module, weights: str, *, trust_model: bool = False
) -> None:
    import pickle

    import torch

    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        # PyTorch's restricted loader refused an object other than tensors: only the full
        # unpickler reads it, and that runs whatever the file asks.
        if not is_pickle(Path(weights)):
            raise ModelSourceError(
                f"Cannot read weights {weights!r}: {first_line(exc, 300)}"
            ) from exc
        if not trust_model:
            raise UntrustedModelError(
                f"Weights {weights!r} hold Python objects other than tensors: loading them "
                "runs whatever code their author put in.",
                hint=TRUST_HINT,
            ) from exc
        try:
            state = torch.load(weights, map_location="cpu", weights_only=False)
        except Exception as exc2:
            raise ModelSourceError(
                f"Cannot unpickle weights {weights!r}: {first_line(exc2, 300)}"
            ) from exc2
    except Exception as exc:
        raise ModelSourceError(f"Cannot read weights {weights!r}: {first_line(exc, 300)}") from exc
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict):
        raise ModelSourceError(
            f"Weights {weights!r} hold a {type(state).__name__}, not a state dict."
        )
    result = module.load_state_dict(state, strict=False)
    problems = [f"missing {k}" for k in result.missing_keys[:3]]
    problems += [f"unexpected {k}" for k in result.unexpected_keys[:3]]
    if problems:
        raise ModelSourceError(
            f"Weights {weights!r} do not fit model {spec!r} ({len(result.missing_keys)} missing, "
            f"{len(result.unexpected_keys)} unexpected keys: {', '.join(problems)}).",
            hint="Use the weights saved from this very architecture.",
        )


def _native_torch_shape(spec: str, kind: str, module: nn.Module) -> list[Dim] | None:
    cfg = getattr(module, "pretrained_cfg", None)
    if isinstance(cfg, dict) and cfg.get("input_size"):
        return [None, *cfg["input_size"]]
    detector = detector_spec(spec)
    if detector is not None:
        return [None, 3, *detector.size]
    if kind == "torchvision":
        import torchvision

        try:
            weights = torchvision.models.get_model_weights(spec.removeprefix("torchvision:"))
            crop = weights.DEFAULT.transforms().crop_size  # read from code: no download
            return [None, 3, crop[0], crop[0]]
        except Exception:  # models without published weights: the user must say
            return None
    if kind == "export":
        import torch

        if not isinstance(module, torch.fx.GraphModule):
            return None
        placeholders = [n for n in module.graph.nodes if n.op == "placeholder"]
        val = placeholders[-1].meta.get("val") if placeholders else None
        if val is not None:
            return [int(d) for d in val.shape]
    return None


def _check_forward(
    spec: str, module: nn.Module, shape: tuple[int, ...], own: Sequence[Dim] | None = None
) -> tuple[int, int | None]:
    """Run one forward pass (batch 1): validates the shape, counts params and MACs.

    ``own`` is the model's own input shape, when it has one (named in the hint).
    """
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    params = sum(p.numel() for p in module.parameters())
    x = torch.zeros((1, *shape[1:]))
    counter = FlopCounterMode(display=False)
    try:
        with torch.inference_mode(), counter:
            module(x)
    except Exception as exc:
        raise InputShapeError(
            f"Model {spec!r} rejects input shape {'x'.join(map(str, shape))}: "
            f"{first_line(exc, 300)}",
            hint=(
                f"Omit --input-shape to use the model's own, {_own_shape(own)}."
                if own is not None and all(d is not None for d in own[1:])
                else "Pass the shape the model expects with --input-shape, e.g. 1x3x224x224."
            ),
        ) from exc
    flops = counter.get_total_flops()
    return params, (flops // 2 if flops else None)


def _own_shape(own: Sequence[Dim]) -> str:
    return "x".join(str(d or 1) for d in own)


def _hash_module(spec: str, module: nn.Module) -> str:
    digest = hashlib.sha256(type(module).__qualname__.encode())
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(name.encode())
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(tensor.detach().contiguous().cpu().numpy().tobytes())
    return digest.hexdigest()
