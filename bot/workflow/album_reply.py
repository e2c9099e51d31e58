"""An album's answer: its annotated photos as media groups of up to ten, then one summary with
each photo's numbered line and rating buttons."""

from __future__ import annotations

import time

from telegram import Bot, InlineKeyboardMarkup, InputMediaPhoto, Message

from bot.i18n import Translator
from bot.inbox import Work
from bot.rating_buttons import rating_buttons
from bot.services import Services
from bot.telegram_send import reply_parameters, send_with_retry
from bot.workflow.outcome import PhotoOutcome, outcome_text
from bot.workflow.replies import reply_with_outcome
from bot.workflow.reply_record import record_reply, sending_reply

MAX_MEDIA_GROUP = 10


async def send_album_answer(
    bot: Bot,
    services: Services,
    first: Message,
    outcomes: list[PhotoOutcome],
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


async def _send_single(bot: Bot, services: Services, outcome: PhotoOutcome, tr: Translator) -> None:
    """The one photo of a chunk that came out alone: as a photo, not a media group."""
    await reply_with_outcome(bot, services, outcome, tr, None)
