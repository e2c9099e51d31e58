"""/stats for ADMIN_IDS: totals, top classes, latency, failure rate, and a chart image."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from telegram import Update

from bot.charts import render_stats_chart
from db.records import Stats
from handlers.common import (
    Context,
    database_error,
    get_services,
    reply_parameters,
    reply_text,
    send_with_retry,
)

REFUSAL_TEXT = "Sorry, /stats is only for the bot's admins."
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
    message = update.effective_message
    user = update.effective_user
    if message is None or user is None:
        return
    services = get_services(context)
    if user.id not in services.settings.admin_ids:
        await reply_text(context.bot, message, REFUSAL_TEXT)
        return
    try:
        numbers = await services.repository.stats(days=STATS_DAYS, top=TOP_CLASSES)
    except Exception:
        database_error(services, "stats")
        await reply_text(context.bot, message, UNAVAILABLE_TEXT)
        return
    await reply_text(context.bot, message, stats_text(numbers))
    chart = await asyncio.to_thread(
        render_stats_chart,
        numbers.per_day,
        numbers.per_class[:TOP_CLASSES],
        last_day=datetime.now(UTC).date(),
        days=STATS_DAYS,
    )
    await send_with_retry(
        lambda: context.bot.send_photo(
            message.chat_id,
            chart,
            caption=f"Detections per day (last {STATS_DAYS} days) and top classes",
            reply_parameters=reply_parameters(message),
        ),
        what="stats chart",
        services=services,
    )
