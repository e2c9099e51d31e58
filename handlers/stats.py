"""/stats for ADMIN_IDS: totals, top classes, latency, failure rate, and a chart image.

The figures name people from every chat, so they are only ever sent to an admin's private chat.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from telegram import Bot, Chat, Message, Update
from telegram.error import TelegramError

from bot.charts import render_stats_chart
from bot.services import Services
from db.records import Stats
from handlers.common import (
    Context,
    database_error,
    get_services,
    reply_parameters,
    reply_text,
    send_with_retry,
)

logger = logging.getLogger(__name__)

REFUSAL_TEXT = "Sorry, /stats is only for the bot's admins."
SENT_PRIVATELY_TEXT = "I sent the statistics to our private chat."
OPEN_PRIVATE_TEXT = "Statistics are shown only in a private chat: open one with me and send /stats."
UNAVAILABLE_TEXT = "Statistics are unavailable right now: the database is not answering."
STATS_DAYS = 30
TOP_CLASSES = 10


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f} ms"


def stats_text(stats: Stats) -> str:
    attempts = stats.detections_ok + stats.detections_failed
    failure_rate = f"{100 * stats.detections_failed / attempts:.1f}%" if attempts else "n/a"
    top = ", ".join(f"{label} {n}" for label, n in stats.per_class[:TOP_CLASSES]) or "none yet"
    lines = [
        "DetectX statistics",
        f"Users: {stats.users} · chats: {stats.chats}",
        f"Detections: {stats.detections_ok} ok, {stats.detections_failed} failed "
        f"(failure rate {failure_rate})",
        f"Objects found: {stats.objects}",
        f"Top classes: {top}",
        f"Inference: avg {_ms(stats.avg_inference_ms)}, p95 {_ms(stats.p95_inference_ms)}",
    ]
    if stats.top_users:
        users = ", ".join(
            f"{('@' + name) if name else uid} {n}" for uid, name, n in stats.top_users[:5]
        )
        lines.append(f"Most active: {users}")
    return "\n".join(lines)


async def stats(update: Update, context: Context) -> None:
    """Admins get the figures in their private chat; in a group only a one-line pointer."""
    message = update.effective_message
    user = update.effective_user
    if message is None or user is None:
        return
    services = get_services(context)
    if user.id not in services.settings.admin_ids:
        await reply_text(context.bot, message, REFUSAL_TEXT)
        return
    if message.chat.type != Chat.PRIVATE:
        sent = await send_stats(context.bot, services, user.id)
        await reply_text(context.bot, message, SENT_PRIVATELY_TEXT if sent else OPEN_PRIVATE_TEXT)
        return
    await send_stats(context.bot, services, message.chat_id, reply_to=message)


async def send_stats(
    bot: Bot, services: Services, chat_id: int, reply_to: Message | None = None
) -> bool:
    """The figures and the chart to `chat_id`; False when Telegram refused the text there (the
    admin never opened a private chat with the bot, or blocked it)."""
    replying = reply_parameters(reply_to) if reply_to is not None else None
    numbers: Stats | None = None
    try:
        numbers = await services.repository.stats(days=STATS_DAYS, top=TOP_CLASSES)
    except Exception:
        database_error(services, "stats")
    text = UNAVAILABLE_TEXT if numbers is None else stats_text(numbers)
    try:
        await bot.send_message(chat_id, text, reply_parameters=replying)
    except TelegramError as exc:
        logger.warning("could not send statistics to chat %s: %s", chat_id, exc)
        return False
    if numbers is None:
        return True
    chart = await asyncio.to_thread(
        render_stats_chart,
        numbers.per_day,
        numbers.per_class[:TOP_CLASSES],
        last_day=datetime.now(UTC).date(),
        days=STATS_DAYS,
    )
    await send_with_retry(
        lambda: bot.send_photo(
            chat_id,
            chart,
            caption=f"Detections per day (last {STATS_DAYS} days) and top classes",
            reply_parameters=replying,
        ),
        what="stats chart",
        services=services,
    )
    return True
