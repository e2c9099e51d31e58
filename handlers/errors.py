"""The application's error handler: log with the update, count, and tell the person."""

from __future__ import annotations

import logging

from telegram import Update

from bot.i18n import N_
from bot.telegram_send import reply_text
from handlers.common import Context, get_services
from handlers.language import update_translator

logger = logging.getLogger(__name__)

SORRY_TEXT = N_("Sorry, something went wrong on my side. Please try again.")


async def on_error(update: object, context: Context) -> None:
    services = get_services(context)
    services.metrics.errors.labels(kind="handler").inc()
    update_id = update.update_id if isinstance(update, Update) else None
    logger.error("update %s: unhandled error", update_id, exc_info=context.error)
    if isinstance(update, Update) and update.effective_message is not None:
        if update.callback_query is not None:
            return
        tr = await update_translator(update, context)
        await reply_text(context.bot, update.effective_message, tr.gettext(SORRY_TEXT))
