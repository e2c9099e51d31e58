"""Detector that runs the SavedModel inside this process (the default without TF Serving).

Loading and every inference run in worker threads, so the event loop never waits on TensorFlow.
The model base dir is laid out as TF Serving expects (`<base>/<version>/saved_model.pb`) and the
highest numeric version is loaded, as TF Serving does. TensorFlow comes with the `inprocess` extra
and is imported only here, when a model is loaded; without it, start-up fails with one line saying
what to install. A detector given `fetch_model` calls it (in a worker thread) when the base dir
holds no version yet, so a first run downloads its model.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from bot.detection import outputs
from bot.detection.errors import DetectorError, InvalidModelInput, ModelNotFound
from bot.detection.types import Detections, ModelInfo

log = logging.getLogger(__name__)

INSTALL_HINT = (
    "the in-process model needs TensorFlow: pip install 'detectx-bot[inprocess]' "
    "(or set TFSERVING_ADDRESS to use TensorFlow Serving)"
)


class TensorFlowMissing(DetectorError):
    """The in-process model was asked for in an install without the `inprocess` extra."""

    kind = "tensorflow_missing"


def import_tensorflow() -> Any:
    """TensorFlow, or TensorFlowMissing with the one line that says what to install."""
    try:
        import tensorflow
    except ImportError as exc:
        if exc.name is not None and exc.name.split(".")[0] != "tensorflow":
            raise
        raise TensorFlowMissing(INSTALL_HINT) from None
    return tensorflow


def has_model(model_base_dir: Path) -> bool:
    """Whether the base dir holds a numeric version directory (what would be loaded)."""
    return model_base_dir.is_dir() and any(
        p.is_dir() and p.name.isdigit() for p in model_base_dir.iterdir()
    )


def latest_version_dir(model_base_dir: Path) -> Path:
    """The highest numeric version directory under `model_base_dir`, or ModelNotFound."""
    versions = (
        [p for p in model_base_dir.iterdir() if p.is_dir() and p.name.isdigit()]
        if model_base_dir.is_dir()
        else []
    )
    if not versions:
        raise ModelNotFound(
            f"no model in {model_base_dir}: expected a numeric version directory such as "
            f"{model_base_dir / '1'}/saved_model.pb; run `detectbot model download` "
            "or set MODEL_PATH"
        )
    return max(versions, key=lambda p: int(p.name))


@dataclass(frozen=True)
class LoadedModel:
    """A SavedModel loaded once and immutable afterwards; safe to share between detectors.

    `root` keeps the loaded object alive: a signature function alone does not own its variables.
    """

    name: str
    version_dir: Path
    signature: str
    root: Any
    function: Any
    info: ModelInfo

    def run(self, batch: npt.NDArray[Any]) -> dict[str, npt.NDArray[Any]]:
        """Blocking signature call on a (1, H, W, 3) batch; returns every output as numpy."""
        tf = import_tensorflow()
        result = self.function(**{self.info.input_name: tf.constant(batch)})
        return {name: tensor.numpy() for name, tensor in result.items()}


def load_model(model_base_dir: Path, signature: str, name: str | None = None) -> LoadedModel:
    """Load the newest version under `model_base_dir` (blocking: call it in a worker thread)."""
    version_dir = latest_version_dir(model_base_dir)
    tf = import_tensorflow()
    try:
        root = tf.saved_model.load(str(version_dir))
    except (OSError, ValueError, tf.errors.OpError) as exc:
        raise ModelNotFound(f"cannot load the SavedModel in {version_dir}: {exc}") from exc
    if signature not in root.signatures:
        known = ", ".join(sorted(root.signatures)) or "none"
        raise ModelNotFound(
            f"the model in {version_dir} has no signature {signature!r} (MODEL_SIGNATURE); "
            f"it has: {known}"
        )
    function = root.signatures[signature]
    inputs: dict[str, Any] = function.structured_input_signature[1]
    if outputs.INPUT_NAME in inputs:
        input_name = outputs.INPUT_NAME
    elif len(inputs) == 1:
        input_name = next(iter(inputs))
    else:
        raise ModelNotFound(
            f"signature {signature!r} in {version_dir} has inputs {sorted(inputs)}; "
            f"expected one image input named {outputs.INPUT_NAME!r}"
        )
    spec = inputs[input_name]
    missing = [o for o in outputs.OUTPUT_NAMES if o not in function.structured_outputs]
    if missing:
        raise ModelNotFound(
            f"signature {signature!r} in {version_dir} lacks output(s) {', '.join(missing)}"
        )
    batch = spec.shape[0] if spec.shape.rank else None
    info = ModelInfo(
        name=name or model_base_dir.resolve().name,
        version=version_dir.name,
        signature=signature,
        input_name=input_name,
        input_dtype=spec.dtype.name,
        batch_size=batch,
        output_names=outputs.OUTPUT_NAMES,
    )
    log.info(
        "loaded model %s version %s from %s (input %s %s, batch %s)",
        info.name,
        info.version,
        version_dir,
        input_name,
        info.input_dtype,
        batch or "any",
    )
    return LoadedModel(info.name, version_dir, signature, root, function, info)


class InProcessDetector:
    """`Detector` running a SavedModel in worker threads of this process."""

    def __init__(
        self,
        model_base_dir: Path,
        signature: str = "serving_default",
        *,
        name: str | None = None,
        fetch_model: Callable[[], object] | None = None,
    ) -> None:
        self._model_base_dir = model_base_dir
        self._signature = signature
        self._name = name
        self._fetch_model = fetch_model
        self._model: LoadedModel | None = None

    @classmethod
    def from_loaded(cls, model: LoadedModel) -> InProcessDetector:
        """A started detector around an already loaded model (tests and benchmarks share one)."""
        detector = cls(model.version_dir.parent, model.signature, name=model.name)
        detector._model = model
        return detector

    @property
    def info(self) -> ModelInfo:
        if self._model is None:
            return ModelInfo(
                name=self._name or self._model_base_dir.name,
                version="unknown",
                signature=self._signature,
            )
        return self._model.info

    async def start(self) -> None:
        if self._model is not None:
            return
        if self._fetch_model is not None and not has_model(self._model_base_dir):
            await asyncio.to_thread(import_tensorflow)
            log.info("no model in %s yet: downloading one", self._model_base_dir)
            await asyncio.to_thread(self._fetch_model)
        self._model = await asyncio.to_thread(
            load_model, self._model_base_dir, self._signature, self._name
        )

    async def detect(self, image: npt.NDArray[np.uint8]) -> Detections:
        model = self._model
        if model is None:
            raise DetectorError("in-process detector used before start()")
        batch = outputs.model_input(image)
        if batch.dtype.name != model.info.input_dtype:
            batch = batch.astype(model.info.input_dtype)
        raw = await asyncio.to_thread(_run, model, batch)
        return outputs.parse_detections(raw)

    async def healthy(self) -> bool:
        return self._model is not None

    async def close(self) -> None:
        """Nothing to release: the loaded model may be shared and is freed with its last user."""


def _run(model: LoadedModel, batch: npt.NDArray[Any]) -> dict[str, npt.NDArray[Any]]:
    tf = import_tensorflow()
    try:
        return model.run(batch)
    except (tf.errors.InvalidArgumentError, ValueError, TypeError) as exc:
        raise InvalidModelInput(f"the model refused the input {batch.shape}: {exc}") from exc
    except tf.errors.OpError as exc:
        raise DetectorError(f"inference failed: {exc.message}") from exc
