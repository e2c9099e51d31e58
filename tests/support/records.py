"""Detections as the bot records them, for database tests and benchmarks."""

from __future__ import annotations

from collections.abc import Sequence

from db.records import NewDetection, NewObject

BOX = (0.1, 0.2, 0.5, 0.6)


def new_detection(
    user_id: int,
    chat_id: int,
    message_id: int,
    labels: Sequence[str] = ("person",),
    *,
    inference_ms: float = 12.5,
    scores: Sequence[float] | None = None,
) -> NewDetection:
    """A successful detection of one object per label (class ids 1, 2, ... in label order)."""
    return NewDetection(
        user_id=user_id,
        chat_id=chat_id,
        message_id=message_id,
        file_id=f"file-{message_id}",
        file_unique_id=f"uniq-{message_id}",
        width=640,
        height=480,
        model_name="ssd_mobilenet_v1_coco",
        model_version="1",
        inference_ms=inference_ms,
        total_ms=inference_ms + 25.0,
        objects=[
            NewObject(i + 1, label, scores[i] if scores else 0.9, BOX)
            for i, label in enumerate(labels)
        ],
    )
