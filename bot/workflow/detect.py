"""Detecting one photo: wait for a detection slot, download, detect, record; a frozen outcome.

The download waits for the slot, so a queue of photos holds no image bytes; waiting longer than
QUEUE_NOTICE_S gets one "queued" notice per job.
"""

from __future__ import annotations

import logging
import time

from telegram import Bot, Message, User
from telegram.error import TelegramError

from bot.detection.errors import DetectionError, DownloadFailed, InternalError
from bot.detection.models import ModelRoute
from bot.detection.types import DetectionResult
from bot.i18n import Translator
from bot.inbox import Work
from bot.services import Services
from bot.workflow.download import download
from bot.workflow.image_source import ImageSource, image_source
from bot.workflow.outcome import PhotoOutcome
from bot.workflow.record import record_detection, record_failure
from bot.workflow.replies import notify_queued_once
from db.records import ChatSettings

logger = logging.getLogger(__name__)


async def detect_photo(
    bot: Bot,
    services: Services,
    message: Message,
    requester: User,
    chat_settings: ChatSettings,
    tr: Translator,
    job: Work | None = None,
) -> PhotoOutcome:
    """Detect the image of `message` with `chat_settings` and record the attempt (ok or failed);
    the "queued" notice is written with `tr`.

    Never raises for bad input or a failing detector or database: the outcome carries the error.
    """
    started = time.perf_counter()
    route = services.models.route(message.chat_id, chat_settings.model_name)
    source: ImageSource | None = None
    result: DetectionResult | None = None
    error: DetectionError | None = None
    try:
        source = image_source(message)
        result = await _detect_in_slot(
            bot, services, message, source, chat_settings, route, tr, job
        )
    except DetectionError as exc:
        error = exc
    except TelegramError as exc:
        logger.warning("download of %s failed: %s", source, exc)
        error = DownloadFailed(f"download failed: {exc}")
    except Exception as exc:
        logger.exception("detecting chat %s message %s failed", message.chat_id, message.message_id)
        error = InternalError(f"{type(exc).__name__}: {exc}")
    if error is not None:
        marked = await record_failure(services, message, requester, source, error, route, job)
        return PhotoOutcome(message, None, error, None, route, started, marked)
    assert source is not None and result is not None
    detection_id, marked = await record_detection(services, message, requester, source, result, job)
    return PhotoOutcome(message, result, None, detection_id, route, started, marked)


async def _detect_in_slot(
    bot: Bot,
    services: Services,
    message: Message,
    source: ImageSource,
    chat_settings: ChatSettings,
    route: ModelRoute,
    tr: Translator,
    job: Work | None,
) -> DetectionResult:
    settings = services.settings

    async def on_queued() -> None:
        await notify_queued_once(bot, message, tr, job)

    if job is not None:
        job.waiting_for_slot = True
    try:
        async with services.detection_slots.slot(
            notice_after=settings.queue_notice_s, on_queued=on_queued
        ):
            if job is not None:
                job.waiting_for_slot = False
            data = await download(bot, source, settings.max_file_bytes)
            return await services.pipeline.run(
                data,
                min_score=chat_settings.threshold(settings.min_score),
                classes=chat_settings.class_filter or None,
                route=route,
            )
    finally:
        if job is not None:
            job.waiting_for_slot = False
