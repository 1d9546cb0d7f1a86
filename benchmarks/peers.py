"""Is hwfit's artifact faster than each peer's own way of running the model? (issue 14)

Per model, in one run on this machine:

1. ``hwfit.optimize`` picks its winner (ONNX Runtime and OpenVINO, every precision with a
   recipe) within the accuracy budget and writes the artifact; ``hwfit.load`` runs it.
2. The peers are made with each tool's own defaults and nothing from hwfit: PyTorch eager;
   ``torch.compile`` (inductor, freezing on); PyTorch PT2E INT8 (torchao
   ``X86InductorQuantizer``, default config, compiled with freezing); ONNX Runtime FP32 and
   INT8 QDQ (``quantize_static`` defaults) on a plain ``torch.onnx.export(..., dynamo=False)``;
   OpenVINO on that ONNX file with the LATENCY hint at its default precision (BF16 where the
   CPU has it), with ``INFERENCE_PRECISION_HINT=f32``, and INT8 through ``nncf.quantize``
   defaults. INT8 peers calibrate on the same images as hwfit.
3. Every contender runs in a process of its own (``--serve``), as ``plain_reference.py``'s
   plain loops do: one process's worker threads cannot spin on the cores while another is
   timed. The processes wait on a pipe; each round asks each of them in turn (the order
   alternating) for a block of timed runs, after a short pause, and keeps the block's median.
   A peer's ratio in a round is its median over hwfit's; printed: each peer's median latency,
   hwfit's speed over it as the median ratio with its distribution-free 95% interval
   (``plain_reference.median_interval``), "noisy" where it is wider than +-5%.
4. Accuracy: every contender is evaluated on the validation images in its process (top-1 with
   trained weights; agreement with PyTorch FP32 with random weights). A peer whose drop exceeds
   the budget is out of the "best peer" comparison, as hwfit's own candidates are.

With random weights the budget defaults to 100 points (speed only: the agreement of
random-weight INT8 models with FP32 says nothing about trained ones); ``--trained`` adds a
timm MobileNetV3 trained here on CIFAR-10 at 64 px (an ONNX file, as a user brings it) at a
1-point top-1 budget.

``--objective throughput``: hwfit optimizes for samples/s (it chooses the batch among 1 and 8,
OpenVINO candidates run with the THROUGHPUT hint) and its artifact runs through ``predict``;
each peer runs at ``--peer-batch`` (default 1, as the tools' own benchmark apps do) its own
throughput way: OpenVINO with the THROUGHPUT hint and an ``AsyncInferQueue``, the others one
batch after another. Every contender's timed call is the same ``--workload`` samples, so the
ratios are of time per sample; samples/s are printed.

Acceptance (issue 14): hwfit / best peer >= 1.00 on each model and >= 1.10 geomean, for both
objectives.

Run it by hand, alone on the machine (not under pytest)::

    python benchmarks/peers.py --models resnet18,efficientnet_b0
    python benchmarks/peers.py --only-trained
    python benchmarks/peers.py --objective throughput --models mobilenetv3_large_100
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import json
import logging
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from optimize_speedup import cifar_subset
from plain_reference import _SERVER_HEAD, _Server, median_interval

MODELS = (
    "resnet18",
    "resnet50",
    "efficientnet_b0",
    "efficientnet_b2",
    "mobilenetv3_large_100",
    "regnety_016",
    "convnext_atto",
    "fastvit_t8",
)
NOISY_REL = 0.05
PAUSE_S = 0.1


@dataclasses.dataclass(frozen=True)
class Spec:
    """One contender, as its server process builds it: a kind and the files it needs."""

    name: str
    kind: str  # torch | torch-compile | torch-pt2e | onnxruntime | openvino | hwfit
    path: str = ""  # model file (ONNX, IR) or hwfit's output folder
    config: dict[str, Any] = dataclasses.field(default_factory=dict)  # OpenVINO's
    workload: int = 0  # throughput: samples per timed call (0: latency, one call of a batch)
    batch: int = 1  # the batch the peer's model runs at


@dataclasses.dataclass(frozen=True)
class Row:
    name: str
    ms: float
    ratio: float
    low: float
    high: float
    accuracy: float | None
    within_budget: bool
    note: str

    @property
    def noisy(self) -> bool:
        return self.high / self.ratio - 1 > NOISY_REL or 1 - self.low / self.ratio > NOISY_REL


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """The tools' own chatter (progress bars, warnings) off while models are built."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        root.setLevel(level)


