"""Model loading: one entry point for every source, one error style."""

from __future__ import annotations

from collections.abc import Sequence

from hwfit.models.artifact import ModelArtifact
from hwfit.models.shapes import parse_shape
from hwfit.models.sources import describe

__all__ = ["ModelArtifact", "load_model", "parse_shape"]


def load_model(
    spec: str,
    *,
    input_shape: str | Sequence[int] | None = None,
    weights: str | None = None,
    trust_model: bool = False,
) -> ModelArtifact:
    """Resolve a model spec into a :class:`ModelArtifact` ready to benchmark.

    Args:
        spec: ``timm:NAME``, ``torchvision:NAME``, a ``.onnx``, ``.xml`` (OpenVINO IR),
            ``.pt`` (TorchScript) or ``.pt2`` (``torch.export``) file, or ``module.path:factory``.
        input_shape: Full input shape, batch first (``"1x3x224x224"``). Taken from the model
            (timm config, ONNX graph, IR) when omitted.
        weights: A state-dict file for ``timm:``, ``torchvision:`` and factory models; without
            it the weights are random (seeded, so the same in every process).
        trust_model: Load files that run code when they are loaded: TorchScript, full pickles
            (``torch.save(model)``), ``torch.export`` archives with pickled parts, weights files
            with Python objects other than tensors. Only for files you trust; ONNX, OpenVINO IR
            and ``torch.export`` archives of plain tensors need no trust.

    Returns:
        The artifact, with its content hash, input spec, params and MACs.

    Raises:
        UntrustedModelError: A file that runs code when loaded, without ``trust_model``.
        UserError: Unknown name (with suggestions), missing or corrupt file, wrong shape.
    """
    shape = parse_shape(input_shape) if input_shape is not None else None
    info, module = describe(spec, input_shape=shape, weights=weights, trust_model=trust_model)
    return ModelArtifact(info=info, _module=module, trust_model=trust_model)
