"""/feedback <text>, or /feedback and then the next message (a conversation that /cancel ends)."""

from __future__ import annotations

import time

from telegram import Update
from telegram.ext import CommandHandler, ConversationHandler, MessageHandler, filters

from bot.i18n import N_
from handlers.common import Context, database_error, get_services, reply_text
from handlers.language import update_translator

WAITING_FOR_TEXT = 1
MAX_FEEDBACK_CHARS = 4000

ASK_TEXT = N_("What would you like to tell us? Send it as one message, or /cancel.")
THANKS_TEXT = N_("Thanks for your feedback!")
CANCELLED_TEXT = N_("Okay, no feedback sent.")
EXPIRED_TEXT = N_(
    "That came long after /feedback, so I didn't send it as feedback. "
    "Send /feedback again if you meant it."
)
ASKED_AT_KEY = "feedback_asked_at"
FAILED_TEXT = N_("Sorry, I couldn't save that right now. Please try again later.")


async def _save(update: Update, context: Context, text: str) -> None:
    message = update.effective_message
    user = update.effective_user
    if message is None or user is None:
        return
    services = get_services(context)
    tr = await update_translator(update, context)
    try:
        await services.repository.add_feedback(user.id, text[:MAX_FEEDBACK_CHARS])
    except Exception:
        database_error(services, "add_feedback")
        await reply_text(context.bot, message, tr.gettext(FAILED_TEXT))
        return
    await reply_text(context.bot, message, tr.gettext(THANKS_TEXT))


async def feedback_command(update: Update, context: Context) -> int:
    message = update.effective_message
    if message is None:
        return ConversationHandler.END
    text = " ".join(context.args or ()).strip()
    if text:
        await _save(update, context, text)
        return ConversationHandler.END
    tr = await update_translator(update, context)
    await reply_text(context.bot, message, tr.gettext(ASK_TEXT))
    if context.user_data is not None:
        context.user_data[ASKED_AT_KEY] = time.monotonic()
    return WAITING_FOR_TEXT


async def feedback_text(update: Update, context: Context) -> int:
    """The message after a bare /feedback, unless it came after FEEDBACK_WAIT_S: then the person
    has moved on, and is told their message was not taken as feedback."""
    message = update.effective_message
    if message is None or not message.text:
        return ConversationHandler.END
    asked_at = context.user_data.pop(ASKED_AT_KEY, None) if context.user_data is not None else None
    wait_s = get_services(context).settings.feedback_wait_s
    if asked_at is not None and time.monotonic() - asked_at > wait_s:
        tr = await update_translator(update, context)
        await reply_text(context.bot, message, tr.gettext(EXPIRED_TEXT))
        return ConversationHandler.END
    await _save(update, context, message.text)
    return ConversationHandler.END


async def cancel(update: Update, context: Context) -> int:
    if update.effective_message is not None:
        tr = await update_translator(update, context)
        await reply_text(context.bot, update.effective_message, tr.gettext(CANCELLED_TEXT))
    return ConversationHandler.END


def feedback_conversation() -> ConversationHandler[Context]:
    """Per user and per chat: in a group, only the person who typed /feedback is listened to."""
    return ConversationHandler(
        entry_points=[
            CommandHandler("feedback", feedback_command, filters=filters.UpdateType.MESSAGE)
        ],
        states={
            WAITING_FOR_TEXT: [
                MessageHandler(
                    filters.UpdateType.MESSAGE & filters.TEXT & ~filters.COMMAND, feedback_text
                )
            ],
        },
        fallbacks=[CommandHandler("cancel", cancel)],
        per_user=True,
        per_chat=True,
        name="feedback",
    )
