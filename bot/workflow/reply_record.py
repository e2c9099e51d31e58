"""Marking a reply as being sent and as sent, so a takeover never sends it again."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from telegram import Message

from bot.database_errors import database_error
from bot.inbox import Work
from bot.services import Services

logger = logging.getLogger(__name__)

RECORD_REPLY_PAUSE_S = 0.5
RECORD_REPLY_PATIENCE_S = 300.0
"""A reply that went out is recorded even through a database outage of a few minutes: until it
is, a takeover would send it again."""


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
            if (
                await services.repository.detections.record_reply(files, lease, reply_message_id)
                and lease
            ):
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
    services: Services,
    job: Work | None,
    send: Callable[[], Awaitable[Message | None]],
    *,
    marked: bool = False,
) -> Message | None:
    """Send a text reply that finishes the job, marked before (unless already `marked`) and
    after like a photo."""
    if not marked:
        await sending_reply(job)
    sent = await send()
    if sent is not None:
        await record_reply(services, job, [], sent.message_id)
    return sent
