"""/stats for ADMIN_IDS: totals, top classes, latency, failure rate, and a chart image.

The figures name people from every chat, so they are only ever sent to an admin's private chat.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from telegram import Bot, Chat, Message, Update
from telegram.error import TelegramError

from bot.charts import ModelChartRow, render_stats_chart
from bot.database_errors import database_error
from bot.i18n import N_, Translator
from bot.model_report import arm_name, model_report, thumbs_share
from bot.reply_language import translator_for
from bot.services import Services
from bot.telegram_send import reply_parameters, reply_text, send_with_retry
from db.records import ModelVersionStats, Stats
from handlers.common import Context, get_services
from handlers.language import update_translator

logger = logging.getLogger(__name__)

REFUSAL_TEXT = N_("Sorry, /stats is only for the bot's admins.")
SENT_PRIVATELY_TEXT = N_("I sent the statistics to our private chat.")
OPEN_PRIVATE_TEXT = N_(
    "Statistics are shown only in a private chat: open one with me and send /stats."
)
UNAVAILABLE_TEXT = N_("Statistics are unavailable right now: the database is not answering.")
STATS_DAYS = 30
TOP_CLASSES = 10


def _ms(value: float | None, tr: Translator) -> str:
    if value is None:
        return tr.gettext("n/a")
    return tr.gettext("{milliseconds} ms").format(milliseconds=tr.number(round(value)))


def stats_text(stats: Stats, tr: Translator) -> str:
    """The figures in the reader's language, numbers in their locale's digits."""
    n = tr.number
    attempts = stats.detections_ok + stats.detections_failed
    failure_rate = (
        tr.percent(round(stats.detections_failed / attempts, 3)) if attempts else tr.gettext("n/a")
    )
    top = ", ".join(
        f"{tr.label(label)} {n(count)}" for label, count in stats.per_class[:TOP_CLASSES]
    )
    lines = [
        tr.gettext("DetectX statistics"),
        tr.gettext("Users: {users} · chats: {chats}").format(
            users=n(stats.users), chats=n(stats.chats)
        ),
        tr.gettext("Detections: {ok} ok, {failed} failed (failure rate {rate})").format(
            ok=n(stats.detections_ok), failed=n(stats.detections_failed), rate=failure_rate
        ),
        tr.gettext("Objects found: {count}").format(count=n(stats.objects)),
        tr.gettext("Top classes: {classes}").format(classes=top or tr.gettext("none yet")),
        tr.gettext("Inference: avg {average}, p95 {p95}").format(
            average=_ms(stats.avg_inference_ms, tr), p95=_ms(stats.p95_inference_ms, tr)
        ),
    ]
    if stats.top_users:
        users = ", ".join(
            f"{('@' + name) if name else uid} {n(count)}"
            for uid, name, count in stats.top_users[:5]
        )
        lines.append(tr.gettext("Most active: {users}").format(users=users))
    return "\n".join(lines)


async def stats(update: Update, context: Context) -> None:
    """Admins get the figures in their private chat; in a group only a one-line pointer."""
    message = update.effective_message
    user = update.effective_user
    if message is None or user is None:
        return
    services = get_services(context)
    tr = await update_translator(update, context)
    if user.id not in services.settings.admin_ids:
        await reply_text(context.bot, message, tr.gettext(REFUSAL_TEXT))
        return
    if message.chat.type != Chat.PRIVATE:
        private = await translator_for(services, user, None)
        sent = await send_stats(context.bot, services, user.id, private)
        notice = SENT_PRIVATELY_TEXT if sent else OPEN_PRIVATE_TEXT
        await reply_text(context.bot, message, tr.gettext(notice))
        return
    await send_stats(context.bot, services, message.chat_id, tr, reply_to=message)


def model_chart_rows(arms: list[ModelVersionStats]) -> list[ModelChartRow]:
    rows: list[ModelChartRow] = []
    for arm in arms:
        share = thumbs_share(arm)
        thumbs = (share.value, share.low, share.high) if share.value is not None else None
        rows.append((arm_name(arm), arm.median_inference_ms, thumbs))
    return rows


async def send_stats(
    bot: Bot, services: Services, chat_id: int, tr: Translator, reply_to: Message | None = None
) -> bool:
    """The figures and the chart to `chat_id`; False when Telegram refused the text there (the
    admin never opened a private chat with the bot, or blocked it)."""
    replying = reply_parameters(reply_to) if reply_to is not None else None
    numbers: Stats | None = None
    arms: list[ModelVersionStats] = []
    try:
        numbers = await services.repository.stats.overview(days=STATS_DAYS, top=TOP_CLASSES)
        arms = await services.repository.stats.per_model(days=STATS_DAYS)
    except Exception:
        database_error(services, "stats")
    text = tr.gettext(UNAVAILABLE_TEXT) if numbers is None else stats_text(numbers, tr)
    report = model_report(arms, services.settings.default_model, STATS_DAYS, tr)
    if report is not None:
        text = f"{text}\n\n{report}"
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
        tr=tr,
        models=model_chart_rows(arms),
    )
    await send_with_retry(
        lambda: bot.send_photo(
            chat_id,
            chart,
            caption=tr.ngettext(
                "Detections per day (last {days} day) and top classes",
                "Detections per day (last {days} days) and top classes",
                STATS_DAYS,
            ).format(days=tr.number(STATS_DAYS)),
            reply_parameters=replying,
        ),
        what="stats chart",
        services=services,
    )
    return True
