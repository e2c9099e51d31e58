"""Albums: items arrive as separate updates, possibly at different replicas. Each is added to its
album in the database; once the album has been quiet for ALBUM_QUIET_S, one replica's worker
claims it and every photo is detected; the answer is one media group of annotated photos plus one
summary message with per-photo counts."""

from __future__ import annotations

import asyncio
import json
import logging
import time

from telegram import Bot, InlineKeyboardMarkup, InputMediaPhoto, Message, Update, User
from telegram.constants import ChatType

from bot.i18n import Translator
from bot.inbox import Work
from bot.services import Services
from db.albums import album_key
from handlers.common import database_error, reply_parameters, send_with_retry
from handlers.detect_command import asks_for_detection
from handlers.detection import (
    Outcome,
    admit,
    chat_settings,
    detect,
    outcome_text,
    record_reply,
    reply_with_outcome,
    sending_reply,
    show_uploading,
)
from handlers.language import translator_for
from handlers.rating import rating_buttons

logger = logging.getLogger(__name__)

MAX_MEDIA_GROUP = 10


async def collect_album_item(bot: Bot, services: Services, update: Update) -> bool:
    """Add this item to its album in the database; False when the album was already being
    answered (the item came late) or the database is down, so the caller answers it alone."""
    message = update.effective_message
    assert message is not None and message.media_group_id is not None
    requester = message.from_user
    try:
        return await services.repository.albums.add_item(
            album_key(message.chat_id, message.media_group_id),
            chat_id=message.chat_id,
            user_id=requester.id if requester is not None else message.chat_id,
            message_id=message.message_id,
            update_id=update.update_id,
            payload=json.dumps(update.to_dict(), ensure_ascii=False, separators=(",", ":")),
            quiet_s=services.settings.album_quiet_s,
        )
    except Exception:
        database_error(services, "collecting an album item")
        return False


def album_messages(bot: Bot, payloads: list[dict[str, object]]) -> list[Message]:
    messages = []
    for payload in payloads:
        update = Update.de_json(payload, bot)
        if update is not None and update.effective_message is not None:
            messages.append(update.effective_message)
    return messages


async def answer_album(
    bot: Bot, services: Services, items: list[Message], job: Work | None = None
) -> None:
    items = sorted(items, key=lambda m: m.message_id)
    photos = [m for m in items if m.photo or m.document is not None]
    first = photos[0] if photos else None
    if first is None or first.from_user is None:
        return
    requester: User = first.from_user
    wanted = await chat_settings(services, first.chat_id)
    if (
        first.chat.type != ChatType.PRIVATE
        and not wanted.auto_mode
        and not any(asks_for_detection(m, bot.username, bot.id) for m in items)
    ):
        return
    tr = await translator_for(services, requester, first.chat)
    if not await admit(bot, services, first, requester, len(photos), job, tr):
        return
    async with services.limiter.job():
        await show_uploading(bot, first.chat_id)
        if len(photos) == 1:
            outcome = await detect(bot, services, first, requester, wanted, tr, job)
            await reply_with_outcome(bot, services, outcome, tr, job)
            return
        outcomes = await asyncio.gather(
            *(detect(bot, services, m, requester, wanted, tr, job) for m in photos)
        )
        await _send_album_answer(bot, services, first, list(outcomes), tr, job)


async def _send_album_answer(
    bot: Bot,
    services: Services,
    first: Message,
    outcomes: list[Outcome],
    tr: Translator,
    job: Work | None,
) -> None:
    numbered = {id(o): n for n, o in enumerate(outcomes, start=1)}
    done = [(o, o.result) for o in outcomes if o.result is not None]
    await sending_reply(job)
    for chunk_start in range(0, len(done), MAX_MEDIA_GROUP):
        chunk = done[chunk_start : chunk_start + MAX_MEDIA_GROUP]
        if len(chunk) == 1:
            await _send_single(bot, services, chunk[0][0], tr)
            continue
        first_outcome = chunk[0][0]
        caption = f"{numbered[id(first_outcome)]}. {outcome_text(first_outcome, tr)}"
        media = [
            InputMediaPhoto(result.annotated_jpeg, caption=caption if i == 0 else None)
            for i, (_, result) in enumerate(chunk)
        ]

        async def send(media: list[InputMediaPhoto] = media) -> tuple[Message, ...]:
            return await bot.send_media_group(
                first.chat_id, media, reply_parameters=reply_parameters(first)
            )

        sent = await send_with_retry(
            send, what=f"sendMediaGroup to chat {first.chat_id}", services=services
        )
        now = time.perf_counter()
        for outcome, _ in chunk:
            services.metrics.total_seconds.observe(now - outcome.started)
        if sent:
            replies = [
                (outcome.detection_id, message)
                for (outcome, _), message in zip(chunk, sent, strict=False)
            ]
            await record_reply(services, None, replies, None)
    lines = []
    for number, outcome in enumerate(outcomes, start=1):
        if outcome.result is not None or outcome.error is not None:
            lines.append(f"{number}. {outcome_text(outcome, tr)}")
    ratings = [
        rating_buttons(services.settings, first.chat_id, outcome.detection_id, f"{number} ")
        for number, outcome in enumerate(outcomes, start=1)
        if outcome.detection_id is not None
    ]
    summary = await send_with_retry(
        lambda: bot.send_message(
            first.chat_id,
            "\n".join(lines)[:4096],
            reply_parameters=reply_parameters(first),
            reply_markup=InlineKeyboardMarkup(ratings) if ratings else None,
        ),
        what=f"album summary to chat {first.chat_id}",
        services=services,
    )
    await record_reply(services, job, [], summary.message_id if summary is not None else None)


async def _send_single(bot: Bot, services: Services, outcome: Outcome, tr: Translator) -> None:
    """The one photo of a chunk that came out alone: as a photo, not a media group."""
    await reply_with_outcome(bot, services, outcome, tr, None)
