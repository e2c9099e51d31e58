"""The people and chats the bot knows: registering an update's sender and chat, and /forget.

Reached through the facade as `repository.people`."""

from __future__ import annotations

from typing import cast

from sqlalchemy import Executable, Table, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.albums import forget_user_albums
from db.inbox import forget_user_updates
from db.languages import forget_user_language
from db.models import (
    Chat,
    DetectedObject,
    Detection,
    Feedback,
    FeedbackPrompt,
    ForgottenUser,
    PhotoAdmission,
    User,
)
from db.records import ChatInfo, UserInfo
from db.transactions import Transactions, chunks, dialect, rowcount
from db.types import utc_now
from db.upsert import upsert

_users = cast(Table, User.__table__)
_chats = cast(Table, Chat.__table__)
_detections = cast(Table, Detection.__table__)
_objects = cast(Table, DetectedObject.__table__)
_feedback = cast(Table, Feedback.__table__)
_forgotten = cast(Table, ForgottenUser.__table__)
_prompts = cast(Table, FeedbackPrompt.__table__)
_admissions = cast(Table, PhotoAdmission.__table__)

_ID_CHUNK = 500


class People:
    def __init__(self, transactions: Transactions) -> None:
        self._tx = transactions

    async def register(self, user: UserInfo | None, chat: ChatInfo | None) -> None:
        """Register or refresh an update's sender and chat, in one transaction."""
        if user is None and chat is None:
            return

        async def work(session: AsyncSession) -> None:
            name = dialect(session)
            if user is not None:
                await session.execute(_user_upsert(name, user))
            if chat is not None:
                await session.execute(_chat_upsert(name, chat))

        await self._tx.run(work)

    async def forget(self, user_id: int) -> int:
        """Delete every row of this user (feedback, detections and their objects, their
        private chat's settings and language choice, the user) in one transaction; returns
        rows deleted.
        Other people's feedback on the user's detections stays, detached from them."""

        async def work(session: AsyncSession) -> int:
            d, f, o = _detections, _feedback, _objects
            ids = list(
                (await session.execute(select(d.c.id).where(d.c.user_id == user_id))).scalars()
            )
            deleted = await rowcount(session, delete(f).where(f.c.user_id == user_id))
            for chunk in chunks(ids, _ID_CHUNK):
                await session.execute(
                    update(f).where(f.c.detection_id.in_(chunk)).values(detection_id=None)
                )
                deleted += await rowcount(session, delete(o).where(o.c.detection_id.in_(chunk)))
            deleted += await rowcount(session, delete(d).where(d.c.user_id == user_id))
            deleted += await rowcount(session, delete(_chats).where(_chats.c.id == user_id))
            deleted += await forget_user_language(session, user_id)
            deleted += await rowcount(session, delete(_users).where(_users.c.id == user_id))
            await _forget_elsewhere(session, user_id)
            await session.execute(
                upsert(
                    dialect(session),
                    _forgotten,
                    {"user_id": user_id},
                    {"forgotten_at": utc_now()},
                )
            )
            return deleted

        return await self._tx.run(work)


async def _forget_elsewhere(session: AsyncSession, user_id: int) -> None:
    """What else the bot keeps about a person: update payloads, /feedback prompts, counts."""
    await forget_user_updates(session, user_id)
    await forget_user_albums(session, user_id)
    await session.execute(delete(_prompts).where(_prompts.c.user_id == user_id))
    await session.execute(delete(_admissions).where(_admissions.c.user_id == user_id))


def _user_upsert(dialect: str, user: UserInfo) -> Executable:
    values = {
        "chat_id": user.chat_id,
        "username": user.username,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "language_code": user.language_code,
        "last_seen_at": utc_now(),
    }
    return upsert(dialect, _users, {"id": user.id}, values)


def _chat_upsert(dialect: str, chat: ChatInfo) -> Executable:
    values = {"type": chat.type, "title": chat.title, "updated_at": utc_now()}
    return upsert(dialect, _chats, {"id": chat.id}, values)
