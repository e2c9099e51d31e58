"""What the person sees of their photo: the chat action, the "queued" notice, the answer."""

from __future__ import annotations

import logging
import time

from telegram import Bot, Message
from telegram.constants import ChatAction
from telegram.error import TelegramError

from bot.i18n import N_, Translator
from bot.inbox import Work
from bot.rating_buttons import rating_keyboard
from bot.services import Services
from bot.telegram_send import reply_parameters, reply_text, send_with_retry
from bot.workflow.outcome import PhotoOutcome, outcome_text
from bot.workflow.reply_record import record_reply, reply_once, sending_reply

logger = logging.getLogger(__name__)

QUEUED_TEXT = N_("Lots of photos right now: yours is queued, I'll answer shortly.")


async def show_uploading(bot: Bot, chat_id: int) -> None:
    """ "Sending photo…" in the chat's header; best effort, never fails the detection."""
    try:
        await bot.send_chat_action(chat_id, ChatAction.UPLOAD_PHOTO)
    except TelegramError:
        logger.debug("chat action failed", exc_info=True)


async def notify_queued_once(bot: Bot, message: Message, tr: Translator, job: Work | None) -> None:
    """The "queued" notice, at most once per job (every time without one)."""
    if job is not None:
        if job.notice_sent:
            return
        job.notice_sent = True
    await reply_text(bot, message, tr.gettext(QUEUED_TEXT))


async def reply_with_outcome(
    bot: Bot, services: Services, outcome: PhotoOutcome, tr: Translator, job: Work | None = None
) -> None:
    """The annotated photo with its caption and rating buttons, or the failure's line."""
    message = outcome.message
    if outcome.result is None:
        text = outcome_text(outcome, tr)
        await reply_once(
            services, job, lambda: reply_text(bot, message, text), marked=outcome.reply_marked
        )
        return
    result = outcome.result
    markup = (
        rating_keyboard(services.settings, message.chat_id, outcome.detection_id)
        if outcome.detection_id is not None
        else None
    )
    if not outcome.reply_marked:
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
