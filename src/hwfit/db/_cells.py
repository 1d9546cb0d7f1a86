"""A user's table file as text, and its CSV cells as numbers, with one-line errors.

timm's published tables write thousands with a comma (``"1,014.45"``); both the timm import
(:mod:`hwfit.db.exchange.timm_csv`) and the zoo's tables (:mod:`hwfit.zoo`) read them here,
and results files, zoo tables and accuracy files are read with :func:`read_text`.
"""

from __future__ import annotations

from pathlib import Path

from hwfit.errors import UserError, first_line

__all__ = ["number", "read_text", "whole"]


def read_text(path: Path, what: str, hint: str) -> str:
    """The text of ``path`` (a UTF-8 BOM dropped), or a one-line error naming ``what`` it is.

    Raises:
        UserError: The file is missing, unreadable or not UTF-8.
    """
    if not path.is_file():
        raise UserError(f"{what} {str(path)!r} not found.", hint="Check the path.")
    try:
        return path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(
            f"Cannot read the {what.lower()} {str(path)!r}: {first_line(exc)}.", hint=hint
        ) from exc


def number(raw: str, column: str, at: str, hint: str) -> float:
    """Return the number in the cell ``raw`` of ``column``, thousands commas allowed.

    Args:
        raw: The cell's text.
        column: The column's name (for the message).
        at: Where the cell is (``"'t.csv' line 3"``).
        hint: The error's hint.

    Raises:
        UserError: The cell is not a number (NaN, infinities and negatives are the caller's
            to refuse).

    Example:
        >>> number("1,014.45", "infer_samples_per_sec", "line 2", "")
        1014.45
    """
    try:
        return float(raw.replace(",", ""))
    except ValueError:
        raise UserError(f"The {column} {raw!r} in {at} is not a number.", hint=hint) from None


def whole(raw: str, column: str, at: str, hint: str, *, unit: str = "") -> int:
    """Return the positive whole number in the cell ``raw`` (digits only).

    Args:
        raw: The cell's text.
        column: The column's name (for the message).
        at: Where the cell is.
        hint: The error's hint.
        unit: Words after "whole number" in the message (``" of pixels"``).

    Raises:
        UserError: The cell is not a positive whole number.

    Example:
        >>> whole("224", "infer_img_size", "line 2", "")
        224
    """
    if not raw.isdigit() or int(raw) == 0:
        raise UserError(
            f"The {column} {raw!r} in {at} is not a positive whole number{unit}.", hint=hint
        )
    return int(raw)
