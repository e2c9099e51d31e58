"""`/detect` sent as a reply to a photo (captions holding it: `bot.workflow.triggers`)."""

from __future__ import annotations

from telegram import Update

from bot.i18n import N_
from bot.telegram_send import reply_text
from bot.workflow.image_source import has_image
from bot.workflow.photo import answer_detect_command
from handlers.common import Context, get_services
from handlers.language import update_translator

NOT_A_REPLY_TEXT = N_("Reply /detect to a photo and I'll find the objects in it.")


async def detect_command(update: Update, context: Context) -> None:
    """`/detect` in reply to a photo: detect that photo and answer it (not the command)."""
    message = update.effective_message
    if message is None or message.from_user is None:
        return
    target = message.reply_to_message
    if target is None or not has_image(target):
        tr = await update_translator(update, context)
        await reply_text(context.bot, message, tr.gettext(NOT_A_REPLY_TEXT))
        return
    services = get_services(context)
    job = services.jobs.of(update)
    await answer_detect_command(context.bot, services, target, message.from_user, job)
