"""Runs before every handler (group -2): counts the update and registers the sender and chat.
Copies of an update never get here: the inbox stores each update id once."""

from __future__ import annotations

import logging

from telegram import Update

from bot.database_errors import database_error
from db.records import ChatInfo, UserInfo
from handlers.common import Context, get_services

logger = logging.getLogger(__name__)

UPDATE_TYPES = (
    "message",
    "edited_message",
    "callback_query",
    "channel_post",
    "edited_channel_post",
    "my_chat_member",
    "chat_member",
    "inline_query",
    "message_reaction",
)


def update_type(update: Update) -> str:
    for name in UPDATE_TYPES:
        if getattr(update, name, None) is not None:
            return name
    return "other"


async def track_update(update: Update, context: Context) -> None:
    services = get_services(context)
    services.metrics.updates.labels(type=update_type(update)).inc()
    try:
        await services.repository.people.register(sender_info(update), chat_info(update))
    except Exception:
        database_error(services, "registering the update")


def sender_info(update: Update) -> UserInfo | None:
    user = update.effective_user
    if user is None or user.is_bot:
        return None
    return UserInfo(
        id=user.id,
        chat_id=user.id,
        username=user.username,
        first_name=user.first_name,
        last_name=user.last_name,
        language_code=user.language_code,
    )


def chat_info(update: Update) -> ChatInfo | None:
    chat = update.effective_chat
    return None if chat is None else ChatInfo(id=chat.id, type=chat.type, title=chat.title)
