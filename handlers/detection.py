"""Detecting one photo for one person: download, detect, record, answer with the annotated image.

Used by private photos, group triggers (`/detect`, captions, auto mode) and albums. Every failure
gets a short reply; detections and failed attempts are recorded, and a database outage never
stops the person from getting their image.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import PurePath

from telegram import Bot, Message, User
from telegram.constants import ChatAction
from telegram.error import BadRequest, TelegramError

from bot.detection.errors import (
    DetectionError,
    DetectorError,
    DownloadFailed,
    ImageTooLarge,
    InternalError,
    NotAnImage,
)
from bot.detection.models import ModelRoute
from bot.detection.summary import caption
from bot.detection.types import DetectionResult
from bot.i18n import N_, Translator
from bot.identity import requester_of
from bot.inbox import Work
from bot.log_context import bind_log_context
from bot.services import Services
from db.errors import DuplicateDetection, Forgotten
from db.records import ChatSettings, FailedDetection, NewDetection, NewObject
from db.types import utc_now
from handlers.common import database_error, reply_parameters, reply_text, send_with_retry
from handlers.language import translator_for
from handlers.rating import rating_keyboard

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"}
)
GENERIC_MIME_TYPES = frozenset({"application/octet-stream", "binary/octet-stream"})
TELEGRAM_DOWNLOAD_LIMIT = 20 * 1024 * 1024

RECORD_REPLY_PAUSE_S = 0.5
RECORD_REPLY_PATIENCE_S = 300.0
"""A reply that went out is recorded even through a database outage of a few minutes: until it
is, a takeover would send it again."""

QUEUED_TEXT = N_("Lots of photos right now: yours is queued, I'll answer shortly.")
HOURLY_CAP_TEXT = N_(
    "You've sent as many photos as I take in an hour. Please come back in {minutes} min "
    "(at {at} UTC) and send this one again."
)


@dataclass(frozen=True)
class ImageSource:
    """The file of a photo (largest size) or image document to detect."""

    file_id: str
    file_unique_id: str
    file_size: int | None


@dataclass
class Outcome:
    """What detecting one photo produced: a result (maybe unrecorded) or a failure."""

    message: Message
    result: DetectionResult | None = None
    error: DetectionError | None = None
    detection_id: int | None = None
    started: float = 0.0
    route: ModelRoute | None = None


def is_image_document(mime_type: str | None, file_name: str | None) -> bool:
    if mime_type and mime_type.lower().startswith("image/"):
        return True
    if mime_type and mime_type.lower() not in GENERIC_MIME_TYPES:
        return False
    return file_name is not None and PurePath(file_name.lower()).suffix in IMAGE_SUFFIXES


def has_image(message: Message) -> bool:
    return bool(message.photo) or message.document is not None


def image_source(message: Message) -> ImageSource:
    """The image file of `message`; raises NotAnImage for a document that is not an image."""
    if message.photo:
        largest = max(message.photo, key=lambda size: size.width * size.height)
        return ImageSource(largest.file_id, largest.file_unique_id, largest.file_size)
    document = message.document
    if document is None or not is_image_document(document.mime_type, document.file_name):
        raise NotAnImage(
            f"document {getattr(document, 'mime_type', None)!r} "
            f"{getattr(document, 'file_name', None)!r}"
        )
    return ImageSource(document.file_id, document.file_unique_id, document.file_size)


async def chat_settings(services: Services, chat_id: int) -> ChatSettings:
    """The chat's settings, or the defaults when the database is down."""
    try:
        return await services.repository.get_chat_settings(chat_id)
    except Exception:
        database_error(services, "get_chat_settings")
        return ChatSettings()


async def _download(bot: Bot, source: ImageSource, max_bytes: int) -> bytes:
    limit = min(max_bytes, TELEGRAM_DOWNLOAD_LIMIT)
    if source.file_size is not None and source.file_size > limit:
        raise ImageTooLarge(f"file of {source.file_size} bytes over the {limit}-byte limit")
    try:
        file = await bot.get_file(source.file_id)
    except BadRequest as exc:
        if "too big" in str(exc).lower():
            raise ImageTooLarge(f"getFile: {exc}") from exc
        raise
    if file.file_size is not None and file.file_size > limit:
        raise ImageTooLarge(f"file of {file.file_size} bytes over the {limit}-byte limit")
    return bytes(await file.download_as_bytearray())


async def _notify_queued(bot: Bot, message: Message, tr: Translator) -> None:
    await reply_text(bot, message, tr.gettext(QUEUED_TEXT))


