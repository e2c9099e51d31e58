"""Recording an attempt: a detection with its objects, or a failure (a non-image is not one).

The transaction that records it also marks the job's inbox row as having its reply sent next (one
transaction instead of two). A database outage never costs the person their answer: the attempt
goes unrecorded and counted.
"""

from __future__ import annotations

import logging

from telegram import Message, User

from bot.database_errors import database_error
from bot.detection.errors import DetectionError, DetectorError, NotAnImage
from bot.detection.models import ModelRoute
from bot.detection.types import DetectionResult
from bot.inbox import Work
from bot.log_context import bind_log_context
from bot.services import Services
from bot.workflow.image_source import ImageSource
from db.errors import DuplicateDetection, Forgotten
from db.inbox import InboxLease
from db.records import FailedDetection, NewDetection, NewObject

logger = logging.getLogger(__name__)


async def record_failure(
    services: Services,
    message: Message,
    requester: User,
    source: ImageSource | None,
    error: DetectionError,
    route: ModelRoute,
    job: Work | None,
) -> bool:
    """True when the job's reply was marked as being sent with it."""
    metrics = services.metrics
    metrics.detections.labels(status="failed").inc()
    metrics.errors.labels(kind=error.kind).inc()
    if isinstance(error, NotAnImage):
        return False
    failed_route = route if isinstance(error, DetectorError) else None
    failed = FailedDetection(
        user_id=requester.id,
        chat_id=message.chat_id,
        message_id=message.message_id,
        error_kind=error.kind,
        file_id=source.file_id if source else None,
        detail=error.detail[:500],
        model_name=failed_route.name if failed_route else None,
        model_label=failed_route.version_label if failed_route else None,
        requested_at=job.received_at if job is not None else None,
    )
    try:
        await services.repository.detections.record_failed(failed, _reply_lease(job))
        return _reply_lease(job) is not None
    except Forgotten:
        logger.info("user %s used /forget meanwhile; failure not stored", requester.id)
    except DuplicateDetection:
        logger.info(
            "chat %s message %s already has a detection; failure not stored",
            message.chat_id,
            message.message_id,
        )
    except Exception:
        database_error(services, "record_failed_detection")
    return False


async def record_detection(
    services: Services,
    message: Message,
    requester: User,
    source: ImageSource,
    result: DetectionResult,
    job: Work | None,
) -> tuple[int | None, bool]:
    """The stored detection's id (an earlier one's for a photo detected again; None when it
    could not be stored), and whether the job's reply was marked as being sent with it."""
    metrics = services.metrics
    metrics.detections.labels(status="ok").inc()
    metrics.inference_seconds.observe(result.inference_ms / 1000)
    detection = NewDetection(
        user_id=requester.id,
        chat_id=message.chat_id,
        message_id=message.message_id,
        file_id=source.file_id,
        file_unique_id=source.file_unique_id,
        width=result.width,
        height=result.height,
        model_name=result.model_name,
        model_version=result.model_version,
        model_label=result.version_label,
        inference_ms=result.inference_ms,
        total_ms=result.total_ms,
        objects=[NewObject(o.class_id, o.label, o.score, o.box) for o in result.objects],
        requested_at=job.received_at if job is not None else None,
    )
    lease = _reply_lease(job)
    detection_id: int | None = None
    marked = False
    try:
        detection_id = await services.repository.detections.record(detection, lease)
        marked = lease is not None
    except Forgotten:
        logger.info("user %s used /forget meanwhile; detection not stored", requester.id)
    except DuplicateDetection as duplicate:
        logger.info("chat %s message %s detected again", message.chat_id, message.message_id)
        detection_id = duplicate.existing_id
        marked = lease is not None
    except Exception:
        database_error(services, "record_detection")
    bind_log_context(detection_id=detection_id)
    return detection_id, marked


def _reply_lease(job: Work | None) -> InboxLease | None:
    return job.inbox_lease if job is not None else None
