"""The whole answer to one photo: whether to answer, limits, chat action, detection, reply."""

from __future__ import annotations

import asyncio

from telegram import Bot, Message, User

from bot.detection.errors import NotAnImage
from bot.inbox import Work
from bot.services import Services
from bot.telegram_send import reply_text
from bot.workflow.admission import go_ahead
from bot.workflow.detect import detect_photo
from bot.workflow.image_source import holds_image, image_source
from bot.workflow.replies import reply_with_outcome, show_uploading
from bot.workflow.reply_record import reply_once
from bot.workflow.request import open_request


async def answer_photo(
    bot: Bot, services: Services, message: Message, requester: User, job: Work | None
) -> None:
    """A photo or document as it arrives, answered when `should_answer` says so."""
    await detect_and_reply(bot, services, message, requester, job, asked=False)


async def answer_detect_command(
    bot: Bot, services: Services, photo: Message, requester: User, job: Work | None
) -> None:
    """`/detect` sent by `requester` in reply to `photo`: the command is the trigger."""
    await detect_and_reply(bot, services, photo, requester, job, asked=True)


async def detect_and_reply(
    bot: Bot,
    services: Services,
    message: Message,
    requester: User,
    job: Work | None,
    *,
    asked: bool,
) -> None:
    """A file that is not an image gets a short refusal, without counting against any limit."""
    is_image = holds_image(message)
    request = await open_request(
        bot, services, [message], requester, 1 if is_image else 0, asked=asked
    )
    if not request.answers:
        return
    tr = request.tr
    try:
        image_source(message)
    except NotAnImage as exc:
        services.metrics.errors.labels(kind=exc.kind).inc()
        refusal = tr.gettext(exc.user_message)
        await reply_once(services, job, lambda: reply_text(bot, message, refusal))
        return
    if not await go_ahead(bot, services, message, request.admission, job, tr):
        return
    async with services.detection_slots.job():
        uploading = asyncio.create_task(show_uploading(bot, message.chat_id))
        outcome = await detect_photo(
            bot, services, message, requester, request.chat_settings, tr, job
        )
        await uploading
        await reply_with_outcome(bot, services, outcome, tr, job)