async def detect(
    bot: Bot,
    services: Services,
    message: Message,
    requester: User,
    wanted: ChatSettings,
    tr: Translator,
    job: Work | None = None,
) -> Outcome:
    """Download and detect the image of `message` with the chat's settings `wanted`, and record
    the attempt (ok or failed). The download waits for a detection slot, so a queue of photos
    holds no image bytes; waiting longer than QUEUE_NOTICE_S gets one "queued" notice per job,
    written with `tr`.

    Never raises for bad input or a failing detector or database: the outcome carries the error.
    """
    outcome = Outcome(
        message,
        started=time.perf_counter(),
        route=services.models.route(message.chat_id, wanted.model_name),
    )
    settings = services.settings
    source: ImageSource | None = None
    try:
        source = image_source(message)
        min_score = wanted.threshold(settings.min_score)

        async def on_queued() -> None:
            if job is None or not job.notice_sent:
                if job is not None:
                    job.notice_sent = True
                await _notify_queued(bot, message, tr)

        if job is not None:
            job.waiting_for_slot = True
        try:
            async with services.limiter.slot(
                notice_after=settings.queue_notice_s, on_queued=on_queued
            ):
                if job is not None:
                    job.waiting_for_slot = False
                data = await _download(bot, source, settings.max_file_bytes)
                outcome.result = await services.pipeline.run(
                    data,
                    min_score=min_score,
                    classes=wanted.class_filter or None,
                    route=outcome.route,
                )
        finally:
            if job is not None:
                job.waiting_for_slot = False
    except DetectionError as exc:
        outcome.error = exc
    except TelegramError as exc:
        logger.warning("download of %s failed: %s", source, exc)
        outcome.error = DownloadFailed(f"download failed: {exc}")
    except Exception as exc:
        logger.exception("detecting chat %s message %s failed", message.chat_id, message.message_id)
        outcome.error = InternalError(f"{type(exc).__name__}: {exc}")
    await _record(services, outcome, requester, source, job)
    return outcome


async def _record(
    services: Services,
    outcome: Outcome,
    requester: User,
    source: ImageSource | None,
    job: Work | None,
) -> None:
    message = outcome.message
    metrics = services.metrics
    requested_at = job.received_at if job is not None else None
    if outcome.error is not None:
        route = outcome.route if isinstance(outcome.error, DetectorError) else None
        metrics.detections.labels(status="failed").inc()
        metrics.errors.labels(kind=outcome.error.kind).inc()
        if isinstance(outcome.error, NotAnImage):
            return
        failed = FailedDetection(
            user_id=requester.id,
            chat_id=message.chat_id,
            message_id=message.message_id,
            error_kind=outcome.error.kind,
            file_id=source.file_id if source else None,
            detail=outcome.error.detail[:500],
            model_name=route.name if route else None,
            model_label=route.version_label if route else None,
            requested_at=requested_at,
        )
        try:
            await services.repository.record_failed_detection(failed)
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
        return
    result = outcome.result
    assert result is not None and source is not None
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
        requested_at=requested_at,
    )
    try:
        outcome.detection_id = await services.repository.record_detection(detection)
    except Forgotten:
        logger.info("user %s used /forget meanwhile; detection not stored", requester.id)
    except DuplicateDetection as duplicate:
        logger.info("chat %s message %s detected again", message.chat_id, message.message_id)
        outcome.detection_id = duplicate.existing_id
    except Exception:
        database_error(services, "record_detection")
    bind_log_context(detection_id=outcome.detection_id)


async def record_reply(
    services: Services,
    job: Work | None,
    replies: list[tuple[int | None, Message]],
    reply_message_id: int | None,
) -> None:
    """After the reply went out: the annotated photos' file ids, and (same transaction) the job
    marked as answered and done, so a takeover never sends it again."""
    files = [
        (detection_id, sent.photo[-1].file_id)
        for detection_id, sent in replies
        if detection_id is not None and sent.photo
    ]
    if not files and job is None:
        return
    lease = job.inbox_lease if job is not None else None
    pause = RECORD_REPLY_PAUSE_S
    deadline = time.monotonic() + RECORD_REPLY_PATIENCE_S
    while True:
        try:
            if await services.repository.record_reply(files, lease, reply_message_id) and lease:
                assert job is not None
                job.finished = True
            elif job is not None and lease is None:
                await job.reply_sent(reply_message_id)
            return
        except Exception:
            database_error(services, "record_reply")
            if job is None or services.jobs.stopping or time.monotonic() > deadline:
                return
        await asyncio.sleep(pause)
        pause = min(pause * 2, 5.0)


async def sending_reply(job: Work | None) -> None:
    """Just before a reply goes out: a takeover after this point may answer twice."""
    if job is None:
        return
    try:
        await job.reply_sending()
    except Exception:
        logger.warning("could not mark the reply to %s as being sent", job)


