"""👍/👎 presses: a rating counts when its button was signed for the chat it came from
(`bot.rating_buttons`), one per person and detection."""

from __future__ import annotations

from telegram import Update

from bot.database_errors import database_error
from bot.i18n import N_
from bot.rating_buttons import parse_rating_data, rating_key
from handlers.common import Context, get_services
from handlers.language import update_translator

THANKS_TEXT = N_("Thanks!")
NOT_COUNTED_TEXT = N_("Sorry, I can't record a rating for that.")
UNAVAILABLE_TEXT = N_("Sorry, I couldn't save that right now.")


async def rate(update: Update, context: Context) -> None:
    query = update.callback_query
    if query is None or query.data is None:
        return
    services = get_services(context)
    tr = await update_translator(update, context)
    chat_id = query.message.chat.id if query.message is not None else None
    parsed = (
        parse_rating_data(rating_key(services.settings), chat_id, query.data)
        if chat_id is not None
        else None
    )
    if chat_id is None or parsed is None:
        await query.answer(tr.gettext(NOT_COUNTED_TEXT))
        return
    detection_id, rating = parsed
    try:
        counted = await services.repository.feedback.rate(
            query.from_user.id, detection_id, rating, chat_id=chat_id
        )
    except Exception:
        database_error(services, "set_rating")
        await query.answer(tr.gettext(UNAVAILABLE_TEXT))
        return
    await query.answer(tr.gettext(THANKS_TEXT if counted else NOT_COUNTED_TEXT))
