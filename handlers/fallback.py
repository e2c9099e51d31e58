"""Private messages no other handler took: nothing goes unanswered in a private chat."""

from __future__ import annotations

from telegram import Update
from telegram.ext import filters

from bot.detection.errors import NotAnImage
from bot.i18n import N_
from bot.telegram_send import reply_text
from handlers.common import Context
from handlers.language import update_translator

HINT_TEXT = N_("Send me a photo and I'll find the objects in it. /help shows what else I can do.")
OTHER_MEDIA = (
    filters.VIDEO
    | filters.ANIMATION
    | filters.AUDIO
    | filters.VOICE
    | filters.VIDEO_NOTE
    | filters.Sticker.ALL
)
PRIVATE_OTHER = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE


async def other_message(update: Update, context: Context) -> None:
    """Media that is not an image gets the not-an-image line; anything else a short hint."""
    message = update.effective_message
    if message is None:
        return
    tr = await update_translator(update, context)
    if OTHER_MEDIA.check_update(update):
        await reply_text(context.bot, message, tr.gettext(NotAnImage.user_message))
    else:
        await reply_text(context.bot, message, tr.gettext(HINT_TEXT))
