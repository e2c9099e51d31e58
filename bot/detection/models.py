"""The models a bot serves: which one (and which version label) answers a chat, and falling back.

`MODEL_NAME` lists the models, the first the default. A chat may choose another with /model. A
share of the chats (`CANARY_SHARE`) on the default model is sent to its `canary` version label,
the others to `stable`; which chats is decided by a hash of the chat id, so a conversation never
flips between versions and every replica decides the same. A model whose servable is gone
(NOT_FOUND, or a version label the server does not know) is replaced by the default model for
that photo; the chat keeps its choice.
"""

from __future__ import annotations

import hashlib
import logging
import statistics
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from bot.detection.detector import Detector
from bot.detection.errors import ModelNotFound, ServableNotFound
from bot.detection.types import Detections

log = logging.getLogger(__name__)

STABLE_LABEL = "stable"
CANARY_LABEL = "canary"
DEFAULT_LATENCY_WINDOW = 50

FallbackHook = Callable[[str, str], None]
"""Called with (model that failed, model that answered instead)."""


@dataclass(frozen=True)
class ModelRoute:
    """Where one photo goes: a model name and, optionally, a TF Serving version label."""

    name: str
    version_label: str | None = None


@dataclass(frozen=True)
class ServedDetections:
    """Detections with the model that answered: name, numeric version and the label asked for."""

    detections: Detections
    model_name: str
    model_version: str
    version_label: str | None
    inference_ms: float
    fell_back_from: str | None = None


def canary_bucket(chat_id: int, model_name: str) -> float:
    """A number in [0, 1) fixed by the chat and the default model (uniform over chats)."""
    digest = hashlib.blake2b(f"{model_name}:{chat_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


class ModelCatalog:
    """One detector per served model; the first name is the default."""

    def __init__(
        self,
        detectors: Mapping[str, Detector],
        *,
        canary_share: float = 0.0,
        latency_window: int = DEFAULT_LATENCY_WINDOW,
        on_fallback: FallbackHook | None = None,
    ) -> None:
        if not detectors:
            raise ValueError("a model catalog needs at least one model")
        if not 0.0 <= canary_share <= 1.0:
            raise ValueError(f"canary share must be between 0 and 1, got {canary_share}")
        self._detectors = dict(detectors)
        self.names: tuple[str, ...] = tuple(self._detectors)
        self.default = self.names[0]
        self.canary_share = canary_share
        self._on_fallback = on_fallback
        self._latencies: dict[str, deque[float]] = {
            name: deque(maxlen=latency_window) for name in self.names
        }

    @classmethod
    def single(cls, detector: Detector) -> ModelCatalog:
        return cls({detector.info.name: detector})

    @property
    def default_detector(self) -> Detector:
        return self._detectors[self.default]

    @property
    def choosable(self) -> bool:
        """True when a chat can pick between several models."""
        return len(self.names) > 1

    def knows(self, name: str) -> bool:
        return name in self._detectors

    def route(self, chat_id: int, chosen: str | None = None) -> ModelRoute:
        """The chat's chosen model when it is served, else the default model; on the default
        model, the canary label for the canary share of chats and the stable label for the rest
        (no label at all while no canary runs)."""
        if chosen is not None and chosen != self.default and self.knows(chosen):
            return ModelRoute(chosen)
        return self._default_route(chat_id)

    def _default_route(self, chat_id: int | None) -> ModelRoute:
        if self.canary_share <= 0.0:
            return ModelRoute(self.default)
        if chat_id is not None and canary_bucket(chat_id, self.default) < self.canary_share:
            return ModelRoute(self.default, CANARY_LABEL)
        return ModelRoute(self.default, STABLE_LABEL)

    def median_latency_ms(self, name: str) -> float | None:
        """Median inference time of the model's last calls in this process; None before any."""
        recent = self._latencies.get(name)
        return statistics.median(recent) if recent else None

    async def detect(
        self, image: npt.NDArray[np.uint8], route: ModelRoute | None = None
    ) -> ServedDetections:
        """Detect with `route` (default: the default model); a model that is gone falls back to
        the default model's stable version. Raises DetectorError when that fails too."""
        route = route or self._default_route(None)
        try:
            return await self._detect(image, route)
        except (ModelNotFound, ServableNotFound) as exc:
            fallback = self._default_route(None)
            if fallback == route:
                raise
            log.warning(
                "model %s%s failed (%s); answering with %s%s instead",
                route.name,
                f" ({route.version_label})" if route.version_label else "",
                exc.detail,
                fallback.name,
                f" ({fallback.version_label})" if fallback.version_label else "",
            )
            if self._on_fallback is not None:
                self._on_fallback(route.name, fallback.name)
            served = await self._detect(image, fallback)
            return ServedDetections(
                served.detections,
                served.model_name,
                served.model_version,
                served.version_label,
                served.inference_ms,
                fell_back_from=route.name,
            )

    async def _detect(self, image: npt.NDArray[np.uint8], route: ModelRoute) -> ServedDetections:
        detector = self._detectors[route.name]
        started = time.perf_counter()
        detections = await detector.detect(image, version_label=route.version_label)
        elapsed_ms = (time.perf_counter() - started) * 1000
        self._latencies[route.name].append(elapsed_ms)
        return ServedDetections(
            detections,
            route.name,
            detections.model_version or detector.info.version,
            route.version_label,
            elapsed_ms,
        )

    async def start(self) -> None:
        started: list[Detector] = []
        try:
            for detector in self._detectors.values():
                await detector.start()
                started.append(detector)
        except BaseException:
            for detector in started:
                await detector.close()
            raise

    async def close(self) -> None:
        for detector in self._detectors.values():
            await detector.close()
