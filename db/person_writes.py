"""What every write on a person's behalf (a detection, a feedback row) checks first: that the
person has a user row, and that they did not use /forget after the work began."""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.errors import Forgotten
from db.models import ForgottenUser, User
from db.transactions import dialect
from db.upsert import insert_if_missing

_users = cast(Table, User.__table__)
_forgotten = cast(Table, ForgottenUser.__table__)


async def ensure_user(session: AsyncSession, user_id: int) -> None:
    """Create a bare user row if the handler never registered this user (private chats
    share the user's id), so a detection or feedback is never lost to a foreign key."""
    if await session.scalar(select(_users.c.id).where(_users.c.id == user_id)) is not None:
        return
    await session.execute(
        insert_if_missing(dialect(session), _users, {"id": user_id, "chat_id": user_id})
    )


async def refuse_if_forgotten(
    session: AsyncSession, user_id: int, requested_at: datetime | None
) -> None:
    """Forgotten when the person's data was deleted after `requested_at` (work that was already
    running when they sent /forget must not bring anything back)."""
    if requested_at is None:
        return
    forgotten_at = await session.scalar(
        select(_forgotten.c.forgotten_at).where(_forgotten.c.user_id == user_id)
    )
    if forgotten_at is not None and forgotten_at >= requested_at:
        raise Forgotten(user_id)
