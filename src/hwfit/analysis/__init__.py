"""Analyses over many rows: Pareto front, zoo frontier, machine compare, CPU-vs-GPU gap."""

from __future__ import annotations

from hwfit.analysis.compare import CompareReport, compare
from hwfit.analysis.frontier import FrontierReport, frontier
from hwfit.analysis.gap import GapReport, gap
from hwfit.analysis.pareto import dominates, pareto_front

__all__ = [
    "CompareReport",
    "FrontierReport",
    "GapReport",
    "compare",
    "dominates",
    "frontier",
    "gap",
    "pareto_front",
]
