"""/feedback <text>, or /feedback and then the next message (/cancel stops waiting).

The waiting state is a database row with an expiry (FEEDBACK_WAIT_S), so the next message is
taken as feedback by whichever replica receives it. `/feedback <text>` is always recorded,
whatever an earlier bare /feedback left behind. Feedback is capped per person and hour.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from telegram import Update
from telegram.ext import ApplicationHandlerStop, CommandHandler, MessageHandler, filters

from bot.database_errors import database_error
from bot.i18n import N_
from bot.telegram_send import reply_text
from db.errors import Forgotten
from db.types import utc_now
from handlers.common import Context, get_services
from handlers.language import update_translator

MAX_FEEDBACK_CHARS = 4000
FOLLOW_UP_GROUP = -1
"""Runs before the other handlers, so the answer to a bare /feedback is not taken as a photo
caption or a chat message; anything else carries on to them."""

ASK_TEXT = N_("What would you like to tell us? Send it as one message, or /cancel.")
THANKS_TEXT = N_("Thanks for your feedback!")
CANCELLED_TEXT = N_("Okay, no feedback sent.")
EXPIRED_TEXT = N_(
    "That came long after /feedback, so I didn't send it as feedback. "
    "Send /feedback again if you meant it."
)
FAILED_TEXT = N_("Sorry, I couldn't save that right now. Please try again later.")
CAPPED_TEXT = N_(
    "Thanks, that's a lot of feedback for one hour! Please send more in {minutes} min."
)


async def _save(update: Update, context: Context, text: str) -> None:
    message = update.effective_message
    user = update.effective_user
    if message is None or user is None:
        return
    services = get_services(context)
    tr = await update_translator(update, context)
    job = services.jobs.of(update)
    try:
        again_at = await services.repository.limits.feedback_allowed(
            user.id, services.settings.feedback_hourly_limit
        )
        if again_at is not None:
            await reply_text(
                context.bot,
                message,
                tr.gettext(CAPPED_TEXT).format(minutes=tr.number(_minutes(again_at))),
            )
            return
        await services.repository.feedback.add(
            user.id,
            text[:MAX_FEEDBACK_CHARS],
            requested_at=job.received_at if job is not None else None,
        )
    except Forgotten:
        return
    except Exception:
        database_error(services, "add_feedback")
        await reply_text(context.bot, message, tr.gettext(FAILED_TEXT))
        return
    await reply_text(context.bot, message, tr.gettext(THANKS_TEXT))


def _minutes(at: datetime) -> int:
    return max(1, int((at - utc_now()).total_seconds() // 60) + 1)


async def feedback_command(update: Update, context: Context) -> None:
    message = update.effective_message
    user = update.effective_user
    if message is None or user is None:
        return
    services = get_services(context)
    tr = await update_translator(update, context)
    text = " ".join(context.args or ()).strip()
    try:
        if text:
            await services.repository.prompts.cancel(user.id, message.chat_id)
        else:
            wait = timedelta(seconds=services.settings.feedback_wait_s)
            await services.repository.prompts.ask(user.id, message.chat_id, wait)
    except Exception:
        database_error(services, "feedback prompt")
        if not text:
            await reply_text(context.bot, message, tr.gettext(FAILED_TEXT))
            return
    if text:
        await _save(update, context, text)
    else:
        await reply_text(context.bot, message, tr.gettext(ASK_TEXT))


async def feedback_text(update: Update, context: Context) -> None:
    """A text message: feedback when the sender's bare /feedback waits for it in this chat
    (told it came too late after FEEDBACK_WAIT_S); otherwise the other handlers see it."""
    message = update.effective_message
    user = update.effective_user
    if message is None or user is None or not message.text:
        return
    services = get_services(context)
    try:
        prompt = await services.repository.prompts.take(user.id, message.chat_id)
    except Exception:
        database_error(services, "reading the feedback prompt")
        return
    if prompt is None:
        return
    if prompt.expired:
        tr = await update_translator(update, context)
        await reply_text(context.bot, message, tr.gettext(EXPIRED_TEXT))
    else:
        await _save(update, context, message.text)
    raise ApplicationHandlerStop


async def cancel(update: Update, context: Context) -> None:
    message = update.effective_message
    user = update.effective_user
    if message is None or user is None:
        return
    services = get_services(context)
    try:
        await services.repository.prompts.cancel(user.id, message.chat_id)
    except Exception:
        database_error(services, "cancelling the feedback prompt")
    tr = await update_translator(update, context)
    await reply_text(context.bot, message, tr.gettext(CANCELLED_TEXT))


def feedback_handlers() -> list[
    tuple[CommandHandler[Context, None] | MessageHandler[Context, None], int]
]:
    """(handler, group) pairs: the follow-up listens before everything else (FOLLOW_UP_GROUP)."""
    new = filters.UpdateType.MESSAGE
    return [
        (CommandHandler("feedback", feedback_command, filters=new), 0),
        (CommandHandler("cancel", cancel, filters=new), 0),
        (MessageHandler(new & filters.TEXT & ~filters.COMMAND, feedback_text), FOLLOW_UP_GROUP),
    ]
