"""/history: the person's last 10 detections with their counts and dates.

An anonymous admin or a channel sees only the detections of the chat it asks in.
"""

from __future__ import annotations

from telegram import Update

from bot.detection.summary import format_counts
from bot.identity import requester_of
from db.records import HistoryItem
from handlers.common import Context, database_error, get_services, reply_text

HISTORY_LIMIT = 10
EMPTY_TEXT = "No detections yet. Send me a photo!"
UNAVAILABLE_TEXT = "Your history is unavailable right now. Please try again later."


def history_line(item: HistoryItem) -> str:
    when = item.created_at.strftime("%Y-%m-%d %H:%M UTC")
    if item.status == "failed":
        what = f"failed ({(item.error_kind or 'error').replace('_', ' ')})"
    else:
        what = format_counts(item.counts) or "nothing found"
    return f"{when} — {what}"


async def history(update: Update, context: Context) -> None:
    message = update.effective_message
    if message is None:
        return
    requester = requester_of(message)
    if requester is None:
        return
    services = get_services(context)
    try:
        items = await services.repository.history(
            requester.user_id, limit=HISTORY_LIMIT, chat_id=requester.history_chat_id
        )
    except Exception:
        database_error(services, "history")
        await reply_text(context.bot, message, UNAVAILABLE_TEXT)
        return
    if not items:
        await reply_text(context.bot, message, EMPTY_TEXT)
        return
    lines = [f"Your last {len(items)} detections:"] + [history_line(i) for i in items]
    await reply_text(context.bot, message, "\n".join(lines))
