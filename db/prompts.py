"""The follow-up of a bare /feedback as a database row, so whichever replica receives the next
message knows it is feedback; the row expires after FEEDBACK_WAIT_S."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Table, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import FeedbackPrompt
from db.transactions import Transactions, dialect, rowcount
from db.types import utc_now
from db.upsert import upsert

_prompts = cast(Table, FeedbackPrompt.__table__)

EXPIRED_KEEP = timedelta(days=1)
"""An expired prompt is kept this long, so a late answer is told it came too late."""


@dataclass(frozen=True)
class Prompt:
    expires_at: datetime

    @property
    def expired(self) -> bool:
        return utc_now() >= self.expires_at


class FeedbackPrompts:
    def __init__(self, transactions: Transactions) -> None:
        self._tx = transactions

    async def ask(self, user_id: int, chat_id: int, wait: timedelta) -> None:
        """This person in this chat was asked for feedback; their next message is it."""
        expires = utc_now() + wait

        async def work(session: AsyncSession) -> None:
            await session.execute(
                upsert(
                    dialect(session),
                    _prompts,
                    {"user_id": user_id, "chat_id": chat_id},
                    {"expires_at": expires},
                )
            )

        await self._tx.run(work)

    async def take(self, user_id: int, chat_id: int) -> Prompt | None:
        """Remove and return the prompt waiting for this person in this chat, if any. Only one
        caller gets it, however many replicas ask at once."""

        async def work(session: AsyncSession) -> Prompt | None:
            p = _prompts
            where = (p.c.user_id == user_id, p.c.chat_id == chat_id)
            expires = await session.scalar(select(p.c.expires_at).where(*where))
            if expires is None:
                return None
            if await rowcount(session, delete(p).where(*where)) != 1:
                return None
            return Prompt(expires)

        return await self._tx.run(work)

    async def cancel(self, user_id: int, chat_id: int) -> bool:
        async def work(session: AsyncSession) -> bool:
            p = _prompts
            deleted = await rowcount(
                session, delete(p).where(p.c.user_id == user_id, p.c.chat_id == chat_id)
            )
            return deleted > 0

        return await self._tx.run(work)

    async def prune(self) -> int:
        async def work(session: AsyncSession) -> int:
            cutoff = utc_now() - EXPIRED_KEEP
            return await rowcount(session, delete(_prompts).where(_prompts.c.expires_at < cutoff))

        return await self._tx.run_unbounded(work)