# -- the server side: build one contender, evaluate it, then time blocks on request ---------


def _torch_module(work: Path) -> Any:
    import timm
    import torch

    meta = json.loads((work / "torch_model.json").read_text())
    module = timm.create_model(meta["name"], num_classes=meta["num_classes"]).eval()
    module.load_state_dict(torch.load(work / "torch_model.pt", weights_only=True))
    return module


def _build(spec: Spec, work: Path, threads: int) -> tuple[Callable[[], Any], Callable[..., Any]]:
    """``(run on the bound input, predict one batch)`` for ``spec``.

    With ``spec.workload`` (the throughput objective) one run is ``workload`` samples: batches
    of ``spec.batch`` one after another, through an ``AsyncInferQueue`` for OpenVINO (its
    throughput way) and ``hwfit.load``'s ``predict`` for hwfit (its batch, its hint).
    """
    data = np.load(work / "inputs.npz")
    x = data["x"]
    if spec.workload:
        x = np.ascontiguousarray(np.repeat(x[:1], spec.batch, axis=0))
        calls = spec.workload // spec.batch
    if spec.kind.startswith("torch"):
        import torch
        import torch._inductor.config as inductor

        torch.set_num_threads(threads)
        inductor.freezing = True
        module = _torch_module(work)
        xt = torch.from_numpy(x)
        with torch.no_grad():
            if spec.kind == "torch-compile":
                module = torch.compile(module)
            elif spec.kind == "torch-pt2e":
                module = _pt2e(module, xt, data["calib"])
            module(xt)

        def run() -> Any:
            with torch.inference_mode():
                for _ in range(calls if spec.workload else 1):
                    out = module(xt)
                return out

        def predict(batch: np.ndarray) -> np.ndarray:
            with torch.inference_mode():
                return module(torch.from_numpy(batch)).float().numpy()

        return run, predict
    if spec.kind == "onnxruntime":
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.log_severity_level = 3
        session = ort.InferenceSession(spec.path, options, providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name

        def run_ort() -> Any:
            for _ in range(calls if spec.workload else 1):
                out = session.run(None, {name: x})
            return out

        return run_ort, (lambda b: session.run(None, {name: b})[0])
    if spec.kind == "openvino":
        import openvino as ov

        compiled = ov.Core().compile_model(spec.path, "CPU", spec.config)
        request = compiled.create_infer_request()
        request.set_input_tensor(ov.Tensor(x))
        other = compiled.create_infer_request()

        def predict(b: np.ndarray) -> np.ndarray:
            return np.array(other.infer({0: b})[0])

        if not spec.workload:
            return request.infer, predict
        queue = ov.AsyncInferQueue(
            compiled, compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")
        )
        for req in queue:
            req.set_input_tensor(ov.Tensor(x))

        def run_queue() -> None:
            for _ in range(calls):
                queue.start_async()
            queue.wait_all()

        return run_queue, predict
    if spec.kind == "hwfit":
        import hwfit

        predictor = hwfit.load(spec.path)
        if not spec.workload:
            return predictor.runner(x), predictor.predict
        bound = np.repeat(x[:1], predictor.batch, axis=0)
        call, samples = predictor.throughput_runner(bound)  # its batch, its hint
        if spec.workload % samples:
            raise SystemExit(f"--workload must be a multiple of hwfit's {samples} samples a call")

        def run_hwfit() -> None:
            for _ in range(spec.workload // samples):
                call()

        return run_hwfit, predictor.predict
    raise SystemExit(f"unknown contender kind {spec.kind!r}")


def _pt2e(module: Any, xt: Any, calib: np.ndarray) -> Any:
    import torch
    import torchao.quantization.pt2e.quantizer.x86_inductor_quantizer as xiq
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    exported = torch.export.export(module, (xt,)).module()
    quantizer = xiq.X86InductorQuantizer()
    quantizer.set_global(xiq.get_default_x86_inductor_quantization_config())
    prepared = prepare_pt2e(exported, quantizer)
    for sample in calib:
        prepared(torch.from_numpy(sample[None]))
    return torch.compile(convert_pt2e(prepared))


def serve(spec_json: str, work: str, threads: int) -> None:
    """The ``--serve`` process: build, write the validation outputs, answer block requests."""
    spec = Spec(**json.loads(spec_json))
    folder = Path(work)
    with quiet():
        run, predict = _build(spec, folder, threads)
        val = np.load(folder / "inputs.npz")["val"]
        outputs = np.concatenate([np.asarray(predict(s[None]), dtype=np.float32) for s in val])
    np.save(folder / f"outputs_{os.getpid()}.npy", outputs)
    namespace: dict[str, Any] = {}
    exec(_SERVER_HEAD, namespace)  # plain_reference's loop: warm up, "ready", timed blocks
    namespace["serve"](run)


# -- the client side --------------------------------------------------------------------------


class Server(_Server):
    """One contender's process (``block`` and ``close`` as plain_reference's loops)."""

    def __init__(self, spec: Spec, work: Path, threads: int) -> None:
        self.spec = spec
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--serve", json.dumps(dataclasses.asdict(spec)),
             "--work", str(work), "--threads", str(threads)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, start_new_session=True,
        )  # fmt: skip
        self.outputs_path = work / f"outputs_{self.proc.pid}.npy"

    def ready(self) -> bool:  # type: ignore[override]
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        if line != "ready":
            print(f"  {self.spec.name}: did not start (exit {self.proc.wait()})")
            return False
        return True


def export_onnx(module: Any, shape: tuple[int, ...], path: Path, dynamic: bool = False) -> Path:
    """The plain export a user makes: the TorchScript exporter, static shape (or batch)."""
    import torch

    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            (torch.zeros(shape),),
            str(path),
            dynamo=False,
            opset_version=18,
            input_names=["input"],
            output_names=["output"],
            dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}} if dynamic else None,
        )
    return path


