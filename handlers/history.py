"""/history: the person's last 10 detections with their counts and dates.

An anonymous admin or a channel sees only the detections of the chat it asks in.
"""

from __future__ import annotations

from telegram import Update

from bot.database_errors import database_error
from bot.detection.errors import short_message_for
from bot.detection.summary import format_counts
from bot.i18n import N_, Translator
from bot.identity import requester_of
from bot.telegram_send import reply_text
from db.records import HistoryItem
from handlers.common import Context, get_services
from handlers.language import update_translator

HISTORY_LIMIT = 10
EMPTY_TEXT = N_("No detections yet. Send me a photo!")
UNAVAILABLE_TEXT = N_("Your history is unavailable right now. Please try again later.")


def history_line(item: HistoryItem, tr: Translator) -> str:
    """ "1 Dec 2026, 10:05 UTC — 2 × person": the date in the reader's locale and language."""
    when = tr.moment(item.created_at)
    if item.status == "failed":
        reason = tr.gettext(short_message_for(item.error_kind))
        what = tr.gettext("failed: {reason}").format(reason=reason)
    else:
        what = format_counts(item.counts, tr) or tr.gettext("nothing found")
    return f"{when} — {what}"


async def history(update: Update, context: Context) -> None:
    message = update.effective_message
    if message is None:
        return
    requester = requester_of(message)
    if requester is None:
        return
    services = get_services(context)
    tr = await update_translator(update, context)
    try:
        items = await services.repository.detections.history(
            requester.user_id, limit=HISTORY_LIMIT, chat_id=requester.history_chat_id
        )
    except Exception:
        database_error(services, "history")
        await reply_text(context.bot, message, tr.gettext(UNAVAILABLE_TEXT))
        return
    if not items:
        await reply_text(context.bot, message, tr.gettext(EMPTY_TEXT))
        return
    heading = tr.ngettext(
        "Your last detection:", "Your last {count} detections:", len(items)
    ).format(count=tr.number(len(items)))
    lines = [heading] + [history_line(i, tr) for i in items]
    await reply_text(context.bot, message, "\n".join(lines))
