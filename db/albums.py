"""Albums collected in the database: items are added by whichever replica receives them, and
once the album has been quiet for ALBUM_QUIET_S one replica claims it with a lease (as for inbox
rows; an expired lease is taken over) and answers all its items together."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, and_, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from db.inbox import REPLY_SENDING, REPLY_SENT
from db.models import Album, AlbumItem
from db.transactions import Transactions, dialect, is_mysql_session, rowcount
from db.types import utc_now
from db.upsert import insert_if_missing

_albums = cast(Table, Album.__table__)
_items = cast(Table, AlbumItem.__table__)

COLLECTING = "collecting"
CLAIMED = "claimed"
DONE = "done"


@dataclass(frozen=True)
class ClaimedAlbum:
    album_key: str
    chat_id: int
    user_id: int
    items: list[dict[str, Any]]
    """The updates of its items, in message order."""
    created_at: datetime
    taken_over: bool
    notice_sent: bool
    reply_state: str | None


def album_key(chat_id: int, media_group_id: str) -> str:
    return f"{chat_id}:{media_group_id}"[:96]


class Albums:
    def __init__(self, transactions: Transactions) -> None:
        self._tx = transactions

    async def add_item(
        self,
        key: str,
        *,
        chat_id: int,
        user_id: int,
        message_id: int,
        update_id: int,
        payload: str,
        quiet_s: float,
    ) -> bool:
        """Add one item and push the album's quiet deadline back; False when the album was
        already claimed for answering (the item came too late to join it)."""

        async def work(session: AsyncSession) -> bool:
            now = utc_now()
            quiet_until = now + timedelta(seconds=quiet_s)
            await session.execute(
                insert_if_missing(
                    dialect(session),
                    _albums,
                    {
                        "album_key": key,
                        "chat_id": chat_id,
                        "user_id": user_id,
                        "state": COLLECTING,
                        "quiet_until": quiet_until,
                        "available_at": now,
                        "created_at": now,
                    },
                )
            )
            query = select(_albums.c.state).where(_albums.c.album_key == key)
            if is_mysql_session(session):
                query = query.with_for_update()
            if await session.scalar(query) != COLLECTING:
                return False
            await session.execute(
                update(_albums).where(_albums.c.album_key == key).values(quiet_until=quiet_until)
            )
            await session.execute(
                insert_if_missing(
                    dialect(session),
                    _items,
                    {
                        "album_key": key,
                        "message_id": message_id,
                        "update_id": update_id,
                        "payload": payload,
                    },
                )
            )
            return True

        return await self._tx.run(work)

    async def unanswered(self) -> int:
        """Albums still collecting or being answered."""

        async def work(session: AsyncSession) -> int:
            found = await session.scalar(
                select(func.count()).select_from(_albums).where(_albums.c.state != DONE)
            )
            return int(found or 0)

        return await self._tx.run(work)

    async def extend(self, owner: str, keys: Sequence[str], lease_s: float) -> None:
        if not keys:
            return

        async def work(session: AsyncSession) -> None:
            await session.execute(
                update(_albums)
                .where(_held_by(owner, keys))
                .values(lease_expires_at=utc_now() + timedelta(seconds=lease_s))
            )

        await self._tx.run_unbounded(work)

    async def release(self, owner: str, keys: Sequence[str]) -> int:
        if not keys:
            return 0

        async def work(session: AsyncSession) -> int:
            return await rowcount(
                session,
                update(_albums)
                .where(_held_by(owner, keys))
                .values(
                    state=COLLECTING,
                    lease_owner=None,
                    lease_expires_at=None,
                    quiet_until=utc_now(),
                ),
            )

        return await self._tx.run_unbounded(work)

    async def defer(self, owner: str, key: str, until: datetime, *, notice_sent: bool) -> bool:
        async def work(session: AsyncSession) -> bool:
            changed = await rowcount(
                session,
                update(_albums)
                .where(_held_by(owner, [key]))
                .values(
                    state=COLLECTING,
                    lease_owner=None,
                    lease_expires_at=None,
                    available_at=until,
                    notice_sent=notice_sent,
                ),
            )
            return changed == 1

        return await self._tx.run(work)

    async def mark_reply(self, owner: str, key: str, *, sent: bool) -> None:
        async def work(session: AsyncSession) -> None:
            await session.execute(
                update(_albums)
                .where(_held_by(owner, [key]))
                .values(reply_state=REPLY_SENT if sent else REPLY_SENDING)
            )

        await self._tx.run(work)

    async def done(self, owner: str, key: str) -> bool:
        """The album is answered: its items' payloads are dropped."""

        async def work(session: AsyncSession) -> bool:
            changed = await rowcount(
                session,
                update(_albums)
                .where(_held_by(owner, [key]))
                .values(state=DONE, done_at=utc_now(), lease_owner=None, lease_expires_at=None),
            )
            await session.execute(delete(_items).where(_items.c.album_key == key))
            return changed == 1

        return await self._tx.run_unbounded(work)

    async def prune(self, older_than: timedelta) -> int:
        async def work(session: AsyncSession) -> int:
            cutoff = utc_now() - older_than
            return await rowcount(
                session,
                delete(_albums).where(_albums.c.state == DONE, _albums.c.done_at < cutoff),
            )

        return await self._tx.run_unbounded(work)


