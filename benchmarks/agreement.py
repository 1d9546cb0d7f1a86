"""Does ``hwfit bench`` measure the same latency as an independent tool? (acceptance: within 10%)

For each runtime, hwfit's median latency is compared with a reference measured on the same
model file and the same settings:

* OpenVINO: OpenVINO's own ``benchmark_app`` on the IR that ``to_openvino`` produced
  (``-hint latency``, INFERENCE_NUM_THREADS=N, ``-infer_precision f32``, sync API, batch 1,
  f32 input: without ``-ip f32`` benchmark_app feeds image inputs as u8 plus a Convert).
* ONNX Runtime: a plain ``InferenceSession.run`` loop on the ONNX file from ``to_onnx``.
  hwfit times an IOBinding run (input bound beforehand); the plain loop includes the input
  copy, so hwfit is also run with ``end_to_end=True`` for a like-for-like row.
* PyTorch eager: a plain loop over the same timm/torchvision model built under seed 0.

Every measurement runs in its own process, one at a time (the machine may have few cores).
hwfit's row and its reference alternate order between rounds, and the table shows the
median over rounds. Other processes' CPU use is read from /proc/stat around each
measurement: the script waits for a quiet machine first, retakes a disturbed measurement
(up to 3 tries) and leaves disturbed rounds out of the medians. Exit code 0 when every ratio
is within 10% on quiet rounds, 1 otherwise.

Run it by hand, not under pytest::

    HWFIT_CACHE_DIR=/tmp/hwfit-bench-cache python benchmarks/agreement.py
    python benchmarks/agreement.py --model timm:test_resnet --duration 5
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import importlib.metadata
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

TOLERANCE = 0.10
WARMUP_RUNS = 20
DISTURBED_CORES = 0.25  # other processes' average CPU use above which a measurement is retaken
MAX_TRIES = 3
QUIET_WAIT_S = 120.0  # before each measurement, wait at most this long for a quiet machine


@dataclasses.dataclass(frozen=True)
class Row:
    """One comparison: a hwfit configuration and the reference it is compared with."""

    label: str
    runtime: str  # hwfit runtime name
    reference: str  # "torch", "onnxruntime" or "openvino"
    end_to_end: bool = False


ROWS = (
    Row("torch", "torch", "torch"),
    Row("onnxruntime", "onnxruntime", "onnxruntime"),
    Row("onnxruntime end_to_end", "onnxruntime", "onnxruntime", end_to_end=True),
    Row("openvino", "openvino", "openvino"),
)


@dataclasses.dataclass
class Measured:
    """Per-round medians of one hwfit row or one reference, and what it ran with."""

    p50s: list[float] = dataclasses.field(default_factory=list)
    loads: list[float] = dataclasses.field(default_factory=list)  # other processes, in cores
    settings: str = ""
    error: str | None = None

    @property
    def quiet(self) -> list[float]:
        """The rounds measured while other processes left the machine alone."""
        return [
            p for p, load in zip(self.p50s, self.loads, strict=True) if load <= DISTURBED_CORES
        ]

    @property
    def p50(self) -> float | None:
        """Median over the quiet rounds (over all rounds when none was quiet)."""
        if self.error is not None or not self.p50s:
            return None
        return statistics.median(self.quiet or self.p50s)


# ---------------------------------------------------------------- references (child processes)


def _input(shape: list[int]) -> Any:
    import numpy as np

    # The same input hwfit's worker makes.
    return np.random.default_rng(0).standard_normal(shape).astype(np.float32)


def _loop(fn: Any, duration_s: float) -> tuple[float, int]:
    for _ in range(WARMUP_RUNS):
        fn()
    samples: list[float] = []
    end = time.perf_counter() + duration_s
    while time.perf_counter() < end or len(samples) < 10:
        start = time.perf_counter_ns()
        fn()
        samples.append((time.perf_counter_ns() - start) / 1e6)
    return statistics.median(samples), len(samples)


def _ref_onnxruntime(
    path: str, shape: list[int], threads: int, duration_s: float
) -> dict[str, Any]:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    x = _input(shape)
    p50, n = _loop(lambda: sess.run(None, {name: x}), duration_s)
    used = sess.get_session_options().intra_op_num_threads
    return {"p50_ms": p50, "n": n, "settings": f"plain sess.run loop, intra_op_num_threads={used}"}


def _ref_torch(model: str, shape: list[int], threads: int, duration_s: float) -> dict[str, Any]:
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    if model.startswith("timm:"):
        import timm

        module = timm.create_model(model.removeprefix("timm:"), pretrained=False)
    else:
        import torchvision

        module = torchvision.models.get_model(model.removeprefix("torchvision:"), weights=None)
    module.eval()
    x = torch.from_numpy(_input(shape))
    with torch.inference_mode():
        p50, n = _loop(lambda: module(x), duration_s)
    dtypes = sorted({str(p.dtype).removeprefix("torch.") for p in module.parameters()})
    settings = f"plain eager loop, {'/'.join(dtypes)}, threads={torch.get_num_threads()}"
    return {"p50_ms": p50, "n": n, "settings": settings}


def _reference_main(args: argparse.Namespace) -> int:
    shape = [int(d) for d in args.shape.split("x")]
    if args.ref == "onnxruntime":
        out = _ref_onnxruntime(args.target, shape, args.threads, args.duration)
    else:
        out = _ref_torch(args.target, shape, args.threads, args.duration)
    print(json.dumps(out))
    return 0


# ---------------------------------------------------------------- measurements (parent process)


def _child(cmd: list[str], timeout_s: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd, capture_output=True, text=True, timeout=timeout_s, stdin=subprocess.DEVNULL
    )


def _tail(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1][:200] if lines else "no output"


def run_reference(
    ref: str, target: str, shape: list[int], threads: int, duration_s: float
) -> tuple[float, int, str]:
    """Measure one reference in a fresh process; return (median ms, runs, its settings)."""
    timeout = 3 * duration_s + 300
    if ref == "openvino":
        return _run_benchmark_app(target, shape, threads, duration_s, timeout)
    cmd = [
        sys.executable,
        __file__,
        "--_reference",
        ref,
        "--_target",
        target,
        "--_shape",
        "x".join(map(str, shape)),
        "--threads",
        str(threads),
        "--duration",
        str(duration_s),
    ]
    proc = _child(cmd, timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"{ref} reference failed: {_tail(proc.stderr or proc.stdout)}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    return float(out["p50_ms"]), int(out["n"]), str(out["settings"])


def _benchmark_app() -> str:
    local = Path(sys.executable).parent / "benchmark_app"
    if local.exists():
        return str(local)
    import shutil

    found = shutil.which("benchmark_app")
    if found is None:
        raise RuntimeError("benchmark_app not found (it ships with the openvino wheel)")
    return found


def _run_benchmark_app(
    xml: str, shape: list[int], threads: int, duration_s: float, timeout: float
) -> tuple[float, int, str]:
    import numpy as np

    with tempfile.TemporaryDirectory(prefix="hwfit-agreement-") as tmp:
        folder = Path(tmp)
        np.save(folder / "input.npy", _input(shape))
        # benchmark_app refuses -nthreads with a hint; the property goes through a config file.
        (folder / "config.json").write_text(
            json.dumps({"CPU": {"INFERENCE_NUM_THREADS": str(threads)}})
        )
        (folder / "report").mkdir()
        cmd = [
            _benchmark_app(),
            "-m", xml,
            "-d", "CPU",
            "-hint", "latency",
            "-load_config", str(folder / "config.json"),
            "-infer_precision", "f32",
            "-ip", "f32",
            "-i", str(folder / "input.npy"),
            "-t", f"{duration_s:g}",
            "-api", "sync",
            "-b", str(shape[0]),
            "-report_type", "no_counters",
            "-json_stats",
            "-report_folder", str(folder / "report"),
        ]  # fmt: skip
        proc = _child(cmd, timeout)
        report = folder / "report" / "benchmark_report.json"
        if proc.returncode != 0 or not report.exists():
            raise RuntimeError(f"benchmark_app failed: {_tail(proc.stderr or proc.stdout)}")
        results = json.loads(report.read_text())["execution_results"]
    log = proc.stdout + proc.stderr

    def prop(name: str) -> str:
        match = re.search(rf"^\[ INFO \]\s+{name}: (.*)$", log, re.MULTILINE)
        return match.group(1).strip() if match else "?"

    precision = prop("INFERENCE_PRECISION_HINT").replace("<Type: ", "").strip("'>")
    settings = (
        f"benchmark_app -hint latency, {precision}, threads={prop('INFERENCE_NUM_THREADS')}, "
        f"streams={prop('NUM_STREAMS')}"
    )
    runs = int(results["total number of iterations"])
    return float(results["latency (ms)"]), runs, settings  # the median (-latency_percentile 50)


def run_hwfit(model: str, row: Row, threads: int, duration_s: float) -> tuple[float, int, str]:
    """Measure one hwfit row with ``hwfit.bench``; return (median ms, runs, what it executed)."""
    import hwfit

    report = hwfit.bench(
        model,
        runtimes=[row.runtime],
        batches=[1],
        threads=[threads],
        duration_s=duration_s,
        end_to_end=row.end_to_end,
        async_throughput=False,
        save=False,
    )
    result = report.results[0]
    if result.latency is None or result.executed is None:
        raise RuntimeError(f"hwfit row {result.state.value}: {result.reason}")
    ex = result.executed
    settings = f"{ex.precision}, threads={ex.threads}, streams={ex.streams}"
    if result.convert_s:  # the worker converted again: not the cached file the reference used
        settings += f" (converted {result.convert_s:.1f} s: not the cached file!)"
    return result.latency.p50_ms, result.latency.n, settings


# ---------------------------------------------------------------- driver


def _cpu_snapshot() -> tuple[float, float, float] | None:
    """(busy CPU s of the whole machine, CPU s of this process and its children, wall s)."""
    try:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    # user nice system irq softirq steal (steal: another VM had our cores)
    busy = sum(values[i] for i in (0, 1, 2, 5, 6, 7) if i < len(values))
    t = os.times()
    own = t.user + t.system + t.children_user + t.children_system
    return busy / os.sysconf("SC_CLK_TCK"), own, time.monotonic()


def _foreign_load(
    before: tuple[float, float, float] | None, after: tuple[float, float, float] | None
) -> float | None:
    """Cores used on average by processes other than this script and its children."""
    if before is None or after is None or after[2] <= before[2]:
        return None
    other = (after[0] - before[0]) - (after[1] - before[1])
    return max(0.0, other) / (after[2] - before[2])


def _wait_quiet(max_wait_s: float = QUIET_WAIT_S) -> float:
    """Wait until other processes use under DISTURBED_CORES for a second; return seconds waited."""
    start = time.monotonic()
    while time.monotonic() - start < max_wait_s:
        before = _cpu_snapshot()
        time.sleep(1.0)
        load = _foreign_load(before, _cpu_snapshot())
        if load is None or load <= DISTURBED_CORES:
            break
    return time.monotonic() - start - 1.0


def _measure(measure: Any, slot: Measured, what: str) -> None:
    """Run one measurement; retake it while other processes disturbed it; keep the quietest."""
    best: tuple[float, float, str] | None = None  # (foreign load, p50, settings)
    for attempt in range(1, MAX_TRIES + 1):
        waited = _wait_quiet()
        if waited >= 1.0:
            print(f"{'':<40} waited {waited:.0f} s for other processes to finish", flush=True)
        before = _cpu_snapshot()
        try:
            p50, runs, settings = measure()
        except Exception as exc:
            slot.error = str(exc)
            print(f"{what}: FAILED {exc}", flush=True)
            return
        load = _foreign_load(before, _cpu_snapshot())
        shown = "?" if load is None else f"{load:.2f}"
        print(
            f"{what:<40} p50 {p50:8.3f} ms  {runs:6d} runs  other load {shown} cores", flush=True
        )
        load = 0.0 if load is None else load
        if best is None or load < best[0]:
            best = (load, p50, settings)
        if load <= DISTURBED_CORES:
            break
        if attempt < MAX_TRIES:
            print(f"{'':<40} disturbed by other processes: measuring again", flush=True)
    assert best is not None
    slot.loads.append(best[0])
    slot.p50s.append(best[1])
    slot.settings = best[2]


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="timm:resnet18", help="hwfit model spec")
    parser.add_argument("--threads", type=int, default=2, help="threads for every runtime")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measurement")
    parser.add_argument("--rounds", type=int, default=2, help="A/B rounds (order alternates)")
    parser.add_argument("--_reference", dest="ref", help=argparse.SUPPRESS)
    parser.add_argument("--_target", dest="target", help=argparse.SUPPRESS)
    parser.add_argument("--_shape", dest="shape", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    if args.ref:
        return _reference_main(args)

    import hwfit
    from hwfit.models.convert import to_onnx, to_openvino

    artifact = hwfit.load_model(args.model)
    spec = artifact.info.input.with_batch(1)
    shape = list(spec.shape)
    onnx_path, _ = to_onnx(artifact, spec)
    xml_path, _ = to_openvino(artifact, spec)
    targets = {"onnxruntime": str(onnx_path), "openvino": str(xml_path), "torch": args.model}
    rows = list(ROWS)
    if not args.model.startswith(("timm:", "torchvision:")):
        rows = [r for r in rows if r.reference != "torch"]
        print(f"note: no independent PyTorch reference for {args.model!r}; torch row left out")

    print(
        f"model {args.model}  input {'x'.join(map(str, shape))}  threads {args.threads}  "
        f"duration {args.duration:g} s  rounds {args.rounds}"
    )
    print(
        f"hwfit {_version('hwfit')}, torch {_version('torch')}, timm {_version('timm')}, "
        f"onnxruntime {_version('onnxruntime')}, openvino {_version('openvino')}"
    )
    print(f"ONNX file {onnx_path}\nOpenVINO IR {xml_path}\n")

    hw = {r.label: Measured() for r in rows}
    ref = {r.reference: Measured() for r in rows}
    groups: dict[str, list[Row]] = {}
    for r in rows:
        groups.setdefault(r.reference, []).append(r)

    start = time.perf_counter()
    for rnd in range(args.rounds):
        for name, members in groups.items():
            order: list[Row | str] = [*members, name]
            if rnd % 2:
                order.reverse()
            for item in order:
                if isinstance(item, Row):
                    slot, what = hw[item.label], f"hwfit {item.label}"
                    measure = functools.partial(
                        run_hwfit, args.model, item, args.threads, args.duration
                    )
                else:
                    slot, what = ref[item], f"reference {item}"
                    measure = functools.partial(
                        run_reference, item, targets[item], shape, args.threads, args.duration
                    )
                if slot.error is None:
                    _measure(measure, slot, f"round {rnd + 1}: {what}")
    print(f"\n({time.perf_counter() - start:.0f} s of measurements)\n")
    return _table(rows, hw, ref)


def _table(rows: list[Row], hw: dict[str, Measured], ref: dict[str, Measured]) -> int:
    head = (
        "runtime",
        "hwfit p50 ms",
        "ref p50 ms",
        "hwfit/ref",
        "within 10%",
        "quiet rounds hw, ref",
        "hwfit executed",
    )
    lines: list[tuple[str, ...]] = []
    ok = True
    for r in rows:
        a, b = hw[r.label].p50, ref[r.reference].p50
        if a is None or b is None:
            ok = False
            lines.append((r.label, _fmt(a), _fmt(b), "-", "FAILED", "-", "-"))
            continue
        ratio = a / b
        within = abs(ratio - 1) <= TOLERANCE
        ok &= within
        h, f = hw[r.label], ref[r.reference]
        noisy = not h.quiet or not f.quiet  # a median of disturbed runs only: not evidence
        ok &= not noisy
        mark = ("yes" if within else "NO") + (" (noisy)" if noisy else "")
        rounds = f"{len(h.quiet)}/{len(h.p50s)}, {len(f.quiet)}/{len(f.p50s)}"
        lines.append((r.label, f"{a:.3f}", f"{b:.3f}", f"{ratio:.3f}", mark, rounds, h.settings))
    widths = [max(len(x[i]) for x in [head, *lines]) for i in range(len(head))]
    for line in [head, tuple("-" * w for w in widths), *lines]:
        cells = (
            c.ljust(w) if i in (0, len(head) - 1) else c.rjust(w)
            for i, (c, w) in enumerate(zip(line, widths, strict=True))
        )
        print("  ".join(cells).rstrip())
    print("\nwhat ran (hwfit: executed, read back from the runtime; reference: its own settings)")
    for r in rows:
        print(f"  {r.label:<23} hwfit: {hw[r.label].error or hw[r.label].settings}")
    for name, m in ref.items():
        print(f"  {name:<23} ref:   {m.error or m.settings}")
    kept = {r.label: hw[r.label] for r in rows} | {f"ref {k}": m for k, m in ref.items()}
    print("\nper-round p50 ms kept [other processes' load, cores]:")
    for key, m in kept.items():
        cells = (f"{v:.3f} [{load:.2f}]" for v, load in zip(m.p50s, m.loads, strict=True))
        print(f"  {key:<23} {' / '.join(cells)}")
    verdict = "PASS: every" if ok else "FAIL: not every"
    print(
        f"\nratios use the median over quiet rounds (other processes <= {DISTURBED_CORES} cores);"
        f"\n{verdict} hwfit median is within {TOLERANCE:.0%} of its reference"
    )
    return 0 if ok else 1


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


if __name__ == "__main__":
    sys.exit(main())
