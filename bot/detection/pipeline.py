"""One image through detection: decode → infer → threshold/filter → draw → encode, with timings.

The bot and `detectbot detect` both run images through `DetectionPipeline.run`. Image work happens
in two worker-thread hops (decode+orient+scale, then draw+encode) so that, with several images in
flight, it overlaps the detector's work instead of queueing behind it on the event loop. Between
the hops only the bounded picture and the model-sized input array are alive (see `images`).
"""

from __future__ import annotations

import asyncio
import time

from bot.config import Settings
from bot.detection.annotate import annotate, encode_for_telegram
from bot.detection.detector import Detector
from bot.detection.images import DecodedImage, ImageLimits, InferenceSize, decode_image
from bot.detection.input_size import inference_size
from bot.detection.models import ModelCatalog, ModelRoute
from bot.detection.summary import count_labels, summarize
from bot.detection.types import DetectedObject, DetectionResult, Detections
from bot.labels import LabelMap, load_label_map


class DetectionPipeline:
    """Turns image bytes into a `DetectionResult` using one shared detector and label map."""

    def __init__(
        self,
        detector: Detector,
        labels: LabelMap,
        limits: ImageLimits,
        inference: InferenceSize | None = None,
        models: ModelCatalog | None = None,
    ) -> None:
        self.detector = detector
        self.models = models if models is not None else ModelCatalog.single(detector)
        self.labels = labels
        self.limits = limits
        self.inference = inference or InferenceSize()

    @classmethod
    def from_settings(
        cls, settings: Settings, detector: Detector, models: ModelCatalog | None = None
    ) -> DetectionPipeline:
        """Reads the label map (`LABEL_MAP` or the bundled COCO map); raises LabelMapError."""
        return cls(
            detector,
            load_label_map(settings.label_map),
            image_limits(settings),
            inference_size(settings),
            models=models,
        )

    async def run(
        self,
        data: bytes,
        *,
        min_score: float,
        classes: frozenset[str] | None = None,
        route: ModelRoute | None = None,
    ) -> DetectionResult:
        """Detect objects in `data`; `classes` (display names) keeps only those; None or empty: all.
        `route`: the model (and version label) to ask; None: the default model.

        Raises ImageError subclasses for unusable input and DetectorError subclasses when the
        detector fails.
        """
        started = time.perf_counter()
        classes = classes or None
        decoded = await asyncio.to_thread(decode_image, data, self.limits, self.inference)
        decoded_at = time.perf_counter()
        served = await self.models.detect(decoded.inference, route)
        inferred_at = time.perf_counter()
        objects = self.objects(served.detections, min_score=min_score, classes=classes)
        jpeg = await asyncio.to_thread(_draw_and_encode, decoded, objects)
        finished = time.perf_counter()
        counts = count_labels(objects)
        return DetectionResult(
            width=decoded.width,
            height=decoded.height,
            objects=objects,
            counts=counts,
            summary=summarize(counts, min_score, classes),
            annotated_jpeg=jpeg,
            inference_ms=(inferred_at - decoded_at) * 1000,
            total_ms=(finished - started) * 1000,
            model_name=served.model_name,
            model_version=served.model_version,
            version_label=served.version_label,
            min_score=min_score,
            extra={
                "decode_ms": (decoded_at - started) * 1000,
                "draw_ms": (finished - inferred_at) * 1000,
            },
            classes=classes,
        )

    def objects(
        self, detections: Detections, *, min_score: float, classes: frozenset[str] | None
    ) -> tuple[DetectedObject, ...]:
        """Labelled objects at or above `min_score`, of the wanted classes, strongest first."""
        kept = detections.above(min_score)
        order = kept.scores.argsort(kind="stable")[::-1]
        objects: list[DetectedObject] = []
        for i in order:
            label = self.labels.display_name(int(kept.class_ids[i]))
            if classes is not None and label not in classes:
                continue
            ymin, xmin, ymax, xmax = (float(v) for v in kept.boxes[i].clip(0.0, 1.0))
            objects.append(
                DetectedObject(
                    label=label,
                    class_id=int(kept.class_ids[i]),
                    score=float(kept.scores[i]),
                    box=(ymin, xmin, ymax, xmax),
                )
            )
        return tuple(objects)


def image_limits(settings: Settings) -> ImageLimits:
    return ImageLimits(
        max_image_pixels=settings.max_image_pixels,
        max_file_bytes=settings.max_file_bytes,
        max_decode_bytes=settings.max_decode_bytes,
        max_aspect_ratio=settings.max_aspect_ratio,
        picture_max_side=settings.reply_max_side,
    )


def _draw_and_encode(decoded: DecodedImage, objects: tuple[DetectedObject, ...]) -> bytes:
    return encode_for_telegram(annotate(decoded.picture, objects))
