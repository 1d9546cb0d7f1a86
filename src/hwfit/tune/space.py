"""The candidate space of ``optimize``: runtime x precision x threads x batch."""

from __future__ import annotations

from collections.abc import Sequence

from hwfit.errors import UnknownNameError, UserError
from hwfit.precisions import RECIPES, Precision, recipe_key
from hwfit.records import Candidate

__all__ = ["DEFAULT_RUNTIMES", "candidate_space"]

#: Runtimes whose artifacts optimize can ship (PyTorch eager is the baseline).
DEFAULT_RUNTIMES: tuple[str, ...] = ("onnxruntime", "openvino")


def candidate_space(
    runtimes: Sequence[str],
    precisions: Sequence[str] | None = None,
    threads: Sequence[int | None] = (None,),
    batches: Sequence[int] = (1,),
) -> list[Candidate]:
    """Every runtime x precision x threads x batch that has a recipe, in a stable order.

    Args:
        runtimes: Runtime names.
        precisions: Precisions to try (default: every precision with a recipe for the runtime).
        threads: Thread counts (None: the runtime's default).
        batches: Batch sizes.

    Raises:
        UnknownNameError: An unknown precision, or a runtime/precision pair without a recipe
            when precisions were named explicitly.

    Example:
        >>> [c.label for c in candidate_space(["onnxruntime"], ["fp32", "int8"])]
        ['onnxruntime fp32 t-default b1', 'onnxruntime int8 t-default b1']
    """
    known = [p.value for p in Precision]
    for p in precisions or ():
        if p not in known:
            raise UnknownNameError(
                f"Unknown precision {p!r}.", hint=f"Use some of: {', '.join(known)}."
            )
    names = set(RECIPES.names())
    out: list[Candidate] = []
    for runtime in runtimes:
        if runtime.startswith("torch"):
            raise UserError(
                f"optimize ships ONNX or OpenVINO artifacts; {runtime!r} is not one.",
                hint="PyTorch eager FP32 is measured as the baseline anyway; use "
                "--runtime onnxruntime,openvino.",
            )
        wanted = list(precisions) if precisions else known
        for precision in wanted:
            if recipe_key(runtime, precision) not in names:
                if precisions and len(runtimes) == 1:
                    raise UnknownNameError(
                        f"{runtime} has no {precision} recipe.",
                        hint="See `hwfit optimize --help` for the runtime/precision pairs.",
                    )
                continue
            out.extend(Candidate(runtime, precision, t, b) for t in threads for b in batches)
    return out
