"""Applying the per-person limits to a photo or an album: go ahead, wait in the inbox, or refuse."""

from __future__ import annotations

from telegram import Bot, Message

from bot.database_errors import database_error
from bot.i18n import Translator
from bot.inbox import Work
from bot.limits.per_person import hourly_cap_text
from bot.services import Services
from bot.telegram_send import reply_text
from bot.workflow.replies import notify_queued_once
from bot.workflow.reply_record import reply_once
from db.limits import Admission


async def go_ahead(
    bot: Bot,
    services: Services,
    message: Message,
    admission: Admission | None,
    job: Work | None,
    tr: Translator,
) -> bool:
    """True: go ahead now (also when nothing was counted). Over the short-term rate the job is
    deferred in the inbox (one "queued" notice); over the hourly cap the person is told when to
    come back."""
    if admission is None or admission.admitted:
        return True
    if admission.wait_until is not None:
        if job is None:
            return True
        services.metrics.errors.labels(kind="user_rate_deferred").inc()
        await notify_queued_once(bot, message, tr, job)
        try:
            await job.defer(admission.wait_until)
        except Exception:
            database_error(services, "deferring an update")
        return not job.deferred
    assert admission.retry_at is not None
    services.metrics.errors.labels(kind="user_hourly_cap").inc()
    text = hourly_cap_text(admission.retry_at, tr)
    await reply_once(services, job, lambda: reply_text(bot, message, text))
    return False
