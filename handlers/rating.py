"""The 👍/👎 buttons under an answer: one rating per person and detection; pressing the other
button changes it."""

from __future__ import annotations

import re

from telegram import Update

from handlers.common import Context, database_error, get_services
from handlers.detection import RATE_CALLBACK_PREFIX

RATE_PATTERN = re.compile(rf"^{RATE_CALLBACK_PREFIX}:(\d+):(-?1)$")


async def rate(update: Update, context: Context) -> None:
    query = update.callback_query
    if query is None or query.data is None:
        return
    match = RATE_PATTERN.match(query.data)
    if match is None:
        await query.answer()
        return
    detection_id, rating = int(match.group(1)), int(match.group(2))
    services = get_services(context)
    try:
        known = await services.repository.set_rating(query.from_user.id, detection_id, rating)
    except Exception:
        database_error(services, "set_rating")
        await query.answer("Sorry, I couldn't save that right now.")
        return
    await query.answer("Thanks!" if known else "That detection no longer exists.")
