"""Albums: items arrive as separate updates; after a quiet period every photo is detected and the
answer is one media group of annotated photos plus one summary message with per-photo counts."""

from __future__ import annotations

import asyncio
import time

from telegram import Bot, InlineKeyboardMarkup, InputMediaPhoto, Message, User
from telegram.constants import ChatType

from bot.i18n import Translator
from bot.services import Services
from handlers.common import reply_parameters, send_with_retry
from handlers.detect_command import asks_for_detection
from handlers.detection import (
    Outcome,
    chat_settings,
    detect,
    outcome_text,
    reply_with_outcome,
    show_uploading,
    store_reply_file_id,
    within_rate_limit,
)
from handlers.language import translator_for
from handlers.rating import rating_buttons

MAX_MEDIA_GROUP = 10


def collect_album_item(bot: Bot, services: Services, message: Message) -> None:
    """Remember one album item; the album is answered once no item came for `album_quiet_s`."""
    assert message.media_group_id is not None

    async def on_complete(items: list[Message]) -> None:
        await answer_album(bot, services, items)

    services.albums.add(message.media_group_id, message, on_complete)


async def answer_album(bot: Bot, services: Services, items: list[Message]) -> None:
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
    if not await within_rate_limit(bot, services, first, requester, tr):
        return
    async with services.limiter.job():
        await show_uploading(bot, first.chat_id)
        if len(photos) == 1:
            outcome = await detect(bot, services, first, requester, wanted, tr)
            await reply_with_outcome(bot, services, outcome, tr)
            return
        outcomes = await asyncio.gather(
            *(detect(bot, services, m, requester, wanted, tr) for m in photos)
        )
        await _send_album_answer(bot, services, first, outcomes, tr)


async def _send_album_answer(
    bot: Bot, services: Services, first: Message, outcomes: list[Outcome], tr: Translator
) -> None:
    numbered = {id(o): n for n, o in enumerate(outcomes, start=1)}
    done = [(o, o.result) for o in outcomes if o.result is not None]
    for chunk_start in range(0, len(done), MAX_MEDIA_GROUP):
        chunk = done[chunk_start : chunk_start + MAX_MEDIA_GROUP]
        if len(chunk) == 1:
            await reply_with_outcome(bot, services, chunk[0][0], tr)
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
            for (outcome, _), message in zip(chunk, sent, strict=False):
                await store_reply_file_id(services, outcome.detection_id, message)
    lines = []
    for number, outcome in enumerate(outcomes, start=1):
        if outcome.result is not None or outcome.error is not None:
            lines.append(f"{number}. {outcome_text(outcome, tr)}")
    ratings = [
        rating_buttons(services.settings, first.chat_id, outcome.detection_id, f"{number} ")
        for number, outcome in enumerate(outcomes, start=1)
        if outcome.detection_id is not None
    ]
    await send_with_retry(
        lambda: bot.send_message(
            first.chat_id,
            "\n".join(lines)[:4096],
            reply_parameters=reply_parameters(first),
            reply_markup=InlineKeyboardMarkup(ratings) if ratings else None,
        ),
        what=f"album summary to chat {first.chat_id}",
        services=services,
    )
