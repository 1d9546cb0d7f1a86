"""``compare()``: the same models on two or more machines, side by side, and the rank flips.

A *machine* is a set of benchmark rows sharing one fingerprint, read from the results database
(a fingerprint prefix or a machine label) or from a result file (an ``hwfit export`` JSON file
or one of timm's published benchmark CSVs, read through :mod:`hwfit.db.exchange`).

Rows are matched on model source, input shape (without the batch), batch and precision, and on
the runtime where every machine measured that runtime; when the machines share no runtime for
a model (timm's PyTorch tables against an OpenVINO run here) each machine's fastest runtime is
compared and the row says so.

A **rank flip** is a pair of models A, B at the same configuration where A is faster on one
machine and B on another. Medians measured seconds apart still wobble by a few percent, so a
pair counts as a flip only when, on each of the two machines, the faster model is faster by
more than the *margin*: ``max(margin, ci_a + ci_b)``, the larger of the ``margin`` argument
(5% by default) and the sum of the two medians' 95% confidence half-widths. Pairs closer than
that on either machine are ties, not flips.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from hwfit.errors import UserError
from hwfit.records import (
    BenchResult,
    CompareReport,
    CompareRow,
    MachineResults,
    RankFlip,
    RowState,
    machine_label,
)

if TYPE_CHECKING:
    from hwfit.db import ResultStore

__all__ = [
    "DEFAULT_MARGIN",
    "CompareReport",
    "CompareRow",
    "MachineResults",
    "RankFlip",
    "compare",
    "compare_machines",
    "compare_results",
    "load_machines",
]

DEFAULT_MARGIN = 0.05
"""A model must be this much faster (relative) on both machines for a pair to count as a flip."""


def compare(
    *machines: str,
    db: str | None = None,
    margin: float = DEFAULT_MARGIN,
    models: Sequence[str] | None = None,
    families: Sequence[str] | None = None,
    out: str | Path | None = None,
) -> CompareReport:
    """Compare two or more machines' results per model and configuration.

    Args:
        *machines: Each a fingerprint prefix or a machine label from the database, or the path
            of a result file (``hwfit export`` JSON, or a timm benchmark CSV). A file holding
            several machines adds each of them.
        db: Results database URL or SQLite file (default: the user's data folder); only opened
            when a machine is not a file.
        margin: Relative latency difference below which a pair is a tie, not a flip.
        models: Only these models (``resnet50``, ``timm:resnet50``,
            ``torchvision:ssd300_vgg16``; a bare name matches either library; zoo names work
            too).
        families: Only the zoo models of these families (``mobilenet``, ``efficientnet``...,
            ``detection``).
        out: Folder for ``compare.html``; None writes no page.

    Returns:
        The rows side by side, their ratios, and the rank flips.

    Raises:
        UserError: Fewer than two machines, an unknown or ambiguous machine, an unreadable
            file, or no model measured on two of them.
    """
    report = compare_machines(
        *machines,
        db=db,
        margin=margin,
        models=models,
        families=families,
    )
    if out is None:
        return report
    from hwfit.report.compare_page import render_compare_page  # plotly: imported when asked
    from hwfit.report.html import write_report

    path = write_report(Path(out) / "compare.html", render_compare_page(report))
    return dataclasses.replace(report, html_path=path)


def compare_machines(
    *machines: str,
    db: str | None = None,
    margin: float = DEFAULT_MARGIN,
    models: Sequence[str] | None = None,
    families: Sequence[str] | None = None,
) -> CompareReport:
    """The domain half of :func:`compare`: the report, without writing a page.

    Arguments, result and errors are those of :func:`compare` (which adds ``out``).
    """
    sets = load_machines(machines, db=db)
    if models or families:
        sets = _only(sets, _wanted_sources(models, families))
    return compare_results(sets, margin=margin)


def _wanted_sources(models: Sequence[str] | None, families: Sequence[str] | None) -> set[str]:
    """Model sources (``<library>:<arch>``) named directly or through the zoo's families."""
    from hwfit.zoo import LIBRARIES, load_zoo, select  # the zoo's loader imports sqlalchemy

    wanted = {m for m in models or () if ":" in m}
    wanted |= {f"{lib}:{m}" for m in models or () if ":" not in m for lib in LIBRARIES}
    if families:
        wanted |= {e.spec for e in select(load_zoo(), families=families)}
    # A zoo name with a weight tag ("resnet50.a1_in1k") measures the architecture.
    return wanted | {w.split(".", 1)[0] for w in wanted}


def _only(sets: Sequence[MachineResults], sources: set[str]) -> list[MachineResults]:
    return [
        dataclasses.replace(m, results=tuple(r for r in m.results if r.model.source in sources))
        for m in sets
    ]


def load_machines(specs: Sequence[str], *, db: str | None = None) -> list[MachineResults]:
    """Resolve machine arguments (fingerprint prefix, label or file) into their rows.

    Raises:
        UserError: An unknown or ambiguous machine, or an unreadable file.
    """
    from hwfit.db import HistoryQuery, ResultStore  # sqlalchemy

    out: list[MachineResults] = []
    store: ResultStore | None = None
    try:
        for spec in specs:
            path = Path(spec).expanduser()
            if path.is_file():
                out.extend(_from_file(path))
                continue
            if store is None:
                store = ResultStore(db)
            fingerprint, profile = _resolve(store, spec)
            rows = store.query(HistoryQuery(fingerprint=fingerprint))
            out.append(
                MachineResults(
                    fingerprint,
                    machine_label(fingerprint, profile),
                    f"database {store.display_url}",
                    profile,
                    tuple(r for r in rows if r.fingerprint == fingerprint),
                )
            )
    finally:
        if store is not None:
            store.close()
    unique: list[MachineResults] = []
    for machine in out:
        if all(m.fingerprint != machine.fingerprint for m in unique):
            unique.append(machine)
    if len(unique) < 2:
        raise UserError(
            f"compare needs two or more machines; got {len(unique)}.",
            hint="Pass two fingerprints, labels or result files (`hwfit history` lists the "
            "machines; `hwfit import FILE` adds another machine's results).",
        )
    return unique


def _from_file(path: Path) -> list[MachineResults]:
    from hwfit.db import ResultStore  # sqlalchemy
    from hwfit.db.exchange import import_results

    with ResultStore("sqlite://") as store:
        import_results(store, path)
        machines = store.machines()
        rows = store.query()
    if not machines:
        raise UserError(f"{path} holds no results.", hint="Pass an `hwfit export` file.")
    return [
        MachineResults(
            fingerprint,
            machine_label(fingerprint, profile),
            str(path),
            profile,
            tuple(r for r in rows if r.fingerprint == fingerprint),
        )
        for fingerprint, profile in machines
    ]


def _resolve(store: ResultStore, spec: str) -> tuple[str, Mapping[str, object]]:
    machines = store.machines()
    found = [m for m in machines if m[0].startswith(spec)]
    if not found:
        needle = spec.lower()
        found = [m for m in machines if needle in machine_label(m[0], m[1]).lower()]
    if len(found) == 1:
        return found[0]
    known = ", ".join(f"{f[:8]} ({machine_label(f, p)})" for f, p in machines[:8]) or "none"
    if not found:
        raise UserError(
            f"No machine, result file or label matches {spec!r}.",
            hint=f"Known machines: {known}. `hwfit import FILE` adds results from elsewhere.",
        )
    raise UserError(
        f"{spec!r} matches {len(found)} machines.",
        hint="Use a longer fingerprint prefix: "
        + ", ".join(f"{f[:12]} ({machine_label(f, p)})" for f, p in found[:8])
        + ".",
    )


def compare_results(
    machines: Sequence[MachineResults], *, margin: float = DEFAULT_MARGIN
) -> CompareReport:
    """Match rows across machines and find the rank flips (pure: no database, no files).

    For each machine and (model, input, batch, precision, runtime) the newest COMPLETE row is
    used.

    Args:
        machines: Two or more machines' rows.
        margin: Relative latency difference below which a pair is a tie.

    Raises:
        UserError: Fewer than two machines, a negative margin, or no model measured on two
            of the machines.
    """
    if len(machines) < 2:
        raise UserError(f"compare needs two or more machines; got {len(machines)}.")
    if margin < 0:
        raise UserError(f"The flip margin must be >= 0, got {margin}.", hint="E.g. 0.05")
    per_machine = [_index(m.results) for m in machines]
    keys = sorted({k[:4] for idx in per_machine for k in idx})
    rows: list[CompareRow] = []
    mixed = 0
    for key in keys:
        runtimes_per = [{k[4] for k in idx if k[:4] == key} for idx in per_machine]
        present = [rs for rs in runtimes_per if rs]
        if len(present) < 2:
            continue
        common = sorted(set.intersection(*present)) if present else []
        if common:
            for runtime in common:
                rows.append(_row(key, runtime, [idx.get((*key, runtime)) for idx in per_machine]))
        else:
            mixed += 1
            best = [
                min(
                    (idx[(*key, rt)] for rt in rs),
                    key=lambda r: r.latency.p50_ms if r.latency else math.inf,
                )
                if rs
                else None
                for idx, rs in zip(per_machine, runtimes_per, strict=True)
            ]
            rows.append(_row(key, None, best))
    if not rows:
        raise UserError(
            "No model was measured on two of these machines at the same batch and precision.",
            hint="Benchmark the same models on both (e.g. `hwfit frontier` on each), or check "
            "the machines with `hwfit history`.",
        )
    flips = find_flips(rows, len(machines), margin)
    notes = [
        f"A flip: on each machine the faster model is faster by more than max({margin:.0%}, "
        "the two medians' CI95 half-widths added); closer pairs are ties.",
        f"Ratios are latency on each machine over latency on {machines[0].label}.",
    ]
    if mixed:
        notes.append(
            f"{mixed} model(s) ran on different runtimes on the machines; those rows compare "
            "each machine's fastest runtime."
        )
    return CompareReport(tuple(machines), tuple(rows), tuple(flips), margin, tuple(notes))


def find_flips(rows: Sequence[CompareRow], n_machines: int, margin: float) -> list[RankFlip]:
    """Every pair of rows of the same group whose order flips between two machines."""
    groups: dict[tuple[int, str, str | None], list[CompareRow]] = {}
    for row in rows:
        groups.setdefault(row.group, []).append(row)
    flips: list[RankFlip] = []
    for group in groups.values():
        for a, b in itertools.combinations(group, 2):
            if a.model == b.model:  # one model at two resolutions: not a choice between models
                continue
            flips.extend(_pair_flips(a, b, n_machines, margin))
    flips.sort(key=lambda f: (-f.strength, f.a.name, f.b.name, f.x, f.y))
    return flips


def _pair_flips(a: CompareRow, b: CompareRow, n: int, margin: float) -> list[RankFlip]:
    # Per machine: +gain when a is faster by more than the margin, -gain when b is, else 0.
    verdicts: list[float] = []
    for m in range(n):
        la, lb = a.p50_ms[m], b.p50_ms[m]
        if la is None or lb is None or la <= 0 or lb <= 0:
            verdicts.append(0.0)
            continue
        needed = max(margin, (a.ci_rel[m] or 0.0) + (b.ci_rel[m] or 0.0))
        if lb > la * (1 + needed):
            verdicts.append(lb / la - 1)
        elif la > lb * (1 + needed):
            verdicts.append(-(la / lb - 1))
        else:
            verdicts.append(0.0)
    out: list[RankFlip] = []
    for x, y in itertools.permutations(range(n), 2):
        if verdicts[x] > 0 and verdicts[y] < 0:
            out.append(RankFlip(a, b, x, y, verdicts[x], -verdicts[y]))
    return out


_Key = tuple[str, str, int, str, str]


def _index(results: Sequence[BenchResult]) -> dict[_Key, BenchResult]:
    index: dict[_Key, BenchResult] = {}
    for r in results:  # newest first: the first row of a key wins
        if r.state is not RowState.COMPLETE or r.latency is None:
            continue
        shape = "x".join(str(d) for d in r.model.input.shape[1:])
        key = (r.model.source, shape, r.config.batch, r.config.precision, r.config.runtime)
        index.setdefault(key, r)
    return index


def _row(
    key: tuple[str, str, int, str], runtime: str | None, found: list[BenchResult | None]
) -> CompareRow:
    source, shape, batch, precision = key
    return CompareRow(
        model=source,
        input=shape,
        batch=batch,
        precision=precision,
        runtime=runtime,
        runtimes=tuple(r.config.runtime if r else None for r in found),
        p50_ms=tuple(r.latency.p50_ms if r and r.latency else None for r in found),
        ci_rel=tuple(r.latency.ci_rel if r and r.latency else None for r in found),
    )
