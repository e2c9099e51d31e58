"""The model contract shared by both detectors: input checks and output tensors -> `Detections`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from bot.detection.errors import DetectorOutputError, InvalidModelInput
from bot.detection.types import Detections

INPUT_NAME = "input_tensor"
BOXES = "detection_boxes"
CLASSES = "detection_classes"
SCORES = "detection_scores"
NUM_DETECTIONS = "num_detections"
OUTPUT_NAMES = (BOXES, CLASSES, SCORES, NUM_DETECTIONS)


def model_input(image: npt.NDArray[Any]) -> npt.NDArray[np.uint8]:
    """One RGB uint8 image (H, W, 3) as the batch of one the model takes: (1, H, W, 3)."""
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise InvalidModelInput(
            f"expected an RGB uint8 image of shape (H, W, 3), got {image.dtype} {image.shape}"
        )
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise InvalidModelInput(f"image has no pixels: shape {image.shape}")
    return np.ascontiguousarray(image)[np.newaxis]


def parse_detections(outputs: Mapping[str, npt.NDArray[Any]]) -> Detections:
    """Turn the four contract outputs of one image into `Detections`.

    Accepts the batch dimension of 1 or none; casts float class ids and counts to int; drops rows
    past `num_detections`. Raises DetectorOutputError when an output is missing or ill-shaped.
    """
    missing = [name for name in OUTPUT_NAMES if name not in outputs]
    if missing:
        raise DetectorOutputError(
            f"model output {', '.join(missing)} missing (got: {', '.join(sorted(outputs)) or '-'})"
        )
    boxes = _single_image(outputs[BOXES], 2, BOXES)
    classes = _single_image(outputs[CLASSES], 1, CLASSES)
    scores = _single_image(outputs[SCORES], 1, SCORES)
    num = np.asarray(outputs[NUM_DETECTIONS])
    rows = boxes.shape[0]
    if boxes.shape[1:] != (4,) or classes.shape != (rows,) or scores.shape != (rows,):
        raise DetectorOutputError(
            f"output shapes disagree: {BOXES} {boxes.shape}, {CLASSES} {classes.shape}, "
            f"{SCORES} {scores.shape}"
        )
    if num.size != 1 or not np.isfinite(num.astype(np.float64)).all():
        raise DetectorOutputError(f"{NUM_DETECTIONS} must hold one number, got {num.ravel()[:4]}")
    count = int(np.rint(num.astype(np.float64)).ravel()[0])
    if count < 0:
        raise DetectorOutputError(f"{NUM_DETECTIONS} is negative: {count}")
    count = min(count, rows)
    class_values = classes[:count].astype(np.float64)
    if not np.isfinite(class_values).all():
        raise DetectorOutputError(f"{CLASSES} holds non-finite values")
    return Detections(
        boxes=np.ascontiguousarray(boxes[:count], dtype=np.float32),
        class_ids=np.rint(class_values).astype(np.int64),
        scores=np.ascontiguousarray(scores[:count], dtype=np.float32),
    )


def _single_image(array: npt.NDArray[Any], rank: int, name: str) -> npt.NDArray[Any]:
    arr = np.asarray(array)
    if arr.ndim == rank + 1 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != rank:
        raise DetectorOutputError(f"{name} has shape {arr.shape}; expected one image's outputs")
    if not np.issubdtype(arr.dtype, np.number):
        raise DetectorOutputError(f"{name} has non-numeric dtype {arr.dtype}")
    return arr
