"""``hwfit.load(OUT)``: run an optimized artifact with exactly the recorded settings.

An artifact folder is data that travels (to production, between teams): loading one reads its
``hwfit.json`` against the schema and opens only an ONNX file or an OpenVINO IR that lies
inside the folder, never a PyTorch file (which could run code when loaded).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from hwfit.accuracy import Preprocess, load_image
from hwfit.artifacts.manifest import Manifest, inside, read_manifest
from hwfit.errors import InputShapeError, ModelSourceError
from hwfit.models import load_model
from hwfit.models.detection import DetectionDecoder, Detections
from hwfit.records import RunConfig
from hwfit.runtimes import get_runtime

if TYPE_CHECKING:
    from hwfit.runtimes.base import CompiledModel

__all__ = ["Predictor", "load"]


#: OpenVINO settings an artifact records and is run with, as measured: the float precision of
#: an INT8 model's non-quantized layers is the measuring CPU's fast float, which another CPU's
#: would not be; the performance hint is THROUGHPUT when optimize chose for throughput
#: (``predict`` then keeps every stream busy with an asynchronous queue).
_RECORDED = {
    "INFERENCE_PRECISION_HINT": ("f32", "bf16", "f16"),
    "PERFORMANCE_HINT": ("LATENCY", "THROUGHPUT"),
}


class Predictor:
    """A compiled artifact plus its preprocessing: ``predict`` arrays, ``classify`` images.

    Built by :func:`load`; it compiles the model with hwfit's own runtime plug-in and the
    manifest's runtime options (threads, precision hint, batch), the same code path that
    measured it.
    """

    def __init__(
        self,
        folder: Path,
        manifest: Manifest,
        compiled: CompiledModel,
        decoder: DetectionDecoder | None = None,
    ) -> None:
        self.folder = folder
        self.manifest = manifest
        self._compiled = compiled
        self.batch = int(manifest.runtime_options["batch"])
        self.input_shape = tuple(manifest.input["shape"])
        self.decoder = decoder  # a detector's post-processing (see detect)

    @property
    def is_detector(self) -> bool:
        """The artifact is a detector: :meth:`detect` gives boxes, scores and labels."""
        return self.decoder is not None

    def predict(self, x: np.ndarray) -> np.ndarray | tuple[np.ndarray, ...]:
        """Return the model's outputs for preprocessed inputs ``(N, C, H, W)``, any N.

        One array for a model with one output; a tuple of arrays, in the model's order, for a
        model with several (a detector's raw boxes and scores, say).
        """
        x = np.asarray(x, dtype=np.float32)
        if x.shape[1:] != self.input_shape[1:]:
            raise InputShapeError(
                f"Input of shape {x.shape} does not fit the model's {self.input_shape}.",
                hint="Preprocess images with Predictor.preprocess (or classify()).",
            )
        outputs = self._compiled.infer_all_outputs(x, self.batch)  # the artifact's static batch
        return outputs[0] if len(outputs) == 1 else outputs

    def runner(self, x: np.ndarray) -> Callable[[], None]:
        """Bind one input batch of the artifact's shape once; return a call that runs it.

        For timing loops: the call runs one inference on the bound input, with no copy and no
        checks (what ``optimize`` timed). Use :meth:`predict` to get outputs.

        Raises:
            InputShapeError: ``x`` is not one batch of the model's input shape.
        """
        x = np.ascontiguousarray(x, dtype=np.float32)
        if x.shape != self.input_shape:
            raise InputShapeError(
                f"Input of shape {x.shape} is not one batch of the model's {self.input_shape}."
            )
        self._compiled.bind(x)
        return self._compiled.run

    def throughput_runner(self, x: np.ndarray) -> tuple[Callable[[], None], int]:
        """Bind one input batch; return a call that runs it the throughput way, and its samples.

        What ``optimize --objective throughput`` timed: with OpenVINO's THROUGHPUT hint the
        call keeps every stream busy through an asynchronous queue; otherwise it runs one
        inference. For timing loops (divide the call's time by the samples); outputs come from
        :meth:`predict`.

        Raises:
            InputShapeError: ``x`` is not one batch of the model's input shape.
        """
        self.runner(x)  # the shape check, and the bound input of the one-inference path
        return self._compiled.throughput_runner(np.ascontiguousarray(x, dtype=np.float32))

    def self_check(self, atol: float = 1e-3) -> float:
        """Run the shipped check inputs and compare with the outputs measured by optimize.

        Returns:
            The largest absolute difference.

        Raises:
            ModelSourceError: No check file, or outputs that differ by more than ``atol``.
        """
        name = self.manifest.accuracy.get("self_check")
        path = inside(self.folder, name, "self_check") if isinstance(name, str) else None
        if path is None or path.suffix != ".npz" or not path.is_file():
            raise ModelSourceError(f"No self-check data in {str(self.folder)!r}.")
        data = np.load(path, allow_pickle=False)
        diff = float(np.max(np.abs(_first(self.predict(data["x"])) - data["outputs"])))
        if diff > atol:
            raise ModelSourceError(
                f"The artifact's outputs differ from those measured by optimize by {diff:.3g} "
                f"(> {atol}).",
                hint="The runtime or its settings differ from the ones in hwfit.json.",
            )
        return diff

    def preprocess(self, image_paths: Sequence[str | Path]) -> np.ndarray:
        """Load and preprocess images the way the model was evaluated."""
        pre = Preprocess.from_dict(self.manifest.input["preprocess"])
        return np.stack([pre.apply(load_image(Path(p))) for p in image_paths])

    def detect(self, image_paths: Sequence[str | Path]) -> list[Detections]:
        """Each image's detections (boxes in its own pixels, scores, labels), highest first.

        The model runs as it was measured; its post-processing (the manifest's
        ``postprocess``) runs after it, as ``optimize`` scored it.

        Raises:
            ModelSourceError: The artifact is not a detector.
        """
        if self.decoder is None:
            raise ModelSourceError(
                f"{str(self.folder)!r} holds a model without a detector's post-processing.",
                hint="Use classify() or predict() for it.",
            )
        pre = Preprocess.from_dict(self.manifest.input["preprocess"])
        images = [load_image(Path(p)) for p in image_paths]
        x = np.stack([pre.apply(image) for image in images])
        outputs = self.predict(x)
        outputs = outputs if isinstance(outputs, tuple) else (outputs,)
        sizes = [(image.height, image.width) for image in images]
        return self.decoder.decode(outputs, sizes)

    def classify(
        self, image_paths: Sequence[str | Path], top_k: int = 5
    ) -> list[list[tuple[str, float]]]:
        """Top-k ``(class, probability)`` per image (class indices when no names are known).

        Raises:
            ModelSourceError: The artifact is a detector (use :meth:`detect`).
        """
        if self.decoder is not None:
            raise ModelSourceError(
                f"{str(self.folder)!r} holds a detector: it finds boxes, not one class per image.",
                hint="Use detect() (hwfit predict prints its boxes).",
            )
        logits = _first(self.predict(self.preprocess(image_paths)))
        shifted = logits - logits.max(axis=1, keepdims=True)
        probs = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
        names = self.manifest.classes
        results = []
        for row in probs:
            top = np.argsort(-row)[:top_k]
            results.append(
                [(names[i] if i < len(names) else str(int(i)), float(row[i])) for i in top]
            )
        return results


def _first(outputs: np.ndarray | tuple[np.ndarray, ...]) -> np.ndarray:
    """The first output (the one the self-check and ``classify`` read)."""
    return outputs[0] if isinstance(outputs, tuple) else outputs


def load(folder: str | Path) -> Predictor:
    """Load an ``optimize`` output folder as a :class:`Predictor`.

    Only an ONNX file or an OpenVINO IR inside ``folder`` is loaded (see the module docstring).

    Raises:
        ModelSourceError: No manifest, one that breaks the schema, or a model file that is
            missing, outside the folder, or not one the manifest's runtime runs.
        PluginUnavailableError: The runtime it needs is not installed.
    """
    folder = Path(folder)
    manifest = read_manifest(folder)
    model_path = manifest.model_path(folder)
    runtime_cls = get_runtime(manifest.runtime)
    if manifest.model_kind not in runtime_cls.accepts:
        raise ModelSourceError(
            f"The manifest of {str(folder)!r} runs {manifest.model_file!r} on "
            f"{manifest.runtime}, which does not run {manifest.model_kind} files.",
            hint="Point to a folder `hwfit optimize --out` wrote, with its hwfit.json as written.",
        )
    Preprocess.from_dict(manifest.input["preprocess"])  # a bad record fails now, not per image
    options = manifest.runtime_options
    artifact = load_model(str(model_path), input_shape=manifest.input["shape"])
    recorded = {k: str(options[k]) for k in _RECORDED if k in options}
    for key, value in recorded.items():
        if value not in _RECORDED[key]:
            raise ModelSourceError(
                f"The manifest of {str(folder)!r} sets {key} to {value!r}; hwfit writes one of "
                f"{', '.join(_RECORDED[key])}.",
                hint="Point to a folder `hwfit optimize --out` wrote, its hwfit.json unedited.",
            )
    tuned = dict(options.get("tuned", {}))
    unknown = sorted(set(tuned) - runtime_cls.tunable_names)
    if unknown:
        raise ModelSourceError(
            f"The manifest of {str(folder)!r} tunes {unknown[0]!r}, which is not a setting "
            f"hwfit tunes on {manifest.runtime} "
            f"({', '.join(sorted(runtime_cls.tunable_names)) or 'none'}).",
            hint="Point to a folder `hwfit optimize --out` wrote, its hwfit.json unedited.",
        )
    settings = tuple(sorted(recorded.items())) if manifest.runtime == "openvino" else ()
    config = RunConfig(
        runtime=manifest.runtime,
        batch=int(options["batch"]),
        threads=options.get("threads"),
        precision=str(options["precision"]),
        options=settings + tuple(sorted(tuned.items())),  # as measured: the tuned ones too
    )
    decoder = None
    if manifest.postprocess is not None:  # plain arrays, read without pickles, inside the folder
        decoder = DetectionDecoder.load(
            inside(folder, manifest.postprocess["file"], "postprocess")
        )
    compiled = runtime_cls().compile(artifact, config)
    return Predictor(folder, manifest, compiled, decoder)
