"""Phase 5: the result table, the found architectures through ``optimize``, the speed-up."""

from __future__ import annotations

import dataclasses

import numpy as np

from hwfit.nas.latency.base import LatencyPredictor
from hwfit.nas.latency.measure import export_onnx
from hwfit.nas.search._verify import Verified
from hwfit.nas.search.cost import search_cost
from hwfit.nas.search.select import best
from hwfit.nas.search.state import SearchState
from hwfit.nas.space import Arch
from hwfit.records.search import ArchResult, Calibration, PredictorQuality, SearchResult

__all__ = ["ship", "ship_phase"]


def ship_phase(
    state: SearchState,
    verified: Verified,
    predictor: LatencyPredictor,
    quality: PredictorQuality,
    calibration: Calibration,
) -> SearchResult:
    """Assemble the result: every architecture's numbers, the best found and the cost."""
    refs = state.reference_archs()

    def result(arch: Arch, role: str) -> ArchResult:
        return arch_result(state, verified, predictor, arch, role)

    baseline = result(refs[0][1], "baseline")
    scaled = [result(a, role) for role, a in refs[1:]]
    found = [result(a, "found") for a in verified.finalists]
    if state.setup.optimize_found:
        found = [ship(state, r) for r in found]
    front = [result(a, "front") for a in verified.front_archs]
    winner = best(found, baseline)
    speedup, speedup_ci = None, None
    if winner is not None and winner.measured_ms and baseline.measured_ms:
        speedup = baseline.measured_ms / winner.measured_ms
    if winner is not None and winner.measured_ci_ms and baseline.measured_ms:
        low, high = winner.measured_ci_ms
        speedup_ci = (baseline.measured_ms / high, baseline.measured_ms / low)
    if winner is None:
        state.notes.append(
            "No found architecture reached the baseline's trained top-1 at a lower latency."
        )
    return SearchResult(
        out=str(state.setup.out),
        space=state.setup.space.name,
        target=str(state.setup.target),
        baseline=baseline,
        scaled=scaled,
        found=found,
        front=front,
        trials=verified.trials,
        predictor_quality=quality,
        calibration=calibration,
        cost=search_cost(state, len(verified.trials)),
        best=winner,
        speedup=speedup,
        speedup_ci=speedup_ci,
        notes=[*state.notes, *state.setup.data.notes()],
    )


def arch_result(
    state: SearchState,
    verified: Verified,
    predictor: LatencyPredictor,
    arch: Arch,
    role: str,
) -> ArchResult:
    """One architecture's row: predicted, measured, estimated, screened and trained."""
    t = verified.by_key.get(arch.key)
    feats = state.features(arch)
    origin = verified.origins.get(arch.key)
    return ArchResult(
        key=arch.key,
        role=role,
        description=state.setup.space.describe(arch),
        params=dict(arch.params),
        predicted_ms=predictor.predict_one(feats),
        measured_ms=verified.final_ms.get(arch.key, state.latency.get(arch.key)),
        measured_ci_ms=verified.final_ci.get(arch.key),
        estimated_top1=None if t is None else t.estimated_top1,
        trained_top1=verified.trained.get(arch.key),
        model_params=int(feats.get("params", 0)) or None,
        screened_top1=verified.screened.get(arch.key),
        note=(
            f"starting point: {origin}"
            if role in ("found", "front") and origin is not None
            else ""
        ),
    )


def ship(state: SearchState, found: ArchResult) -> ArchResult:
    """Export a trained found architecture and pass it through optimize on the target."""
    import torch

    from hwfit.tune import optimize

    setup = state.setup
    folder = setup.out / "models" / found.key
    weights = state.weights.get(found.key)
    if weights is None:
        return found
    arch = state.archs[found.key]
    model = setup.space.build(arch)
    model.load_state_dict(torch.load(weights, weights_only=True))
    model.eval()
    shape = setup.space.input_shape(arch, 1)
    onnx_path = folder / "model.onnx"
    export_onnx(model, shape, onnx_path)
    val = setup.data.at_resolution(shape[-1])
    npz = folder / "val.npz"
    np.savez(npz, x=val.x_val.numpy(), y=val.y_val.numpy())
    try:
        opt = optimize(
            str(onnx_path),
            str(npz),
            out=folder / "artifact",
            runtimes=[setup.target.runtime],
            precisions=sorted({setup.target.precision, "fp32"}),
            batch=setup.target.batch,
            max_accuracy_drop="1",
            save=False,
        )
    except Exception as exc:  # a failed optimize must not lose the search
        return dataclasses.replace(found, note=_join(found.note, f"optimize failed: {exc}"))
    if opt.winner is None:
        note = "optimize: no configuration met the budget"
        return dataclasses.replace(found, note=_join(found.note, note))
    return dataclasses.replace(found, artifact=str(folder / "artifact"))


def _join(*notes: str) -> str:
    return "; ".join(n for n in notes if n)
