"""The language_choices table: what /language stored for a person and for a group.

Reached through the facade as `repository.languages`; every method is one transaction of the
repository (bounded wait, retried on a lost connection), so every replica reads what any
replica stored.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal, Protocol, TypeVar, cast

from sqlalchemy import Table, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import LanguageChoice
from db.types import utc_now
from db.upsert import upsert

T = TypeVar("T")
Scope = Literal["user", "chat"]

_choices = cast(Table, LanguageChoice.__table__)


class Transaction(Protocol):
    def __call__(self, work: Callable[[AsyncSession], Awaitable[T]]) -> Awaitable[T]: ...


@dataclass(frozen=True)
class LanguageChoices:
    """The stored choices that bear on one reply; None where nothing was chosen."""

    user: str | None = None
    chat: str | None = None


class LanguageRepository:
    def __init__(self, transaction: Transaction) -> None:
        self._transaction = transaction

    async def choices(self, user_id: int | None, chat_id: int | None) -> LanguageChoices:
        """The person's own choice and, for a group, the group's, in one query."""

        async def work(session: AsyncSession) -> LanguageChoices:
            return await read_language_choices(session, user_id, chat_id)

        return await self._transaction(work)

    async def choose(self, scope: Scope, owner_id: int, language: str | None) -> None:
        """Store a choice; None removes it (back to the Telegram language)."""
        c = _choices.c

        async def work(session: AsyncSession) -> None:
            if language is None:
                await session.execute(
                    delete(_choices).where((c.scope == scope) & (c.owner_id == owner_id))
                )
                return
            await session.execute(
                upsert(
                    session.get_bind().dialect.name,
                    _choices,
                    {"scope": scope, "owner_id": owner_id},
                    {"language": language, "updated_at": utc_now()},
                )
            )

        await self._transaction(work)


async def read_language_choices(
    session: AsyncSession, user_id: int | None, chat_id: int | None
) -> LanguageChoices:
    """`LanguageRepository.choices` inside the caller's transaction."""
    wanted = []
    if user_id is not None:
        wanted.append(("user", user_id))
    if chat_id is not None and chat_id != user_id:
        wanted.append(("chat", chat_id))
    if not wanted:
        return LanguageChoices()
    c = _choices.c
    keys = [(c.scope == scope) & (c.owner_id == owner) for scope, owner in wanted]
    condition = keys[0] if len(keys) == 1 else keys[0] | keys[1]
    rows = (await session.execute(select(c.scope, c.language).where(condition))).all()
    found = {row.scope: row.language for row in rows}
    return LanguageChoices(user=found.get("user"), chat=found.get("chat"))


async def forget_user_language(session: AsyncSession, user_id: int) -> int:
    """Delete the person's own choice inside the caller's transaction (/forget); rows deleted."""
    c = _choices.c
    result = await session.execute(
        delete(_choices).where((c.scope == "user") & (c.owner_id == user_id))
    )
    return int(getattr(result, "rowcount", 0) or 0)