async def forget_user_albums(session: AsyncSession, user_id: int) -> None:
    keys = select(_albums.c.album_key).where(_albums.c.user_id == user_id).scalar_subquery()
    await session.execute(delete(_items).where(_items.c.album_key.in_(keys)))


def _claimable(now: datetime) -> ColumnElement[bool]:
    return or_(
        and_(
            _albums.c.state == COLLECTING,
            _albums.c.quiet_until <= now,
            _albums.c.available_at <= now,
        ),
        and_(_albums.c.state == CLAIMED, _albums.c.lease_expires_at < now),
    )


def _held_by(owner: str, keys: Sequence[str]) -> ColumnElement[bool]:
    return and_(
        _albums.c.album_key.in_(list(keys)),
        _albums.c.state == CLAIMED,
        _albums.c.lease_owner == owner,
    )


async def claim_albums(
    session: AsyncSession, owner: str, limit: int, lease_s: float
) -> list[ClaimedAlbum]:
    """Up to `limit` albums quiet long enough (or whose lease expired), leased to `owner`,
    inside the caller's transaction (a worker claims through `db.work_claims`)."""
    if limit <= 0:
        return []
    now = utc_now()
    query = (
        select(
            _albums.c.album_key,
            _albums.c.chat_id,
            _albums.c.user_id,
            _albums.c.state,
            _albums.c.created_at,
            _albums.c.notice_sent,
            _albums.c.reply_state,
        )
        .where(_claimable(now))
        .order_by(_albums.c.quiet_until)
        .limit(limit)
    )
    if is_mysql_session(session):
        query = query.with_for_update(skip_locked=True)
    rows = (await session.execute(query)).all()
    if not rows:
        return []
    keys = [row.album_key for row in rows]
    await session.execute(
        update(_albums)
        .where(_albums.c.album_key.in_(keys))
        .values(
            state=CLAIMED,
            lease_owner=owner,
            lease_expires_at=now + timedelta(seconds=lease_s),
            attempts=_albums.c.attempts + 1,
        )
    )
    items: dict[str, list[dict[str, Any]]] = {key: [] for key in keys}
    for item in await session.execute(
        select(_items.c.album_key, _items.c.payload)
        .where(_items.c.album_key.in_(keys))
        .order_by(_items.c.album_key, _items.c.message_id)
    ):
        items[item.album_key].append(json.loads(item.payload))
    return [
        ClaimedAlbum(
            album_key=row.album_key,
            chat_id=row.chat_id,
            user_id=row.user_id,
            items=items[row.album_key],
            created_at=row.created_at,
            taken_over=row.state == CLAIMED,
            notice_sent=bool(row.notice_sent),
            reply_state=row.reply_state,
        )
        for row in rows
    ]
