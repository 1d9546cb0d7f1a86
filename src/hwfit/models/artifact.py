"""ModelArtifact: a resolved model source, its identity and a lazily built framework object."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from hwfit.errors import InternalError
from hwfit.models.sources import build_torch_module

if TYPE_CHECKING:
    from torch import nn

    from hwfit.records import ModelInfo

__all__ = ["ModelArtifact"]


@dataclasses.dataclass
class ModelArtifact:
    """A model hwfit can benchmark: its :class:`ModelInfo` and, for PyTorch sources, the module.

    Build one with :func:`hwfit.models.load_model`. Worker processes rebuild it from the info
    alone with :meth:`from_info`, which rebuilds the module only when a runtime needs it.

    Attributes:
        info: What identifies the model.
        trust_model: The user allowed its file to run code when loaded (``--trust-model``);
            a rebuilt module is loaded with the same permission, never more.
    """

    info: ModelInfo
    _module: nn.Module | None = dataclasses.field(default=None, repr=False)
    trust_model: bool = False

    @classmethod
    def from_info(cls, info: ModelInfo, *, trust_model: bool = False) -> ModelArtifact:
        """Rebuild an artifact from its recorded info (no hashing, no validation).

        Args:
            info: The recorded info.
            trust_model: Carried from the job that asks for it (see :attr:`trust_model`).
        """
        return cls(info=info, trust_model=trust_model)

    @property
    def is_torch(self) -> bool:
        """True when the source is a PyTorch model."""
        return self.info.kind == "torch"

    def torch_module(self) -> nn.Module:
        """Return the ``torch.nn.Module`` in eval mode (built on first use).

        Raises:
            InternalError: The source is not a PyTorch model.
            UntrustedModelError: Its file runs code when loaded and :attr:`trust_model` is False.
        """
        if not self.is_torch:
            raise InternalError(f"Model {self.info.source!r} is not a PyTorch model.")
        if self._module is None:
            self._module = build_torch_module(
                self.info.source, self.info.weights, trust_model=self.trust_model
            )
        return self._module
