"""/help: what the bot does and every command (the command menu is in handlers.menu)."""

from __future__ import annotations

from telegram import Update

from bot.i18n import N_
from bot.telegram_send import reply_text
from handlers.common import Context
from handlers.language import update_translator

HELP_TEXT = N_(
    "Send me a photo (or an image file: JPEG, PNG, WebP) and I'll answer with the objects I "
    "found marked on it and a count per class. Rate each answer with 👍 or 👎.\n\n"
    "In groups I only look when asked: reply /detect to a photo, or mention me or write /detect "
    "in a photo's caption. Group admins can turn on auto mode in /settings.\n\n"
    "/settings — confidence threshold, which classes to count, auto mode\n"
    "/history — your last 10 detections\n"
    "/language — the language I answer in\n"
    "/model — which model looks at your photos\n"
    "/feedback — send a message to the people running this bot\n"
    "/forget — delete everything I stored about you\n"
    "/stats — usage statistics (admins only)"
)


async def help_command(update: Update, context: Context) -> None:
    if update.effective_message is not None:
        tr = await update_translator(update, context)
        await reply_text(context.bot, update.effective_message, tr.gettext(HELP_TEXT))
