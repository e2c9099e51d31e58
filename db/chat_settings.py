"""A chat's settings (score threshold, class filter, auto mode, model), kept on its chats row.

Reached through the facade as `repository.chat_settings`."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Chat
from db.records import UNSET, ChatSettings, Unset
from db.transactions import Transactions, dialect
from db.types import utc_now
from db.upsert import upsert

_chats = cast(Table, Chat.__table__)


class ChatSettingsRepository:
    def __init__(self, transactions: Transactions) -> None:
        self._tx = transactions

    async def get(self, chat_id: int) -> ChatSettings:
        async def work(session: AsyncSession) -> ChatSettings:
            return await read_chat_settings(session, chat_id)

        return await self._tx.run(work)

    async def update(
        self,
        chat_id: int,
        *,
        min_score: float | Unset | None = UNSET,
        class_filter: frozenset[str] | Unset = UNSET,
        auto_mode: bool | Unset = UNSET,
        model_name: str | Unset | None = UNSET,
    ) -> ChatSettings:
        """Change only the settings passed; returns the chat's settings afterwards."""
        values: dict[str, Any] = {}
        if min_score is not UNSET:
            if min_score is not None and not 0.0 <= min_score <= 1.0:
                raise ValueError(f"min_score must be between 0 and 1, got {min_score}")
            values["min_score"] = min_score
        if class_filter is not UNSET:
            values["class_filter"] = "\n".join(sorted(class_filter)) or None
        if auto_mode is not UNSET:
            values["auto_mode"] = auto_mode
        if model_name is not UNSET:
            values["model_name"] = model_name

        async def work(session: AsyncSession) -> ChatSettings:
            if values:
                await session.execute(
                    upsert(
                        dialect(session),
                        _chats,
                        {"id": chat_id},
                        {**values, "updated_at": utc_now()},
                        insert_only={"type": "private" if chat_id > 0 else "group"},
                    )
                )
            return await read_chat_settings(session, chat_id)

        return await self._tx.run(work)


async def read_chat_settings(session: AsyncSession, chat_id: int) -> ChatSettings:
    """The chat's settings inside the caller's transaction; the defaults for an unknown chat."""
    c = _chats
    row = (
        await session.execute(
            select(c.c.min_score, c.c.class_filter, c.c.auto_mode, c.c.model_name).where(
                c.c.id == chat_id
            )
        )
    ).one_or_none()
    if row is None:
        return ChatSettings()
    labels = frozenset(x for x in (row.class_filter or "").split("\n") if x)
    return ChatSettings(
        min_score=row.min_score,
        class_filter=labels,
        auto_mode=bool(row.auto_mode),
        model_name=row.model_name,
    )