def peer_files(onnx: Path, calib: np.ndarray, work: Path) -> tuple[Path, Path, Path]:
    """ONNX Runtime INT8 QDQ, OpenVINO FP32 IR and OpenVINO INT8 IR, each tool's defaults."""
    import nncf
    import openvino as ov
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, quantize_static

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._items = iter([{"input": s[None]} for s in calib])

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self._items, None)

    ort_int8 = work / "ort_int8.onnx"
    ov_fp32, ov_int8 = work / "ov_fp32.xml", work / "ov_int8.xml"
    with quiet():
        quantize_static(str(onnx), str(ort_int8), Reader(), quant_format=QuantFormat.QDQ)
        model = ov.convert_model(str(onnx))
        ov.save_model(model, str(ov_fp32), compress_to_fp16=False)
        int8 = nncf.quantize(model, nncf.Dataset([s[None] for s in calib]))
        ov.save_model(int8, str(ov_int8))
    return ort_int8, ov_fp32, ov_int8


def optimize_with_hwfit(
    model: str, data: Path, out: Path, budget: str, duration: float, **extra: Any
) -> str:
    """Run ``hwfit.optimize``; print its candidates; return the winner's label."""
    import hwfit

    result = hwfit.optimize(
        model, str(data), out=out, max_accuracy_drop=budget, duration_s=duration, save=False,
        **extra,
    )  # fmt: skip
    for key in ("pruned_channels", "macs", "fine_tune"):
        for o in result.outcomes:
            if o.candidate.source and key in o.prepare_details:
                print(f"    {o.candidate.source}: {key} {o.prepare_details[key]}")
                break
    for o in result.outcomes:
        speed = o.bench.speedup.text() if o.bench and o.bench.speedup else "-"
        p50 = f"{o.p50_ms:.3f} ms" if o.p50_ms is not None else "-"
        print(f"    {o.candidate.label:38s} {o.state.value:9s} {p50:>10s} {speed:22s}")
        if o.accuracy and o.metric:
            print(f"      {o.metric} {o.accuracy[o.metric]:.1f} (drop {o.drop:+.1f})")
        if "variants_us" in o.prepare_details:
            print(
                f"      variants timed by int8-selective (us): {o.prepare_details['variants_us']}"
            )
    if result.knobs is not None:  # the winner's runtime settings, tuned paired vs defaults
        for trial in result.knobs.trials:
            ratio = trial.ratio.text() if trial.ratio else "-"
            print(f"    knobs {trial.label:60s} {ratio:22s} {trial.verdict}")
        print(f"    knobs kept: {dict(result.knobs.chosen) or 'the defaults'}")
    if result.winner is None:
        raise SystemExit(f"{model}: hwfit found no candidate within the budget")
    w = result.winner
    kept = w.prepare_details.get("kept_in_float")
    executed = w.bench.executed.precision if w.bench and w.bench.executed else "?"
    source = f" {w.candidate.source}" if w.candidate.source else ""
    if w.candidate.batch > 1:
        source += f" batch {w.candidate.batch}"
    return f"{w.candidate.runtime} {w.candidate.precision}{source} (executed {executed}" + (
        f"; kept in float: {kept})" if kept else ")"
    )


