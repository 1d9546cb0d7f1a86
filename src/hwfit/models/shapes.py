"""Input shapes: parsing ``1x3x224x224`` and merging a user shape with the model's own."""

from __future__ import annotations

from collections.abc import Sequence

from hwfit.errors import InputShapeError

__all__ = ["merge_shape", "parse_shape"]

Dim = int | None  # None: a dynamic dimension


def parse_shape(text: str | Sequence[int]) -> tuple[int, ...]:
    """Parse ``"1x3x224x224"`` (or ``"1,3,224,224"``) into a tuple of positive ints.

    Raises:
        InputShapeError: The text is not such a shape.

    Example:
        >>> parse_shape("1x3x224x224")
        (1, 3, 224, 224)
    """
    if not isinstance(text, str):
        dims = tuple(int(d) for d in text)
    else:
        parts = text.lower().replace(",", "x").replace(" ", "").split("x")
        try:
            dims = tuple(int(p) for p in parts)
        except ValueError:
            dims = ()
    if not dims or any(d <= 0 for d in dims):
        raise InputShapeError(
            f"Cannot read input shape {text!r}.",
            hint="Write it as positive sizes joined by 'x', batch first, e.g. 1x3x224x224.",
        )
    return dims


def merge_shape(
    model: str, native: Sequence[Dim] | None, user: tuple[int, ...] | None
) -> tuple[int, ...]:
    """Combine the model's own input shape (None dims are dynamic) with the user's.

    The batch dimension (first) may be dynamic: it defaults to 1. Any other dynamic dimension
    needs a user shape.

    Raises:
        InputShapeError: No shape can be known, or the user's shape contradicts the model's.
    """
    if user is not None:
        if native is not None:
            if len(native) != len(user):
                raise InputShapeError(
                    f"Input shape {_fmt(user)} has {len(user)} dimensions, but model {model!r} "
                    f"takes {len(native)}: {_fmt(native)}.",
                    hint=f"Pass a shape like {_fmt([d or 1 for d in native])} with --input-shape.",
                )
            for i, (n, u) in enumerate(zip(native, user, strict=True)):
                if i > 0 and n is not None and n != u:
                    raise InputShapeError(
                        f"Input shape {_fmt(user)} does not fit model {model!r}, whose input is "
                        f"{_fmt(native)} (dimension {i} is fixed at {n}).",
                        hint="Omit --input-shape to use the model's own shape.",
                    )
        return user
    if native is None:
        raise InputShapeError(
            f"Model {model!r} does not say what input shape it takes.",
            hint="Give one with --input-shape, e.g. 1x3x224x224.",
        )
    if any(d is None for d in native[1:]):
        raise InputShapeError(
            f"Model {model!r} has a dynamic input shape {_fmt(native)}.",
            hint="Give a concrete shape with --input-shape, e.g. 1x3x224x224.",
        )
    return tuple(1 if d is None else d for d in native)


def _fmt(dims: Sequence[Dim]) -> str:
    return "x".join("?" if d is None else str(d) for d in dims)
