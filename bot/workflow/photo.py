"""The whole answer to one photo: whether to answer, limits, chat action, detection, reply."""

from __future__ import annotations

from telegram import Bot, Message, User

from bot.detection.errors import NotAnImage
from bot.inbox import Work
from bot.reply_language import translator_for
from bot.services import Services
from bot.telegram_send import reply_text
from bot.workflow.admission import admit
from bot.workflow.chat_settings import read_chat_settings
from bot.workflow.detect import detect_photo
from bot.workflow.image_source import image_source
from bot.workflow.replies import reply_with_outcome, show_uploading
from bot.workflow.reply_record import reply_once
from bot.workflow.triggers import should_answer
from db.records import ChatSettings


async def answer_photo(
    bot: Bot, services: Services, message: Message, requester: User, job: Work | None
) -> None:
    """A photo or document as it arrives, answered when `should_answer` says so."""
    chat_settings = await read_chat_settings(services, message.chat_id)
    if should_answer([message], chat_settings, bot_username=bot.username, bot_id=bot.id):
        await detect_and_reply(bot, services, message, requester, chat_settings, job)


async def answer_detect_command(
    bot: Bot, services: Services, photo: Message, requester: User, job: Work | None
) -> None:
    """`/detect` sent by `requester` in reply to `photo`: the command is the trigger."""
    chat_settings = await read_chat_settings(services, photo.chat_id)
    await detect_and_reply(bot, services, photo, requester, chat_settings, job)


async def detect_and_reply(
    bot: Bot,
    services: Services,
    message: Message,
    requester: User,
    chat_settings: ChatSettings,
    job: Work | None,
) -> None:
    """A file that is not an image gets a short refusal, without counting against any limit."""
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
    async with services.detection_slots.job():
        await show_uploading(bot, message.chat_id)
        outcome = await detect_photo(bot, services, message, requester, chat_settings, tr, job)
        await reply_with_outcome(bot, services, outcome, tr, job)
