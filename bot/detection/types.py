"""Small typed value objects shared by detectors, the pipeline and the bot."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class Detections:
    """One image's raw detections as parallel arrays; boxes normalized ymin, xmin, ymax, xmax."""

    boxes: npt.NDArray[np.float32]
    class_ids: npt.NDArray[np.int64]
    scores: npt.NDArray[np.float32]
    model_version: str | None = None
    """The model version that produced them, when the detector was told (TF Serving's answer)."""

    def __post_init__(self) -> None:
        n = len(self.scores)
        if self.boxes.shape != (n, 4) or self.class_ids.shape != (n,):
            raise ValueError(
                f"inconsistent detections: boxes {self.boxes.shape}, "
                f"classes {self.class_ids.shape}, scores {self.scores.shape}"
            )

    def __len__(self) -> int:
        return len(self.scores)

    @classmethod
    def empty(cls) -> Detections:
        return cls(
            boxes=np.zeros((0, 4), np.float32),
            class_ids=np.zeros((0,), np.int64),
            scores=np.zeros((0,), np.float32),
        )

    def select(self, mask: npt.NDArray[np.bool_]) -> Detections:
        return Detections(
            self.boxes[mask], self.class_ids[mask], self.scores[mask], self.model_version
        )

    def above(self, min_score: float) -> Detections:
        return self.select(self.scores >= min_score)


@dataclass(frozen=True)
class ModelInfo:
    """What a detector knows about the model it serves."""

    name: str
    version: str
    signature: str
    input_name: str = "input_tensor"
    input_dtype: str = "uint8"
    batch_size: int | None = 1
    output_names: tuple[str, ...] = (
        "detection_boxes",
        "detection_classes",
        "detection_scores",
        "num_detections",
    )


@dataclass(frozen=True)
class DetectedObject:
    """One labelled box above the threshold, in the original image's normalized coordinates."""

    label: str
    class_id: int
    score: float
    box: tuple[float, float, float, float]


@dataclass(frozen=True)
class DetectionResult:
    """Everything one image produced: what the CLI prints and the bot replies and stores."""

    width: int
    height: int
    objects: tuple[DetectedObject, ...]
    counts: dict[str, int]
    summary: str
    annotated_jpeg: bytes
    inference_ms: float
    total_ms: float
    model_name: str
    model_version: str
    min_score: float
    extra: dict[str, float] = field(default_factory=dict)
    version_label: str | None = None
    classes: frozenset[str] | None = None
    """The class filter the objects were picked with (None: every class)."""
