"""/start: the user is already registered by the update tracker; explain the bot in two lines."""

from __future__ import annotations

from telegram import Update

from bot.i18n import N_
from bot.telegram_send import reply_text
from handlers.common import Context
from handlers.language import update_translator

START_TEXT = N_(
    "Hi! Send me a photo and I'll mark the objects I find and count them.\n"
    "In groups, reply /detect to a photo or mention me in its caption. /help lists everything."
)


async def start(update: Update, context: Context) -> None:
    if update.effective_message is not None:
        tr = await update_translator(update, context)
        await reply_text(context.bot, update.effective_message, tr.gettext(START_TEXT))
