"""The detector interface; implementations: TF Serving over gRPC and the in-process SavedModel."""

from __future__ import annotations

from typing import Protocol

import numpy as np
import numpy.typing as npt

from bot.detection.types import Detections, ModelInfo


class Detector(Protocol):
    """Finds objects in one RGB uint8 image of shape (H, W, 3)."""

    @property
    def info(self) -> ModelInfo: ...

    async def start(self) -> None:
        """Connect or load; learn the model's input/output facts. Raises DetectorError."""

    async def detect(
        self, image: npt.NDArray[np.uint8], *, version_label: str | None = None
    ) -> Detections:
        """All detections, unfiltered, boxes normalized to the image given, from the version
        `version_label` names (None: the latest). Raises DetectorError."""

    async def healthy(self) -> bool:
        """True when the model is loaded and answering."""

    async def close(self) -> None: ...
