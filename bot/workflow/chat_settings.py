"""A chat's settings as the workflow reads them: the defaults while the database is down."""

from __future__ import annotations

from bot.database_errors import database_error
from bot.services import Services
from db.records import ChatSettings


async def read_chat_settings(services: Services, chat_id: int) -> ChatSettings:
    try:
        return await services.repository.chat_settings.get(chat_id)
    except Exception:
        database_error(services, "get_chat_settings")
        return ChatSettings()