async def reply_once(
    services: Services, job: Work | None, send: Callable[[], Awaitable[Message | None]]
) -> Message | None:
    """Send a text reply that finishes the job, marked before and after like a photo."""
    await sending_reply(job)
    sent = await send()
    if sent is not None:
        await record_reply(services, job, [], sent.message_id)
    return sent


async def detect_and_reply(
    bot: Bot,
    services: Services,
    message: Message,
    requester: User,
    wanted: ChatSettings | None = None,
    job: Work | None = None,
) -> None:
    """The whole answer to one photo: limits, chat action, detection, reply, record.
    `wanted`: the chat's settings when the caller already read them."""
    tr = await translator_for(services, requester, message.chat)
    try:
        image_source(message)
    except NotAnImage as exc:
        services.metrics.errors.labels(kind=exc.kind).inc()
        refusal = tr.gettext(exc.user_message)
        await reply_once(services, job, lambda: reply_text(bot, message, refusal))
        return
    if not await admit(bot, services, message, requester, 1, job, tr):
        return
    async with services.limiter.job():
        await show_uploading(bot, message.chat_id)
        if wanted is None:
            wanted = await chat_settings(services, message.chat_id)
        outcome = await detect(bot, services, message, requester, wanted, tr, job)
        await reply_with_outcome(bot, services, outcome, tr, job)


async def admit(
    bot: Bot,
    services: Services,
    message: Message,
    requester: User,
    photos: int,
    job: Work | None,
    tr: Translator,
) -> bool:
    """The per-person limits (anonymous senders count per chat), counted in the database for
    every replica. Over the short-term rate the update waits in the inbox (one "queued"
    notice); over the hourly cap the person is told when to come back. True: go ahead now."""
    settings = services.settings
    identity = requester_of(message)
    try:
        admission = await services.repository.limits.admit_photos(
            identity.key if identity is not None else requester.id,
            photos,
            per_minute=settings.user_rate_limit_per_minute,
            per_hour=settings.user_hourly_limit,
        )
    except Exception:
        database_error(services, "admit_photos")
        return True
    if admission.admitted:
        return True
    if admission.wait_until is not None:
        if job is None:
            return True
        services.metrics.errors.labels(kind="user_rate_deferred").inc()
        if not job.notice_sent:
            job.notice_sent = True
            await _notify_queued(bot, message, tr)
        try:
            await job.defer(admission.wait_until)
        except Exception:
            database_error(services, "deferring an update")
        return not job.deferred
    assert admission.retry_at is not None
    services.metrics.errors.labels(kind="user_hourly_cap").inc()
    minutes = max(1, math.ceil((admission.retry_at - utc_now()).total_seconds() / 60))
    text = tr.gettext(HOURLY_CAP_TEXT).format(
        minutes=tr.number(minutes), at=admission.retry_at.strftime("%H:%M")
    )
    await reply_once(services, job, lambda: reply_text(bot, message, text))
    return False


async def show_uploading(bot: Bot, chat_id: int) -> None:
    """ "Sending photo…" in the chat's header; best effort, never fails the detection."""
    try:
        await bot.send_chat_action(chat_id, ChatAction.UPLOAD_PHOTO)
    except TelegramError:
        logger.debug("chat action failed", exc_info=True)


def outcome_text(outcome: Outcome, tr: Translator) -> str:
    """The caption of a detected photo, or the failure's line, in the reader's language."""
    if outcome.result is None:
        assert outcome.error is not None
        return tr.gettext(outcome.error.user_message)
    result = outcome.result
    return caption(result.counts, result.min_score, result.classes, tr)


async def reply_with_outcome(
    bot: Bot, services: Services, outcome: Outcome, tr: Translator, job: Work | None = None
) -> None:
    message = outcome.message
    if outcome.result is None:
        text = outcome_text(outcome, tr)
        await reply_once(services, job, lambda: reply_text(bot, message, text))
        return
    result = outcome.result
    markup = (
        rating_keyboard(services.settings, message.chat_id, outcome.detection_id)
        if outcome.detection_id is not None
        else None
    )
    await sending_reply(job)
    sent = await send_with_retry(
        lambda: bot.send_photo(
            message.chat_id,
            result.annotated_jpeg,
            caption=outcome_text(outcome, tr),
            reply_parameters=reply_parameters(message),
            reply_markup=markup,
        ),
        what=f"sendPhoto to chat {message.chat_id}",
        services=services,
    )
    services.metrics.total_seconds.observe(time.perf_counter() - outcome.started)
    if sent is not None:
        await record_reply(services, job, [(outcome.detection_id, sent)], sent.message_id)