def run_model(
    spec: str,
    module: Any,
    data: Path,
    args: argparse.Namespace,
    labelled: bool,
    hwfit_spec: str | None = None,
    **hwfit_extra: Any,
) -> tuple[str, list[Row]]:
    """Optimize ``spec``, make the peers, time everyone in their own processes.

    ``hwfit_spec`` (with ``hwfit_extra`` for ``hwfit.optimize``) is what hwfit is given when
    it differs from the peers' ``spec``: the PyTorch model and its weights, which it can prune.
    """
    import torch

    from hwfit.accuracy import load_dataset, preprocess_for
    from hwfit.models import load_model

    source = load_model(spec)
    pre = preprocess_for(source, source.info.input.shape)
    dataset = load_dataset(str(data), pre)
    calib = dataset.x[: args.calib]
    val = dataset.x[args.calib : args.calib + args.val]
    val_y = dataset.y[args.calib : args.calib + args.val] if labelled else None
    shape = tuple(source.info.input.shape)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        print(f"\n== {spec} {shape}: hwfit optimize ...", flush=True)
        torch.save(module.state_dict(), work / "torch_model.pt")
        if spec.startswith("timm:"):  # hwfit gets the peers' random weights, not its own
            hwfit_extra = {"weights": str(work / "torch_model.pt"), **hwfit_extra}
        start = time.monotonic()
        label = optimize_with_hwfit(
            hwfit_spec or spec, data, work / "out", args.budget, args.duration,
            objective=args.objective, **hwfit_extra,
        )  # fmt: skip
        print(f"  hwfit chose {label} in {time.monotonic() - start:.0f} s; making the peers ...")
        np.savez(work / "inputs.npz", x=calib[:1], calib=calib[: args.peer_calib], val=val)
        (work / "torch_model.json").write_text(
            json.dumps({"name": args.arch_of[spec], "num_classes": args.classes_of[spec]})
        )
        peer_shape = (args.peer_batch, *shape[1:]) if args.objective == "throughput" else shape
        onnx = export_onnx(module, peer_shape, work / "plain.onnx")
        ort_int8, ov_fp32, ov_int8 = peer_files(onnx, calib[: args.peer_calib], work)
        hint = "THROUGHPUT" if args.objective == "throughput" else "LATENCY"
        ov_hint = {"PERFORMANCE_HINT": hint}
        # throughput: every contender's timed call is the same number of samples
        each = {"workload": args.workload, "batch": args.peer_batch} if args.workload else {}
        specs = [
            Spec(f"hwfit: {label}", "hwfit", str(work / "out"), workload=args.workload),
            Spec("torch eager fp32", "torch", **each),
            Spec("torch.compile fp32 (inductor, freezing)", "torch-compile", **each),
            Spec("torch PT2E int8 (torchao x86 inductor)", "torch-pt2e", **each),
            Spec("onnxruntime fp32", "onnxruntime", str(onnx), **each),
            Spec("onnxruntime int8 QDQ (defaults)", "onnxruntime", str(ort_int8), **each),
            Spec(f"openvino default ({hint} hint)", "openvino", str(ov_fp32), ov_hint, **each),
            Spec(
                "openvino f32",
                "openvino",
                str(ov_fp32),
                {**ov_hint, "INFERENCE_PRECISION_HINT": "f32"},
                **each,
            ),
            Spec(
                "openvino int8 (nncf.quantize defaults)", "openvino", str(ov_int8), ov_hint, **each
            ),
        ]
        servers = []
        for s in specs:  # one at a time: building (compiling, quantizing) is not timed
            server = Server(s, work, args.threads)
            if server.ready():
                servers.append(server)
            elif s.kind == "hwfit":
                raise SystemExit("hwfit's artifact did not load")
        try:
            print(f"  timing {len(servers)} processes, {args.rounds} rounds ...", flush=True)
            blocks: list[list[float]] = [[] for _ in servers]
            for r in range(args.rounds):
                order = range(len(servers)) if r % 2 == 0 else reversed(range(len(servers)))
                for i in order:
                    time.sleep(PAUSE_S)
                    blocks[i].append(servers[i].block(args.block))
            outputs = [np.load(s.outputs_path) for s in servers]
        finally:
            for server in servers:
                server.close()
    names = [s.spec.name for s in servers]
    reference = outputs[names.index("torch eager fp32")]
    target = val_y if val_y is not None else reference.argmax(1)
    accuracy = [float((o.argmax(1) == target).mean() * 100) for o in outputs]
    base = accuracy[names.index("torch eager fp32")]
    allowed = float(args.budget)
    rows = []
    for i in range(1, len(servers)):
        ratios = [p / h for p, h in zip(blocks[i], blocks[0], strict=True)]
        low, high = median_interval(ratios)
        ok = base - accuracy[i] <= allowed + 1e-9
        note = json.dumps(servers[i].spec.config) if servers[i].spec.config else ""
        rows.append(
            Row(names[i], statistics.median(blocks[i]), statistics.median(ratios), low, high,
                accuracy[i], ok, note)
        )  # fmt: skip
    metric = "top-1" if val_y is not None else "agreement"
    unit = "samples/s" if args.workload else "ms"

    def shown(ms: float) -> float:  # throughput: one timed call is args.workload samples
        return args.workload * 1000 / ms if args.workload else ms

    print(
        f"  {names[0]}: {shown(statistics.median(blocks[0])):.3f} {unit}, {metric} "
        f"{accuracy[0]:.1f} (PyTorch FP32 {base:.1f})"
    )
    if base - accuracy[0] > allowed + 1e-9:
        print("  hwfit's artifact is over the budget on these images")
    print(f"  {'peer':42s} {unit:>9s} {metric:>9s}  hwfit speed vs peer")
    for r in rows:
        flag = "" if r.within_budget else "  (over budget: not a best-peer candidate)"
        print(
            f"  {r.name:42s} {shown(r.ms):9.3f} {r.accuracy:9.1f}  {r.ratio:.3f}x "
            f"[{r.low:.3f}-{r.high:.3f}]{' noisy' if r.noisy else ''}{flag}"
        )
    return label, rows


