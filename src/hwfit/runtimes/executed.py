"""The executed-precision label: what a compiled model's compute layers run in, in one string.

Runtimes report element types of their own (OpenVINO's ``u8``/``i8``/``f32``/``bf16``); the label
speaks hwfit's precision names, so an INT8 model reads ``int8`` whether its layers take unsigned
(after a ReLU) or signed inputs, and a model is shown as mixed only when its compute layers run
in more than one precision.
"""

from __future__ import annotations

import collections
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["executed_label", "precision_name"]

_NAMES = {
    "f32": "fp32",
    "fp32": "fp32",
    "bf16": "bf16",
    "f16": "fp16",
    "fp16": "fp16",
    "i8": "int8",
    "u8": "int8",
    "int8": "int8",
    "uint8": "int8",
}


def precision_name(element_type: str) -> str:
    """Return hwfit's name for a runtime's element type.

    Args:
        element_type: As the runtime writes it, in any case (``"u8"``, ``"I8"``, ``"f32"``).

    Returns:
        ``"fp32"``, ``"bf16"``, ``"fp16"`` or ``"int8"`` (signed and unsigned alike); an
        unknown type lower-cased.

    Example:
        >>> precision_name("u8"), precision_name("I8"), precision_name("f32")
        ('int8', 'int8', 'fp32')
    """
    text = element_type.lower()
    return _NAMES.get(text, text)


def executed_label(layer_precisions: Iterable[str], *, default: str) -> str:
    """Label what a model's compute layers run in.

    Args:
        layer_precisions: One element type per compute layer, as the runtime reports it.
        default: The label when there are no compute layers (e.g. the compile hint).

    Returns:
        The one precision when every layer runs in it (``"int8"``); otherwise the most common
        one followed by the count of each, most common first:
        ``"int8 (compute layers int8:15, fp32:2)"``.

    Example:
        >>> executed_label(["u8", "u8", "i8"], default="fp32")
        'int8'
        >>> executed_label(["u8", "u8", "f32"], default="fp32")
        'int8 (compute layers int8:2, fp32:1)'
    """
    counts = collections.Counter(precision_name(p) for p in layer_precisions)
    if not counts:
        return default
    ranked = counts.most_common()
    main = ranked[0][0]
    if len(ranked) == 1:
        return main
    mix = ", ".join(f"{name}:{count}" for name, count in ranked)
    return f"{main} (compute layers {mix})"
