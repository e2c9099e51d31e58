"""Albums: items arrive as separate updates, possibly at different replicas. Each is added to its
album in the database; once the album has been quiet for ALBUM_QUIET_S, one replica's worker
claims it and every photo is detected, then answered together (`album_reply`)."""

from __future__ import annotations

import asyncio
import json

from telegram import Bot, Message, Update, User

from bot.database_errors import database_error
from bot.inbox import Work
from bot.services import Services
from bot.workflow.admission import go_ahead
from bot.workflow.album_reply import send_album_answer
from bot.workflow.detect import detect_photo
from bot.workflow.replies import reply_with_outcome, show_uploading
from bot.workflow.request import open_request
from db.albums import album_key


async def collect_album_item(services: Services, update: Update) -> bool:
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
    request = await open_request(bot, services, items, requester, len(photos))
    if not request.answers:
        return
    chat_settings, tr = request.chat_settings, request.tr
    if not await go_ahead(bot, services, first, request.admission, job, tr):
        return
    async with services.detection_slots.job():
        await show_uploading(bot, first.chat_id)
        if len(photos) == 1:
            outcome = await detect_photo(bot, services, first, requester, chat_settings, tr, job)
            await reply_with_outcome(bot, services, outcome, tr, job)
            return
        outcomes = await asyncio.gather(
            *(detect_photo(bot, services, m, requester, chat_settings, tr, job) for m in photos)
        )
        await send_album_answer(bot, services, first, list(outcomes), tr, job)