def best_peer(rows: list[Row]) -> Row | None:
    eligible = [r for r in rows if r.within_budget]
    return min(eligible, key=lambda r: r.ms) if eligible else None


def train_cifar(data: Path, out: Path, epochs: int, dynamic: bool = False) -> tuple[Any, Path]:
    """A timm MobileNetV3 (10 classes) trained here on CIFAR-10 at 64 px, exported to ONNX.

    Beside the ONNX file: ``cifar_mnv3.py`` (a factory) and ``cifar_mnv3.pt`` (its state dict),
    the PyTorch model hwfit is given with ``--prune-trained``.
    """
    import timm
    import torch
    from PIL import Image

    torch.manual_seed(0)
    files = sorted(data.glob("*/*.jpg"))
    classes = sorted({f.parent.name for f in files})
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])

    def load(f: Path) -> np.ndarray:
        a = np.asarray(Image.open(f).convert("RGB").resize((64, 64), Image.BICUBIC)) / 255.0
        return ((a - mean) / std).transpose(2, 0, 1).astype(np.float32)

    x = torch.from_numpy(np.stack([load(f) for f in files]))
    y = torch.tensor([classes.index(f.parent.name) for f in files])
    model = timm.create_model("mobilenetv3_large_100", num_classes=10)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.05)
    model.train()
    for epoch in range(epochs):
        perm = torch.randperm(len(x))
        for i in range(0, len(x), 64):
            idx = perm[i : i + 64]
            xb = x[idx].flip(3) if torch.rand(()) < 0.5 else x[idx]
            loss = torch.nn.functional.cross_entropy(model(xb), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        print(f"  epoch {epoch + 1}/{epochs}: last batch loss {loss.item():.2f}", flush=True)
    model.eval()
    torch.save(model.state_dict(), out.with_suffix(".pt"))
    out.with_suffix(".py").write_text(
        "import timm\n\n\ndef model():\n"
        "    m = timm.create_model('mobilenetv3_large_100', num_classes=10)\n"
        "    # trained at 64 px: the config says so (hwfit reads the input size from it)\n"
        "    m.pretrained_cfg = {**m.pretrained_cfg, 'input_size': (3, 64, 64),\n"
        "                        'crop_pct': 1.0, 'interpolation': 'bilinear'}\n"
        "    return m\n"
    )
    return model, export_onnx(model, (1, 3, 64, 64), out, dynamic)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--data", default=None, help="image folder (default: CIFAR-10 subset)")
    parser.add_argument("--budget", default=None, help="points (default 100 random, 1 trained)")
    parser.add_argument("--trained", action="store_true", help="also a CIFAR-trained model")
    parser.add_argument("--only-trained", action="store_true")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument(
        "--prune-trained",
        action="store_true",
        help="give hwfit the trained model as PyTorch with --train-data (it may prune it)",
    )
    parser.add_argument("--calib", type=int, default=100)
    parser.add_argument("--peer-calib", type=int, default=100)
    parser.add_argument("--val", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--block", type=float, default=0.5)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument(
        "--objective",
        choices=("latency", "throughput"),
        default="latency",
        help="throughput: hwfit optimizes for samples/s (it chooses the batch; OpenVINO with "
        "its THROUGHPUT hint); peers run at --peer-batch with their own throughput way",
    )
    parser.add_argument("--peer-batch", type=int, default=1, help="throughput: the peers' batch")
    parser.add_argument(
        "--workload", type=int, default=32, help="throughput: samples in one timed call"
    )
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.objective == "latency":
        args.workload = 0
    elif args.workload % args.peer_batch:
        parser.error("--workload must be a multiple of --peer-batch")
    if args.serve:
        serve(args.serve, args.work, args.threads)
        return 0

    import timm

    from hwfit.hardware import probe

    cpu = probe(include_runtimes=False).cpu
    print(
        f"CPU: {cpu.brand} ({cpu.physical_cores} cores, {args.threads} threads used); "
        f"ISA: {', '.join(cpu.features)}"
    )
    tmp = Path(tempfile.mkdtemp(prefix="hwfit-peers-"))
    data = Path(args.data) if args.data else cifar_subset(tmp / "cifar", 30)
    args.arch_of, args.classes_of = {}, {}
    results: list[tuple[str, str, Row | None]] = []
    models = [] if args.only_trained else [m for m in args.models.split(",") if m]
    for name in models:
        module = timm.create_model(name, pretrained=False).eval()
        spec = f"timm:{name}"
        args.arch_of[spec], args.classes_of[spec] = name, 1000
        run_args = argparse.Namespace(**{**vars(args), "budget": args.budget or "100"})
        label, rows = run_model(spec, module, data, run_args, labelled=False)
        results.append((name, label, best_peer(rows)))
    if args.trained or args.only_trained:
        print("\n== training a MobileNetV3 on CIFAR-10 (64 px) for the 1-point budget ...")
        train = cifar_subset(tmp / "cifar-train", 500, split="train")
        # throughput: a dynamic batch, so hwfit may choose one (a fixed one it would keep)
        dynamic = args.objective == "throughput"
        module, onnx = train_cifar(train, tmp / "cifar_mnv3.onnx", args.epochs, dynamic)
        args.arch_of[str(onnx)], args.classes_of[str(onnx)] = "mobilenetv3_large_100", 10
        run_args = argparse.Namespace(**{**vars(args), "budget": args.budget or "1"})
        extra: dict[str, Any] = {}
        if args.prune_trained:  # hwfit gets the PyTorch model, its weights and the train images
            sys.path.insert(0, str(onnx.parent))
            extra = {
                "hwfit_spec": "cifar_mnv3:model", "weights": str(onnx.with_suffix(".pt")),
                "trust_model": True, "train_data": str(train),
            }  # fmt: skip
        label, rows = run_model(str(onnx), module, data, run_args, labelled=True, **extra)
        results.append(("cifar mobilenetv3 (trained)", label, best_peer(rows)))
    return summary(results, args.objective)


def summary(results: list[tuple[str, str, Row | None]], objective: str) -> int:
    print(f"\n== hwfit vs the best peer within the budget, per model ({objective})")
    ratios = []
    for name, label, best in results:
        if best is None:
            print(f"  {name:28s} hwfit {label}: no peer within the budget")
            continue
        ratios.append(best.ratio)
        verdict = "ok" if best.ratio >= 1.0 else "BELOW"
        print(
            f"  {name:28s} vs {best.name:40s} {best.ratio:.3f}x "
            f"[{best.low:.3f}-{best.high:.3f}] {verdict}  (hwfit: {label})"
        )
    if not ratios:
        return 1
    geomean = math.exp(sum(math.log(r) for r in ratios) / len(ratios))
    each = all(r >= 1.0 for r in ratios)
    print(
        f"\nGeomean hwfit / best peer: {geomean:.3f}x over {len(ratios)} models "
        f"(target >= 1.10); every model >= 1.00: {'yes' if each else 'no'}"
    )
    return 0 if each and geomean >= 1.10 else 1


if __name__ == "__main__":
    sys.exit(main())
