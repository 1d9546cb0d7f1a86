"""Accuracy budgets: how much accuracy an optimization may cost, and the check against one."""

from __future__ import annotations

import dataclasses
import math
import re

from hwfit.errors import UserError

__all__ = ["AccuracyBudget", "BudgetCheck"]

_NUMBER = re.compile(
    r"^\s*(?P<value>(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?)\s*(?P<unit>%|points?|pts?|pp)?\s*$",
    re.IGNORECASE,
)
_HINT = (
    'Write the largest accepted drop as points of accuracy ("1" or "0.5") or as a percentage '
    'of the reference accuracy ("0.5%").'
)
_TOLERANCE = 1e-9  # float noise in accuracy arithmetic never fails a check


@dataclasses.dataclass(frozen=True)
class BudgetCheck:
    """The outcome of checking one candidate's accuracy against a budget.

    Attributes:
        ok: True when the candidate is within the budget.
        drop: Reference minus candidate accuracy, in points (negative when it improved).
        allowed: The largest drop the budget accepts, in points.
        reason: Why the candidate was rejected; None when ``ok``.
    """

    ok: bool
    drop: float
    allowed: float
    reason: str | None = None


@dataclasses.dataclass(frozen=True)
class AccuracyBudget:
    """The largest accuracy drop accepted, absolute (points) or relative (% of the reference).

    Accuracies are percentages (0-100), so an absolute budget of 1.0 accepts 76.1 -> 75.1 and a
    relative budget of 1.0 accepts 76.1 -> 75.339.

    Attributes:
        value: The budget: points when absolute, percent of the reference when relative.
        relative: True for a relative budget.

    Example:
        >>> budget = AccuracyBudget.parse("1")
        >>> check = budget.check(76.1, 75.5)
        >>> check.ok, round(check.drop, 2), check.allowed, check.reason
        (True, 0.6, 1.0, None)
        >>> print(budget.check(76.1, 74.6).reason)
        accuracy fell 1.50 points (76.10 -> 74.60); the budget allows 1.00 (1 point)
        >>> relative = AccuracyBudget.parse("0.5%")
        >>> relative, str(relative)
        (AccuracyBudget(value=0.5, relative=True), '0.5%')
        >>> round(relative.allowed_drop(80.0), 6)
        0.4
    """

    value: float
    relative: bool = False

    def __post_init__(self) -> None:
        if not math.isfinite(self.value) or self.value < 0:
            raise UserError(f"Accuracy budget {self.value!r} must be a number >= 0.", hint=_HINT)
        if self.value > 100:
            unit = "% of the reference" if self.relative else " points"
            raise UserError(
                f"Accuracy budget {self.value:g}{unit} is more than 100: it accepts anything.",
                hint=_HINT,
            )
        object.__setattr__(self, "value", float(self.value))

    @classmethod
    def parse(cls, text: str) -> AccuracyBudget:
        """Read a budget: ``"1"`` or ``"1.0"`` is 1 point, ``"0.5%"`` is 0.5 % of the reference.

        A unit ``point``/``points``/``pt``/``pp`` may follow an absolute value, so the text
        ``str(budget)`` gives parses back to the same budget.

        Raises:
            UserError: The text is not a non-negative number with an optional ``%``.

        Example:
            >>> AccuracyBudget.parse(" 1.0 ")
            AccuracyBudget(value=1.0, relative=False)
            >>> AccuracyBudget.parse("2 points") == AccuracyBudget(2.0)
            True
            >>> AccuracyBudget.parse("-1")  # doctest: +ELLIPSIS
            Traceback (most recent call last):
            ...
            hwfit.errors.UserError: Cannot read accuracy budget '-1'. Write the largest ...
        """
        match = _NUMBER.match(text)
        if match is None:
            raise UserError(f"Cannot read accuracy budget {text!r}.", hint=_HINT)
        return cls(value=float(match["value"]), relative=match["unit"] == "%")

    def allowed_drop(self, reference: float) -> float:
        """Return the largest accepted drop, in points, below ``reference`` accuracy (percent).

        Example:
            >>> AccuracyBudget(1.0).allowed_drop(76.0)
            1.0
            >>> AccuracyBudget(1.0, relative=True).allowed_drop(50.0)
            0.5
        """
        return self.value * reference / 100.0 if self.relative else self.value

    def check(self, reference: float, candidate: float) -> BudgetCheck:
        """Check a candidate's accuracy (percent) against the reference's.

        Args:
            reference: Accuracy of the reference model (e.g. FP32), in percent.
            candidate: Accuracy of the optimized model on the same data, in percent.

        Returns:
            The check; ``reason`` says by how much the budget was missed.
        """
        allowed = self.allowed_drop(reference)
        drop = reference - candidate
        if not (math.isfinite(reference) and math.isfinite(candidate)):
            return BudgetCheck(
                ok=False,
                drop=drop,
                allowed=allowed,
                reason=f"accuracy is not a number (reference {reference}, candidate {candidate})",
            )
        if drop <= allowed + _TOLERANCE:
            return BudgetCheck(ok=True, drop=drop, allowed=allowed)
        return BudgetCheck(
            ok=False,
            drop=drop,
            allowed=allowed,
            reason=f"accuracy fell {drop:.2f} points ({reference:.2f} -> {candidate:.2f}); "
            f"the budget allows {allowed:.2f} ({self})",
        )

    def __str__(self) -> str:
        if self.relative:
            return f"{self.value:g}%"
        return f"{self.value:g} point" + ("" if self.value == 1 else "s")
