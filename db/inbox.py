"""The inbox: every accepted Telegram update, stored before it is acknowledged, then worked off.

Any replica claims pending rows with a lease, the way Solid Queue and Oban run job queues on the
application's own database: on MySQL/MariaDB the claim locks its rows with
`SELECT ... FOR UPDATE SKIP LOCKED`, so replicas claiming side by side never wait for each other
or take the same row; SQLite is one process, whose transactions already take turns. A row whose
lease expired (its replica died) is claimable again by anyone: that is a takeover.

Claim order interleaves chats: every update is ranked within its chat among the chat's updates not
yet done (those being worked on included), and the n-th of every chat comes before the (n+1)-th of
any, so one person's 40 photos do not hold up ten other people's two.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol, cast

from sqlalchemy import Table, and_, delete, func, insert, or_, select, update
from sqlalchemy.dialects import mysql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from db.models import InboxUpdate
from db.transactions import Transactions, dialect, is_mysql_session, rowcount
from db.types import utc_now

_inbox = cast(Table, InboxUpdate.__table__)

PENDING = "pending"
CLAIMED = "claimed"
DONE = "done"
REPLY_SENDING = "sending"
REPLY_SENT = "sent"

FAIRNESS_WINDOW = 500
"""Claims rank the oldest this many open rows, so a claim costs the same however deep the
backlog; beyond them the queue is first come, first served."""
_CANDIDATES_PER_CLAIM = 3
"""Candidates looked at per row wanted: rows other replicas lock meanwhile are skipped."""


@dataclass(frozen=True)
class NewUpdate:
    """An update as received: its id, raw JSON, and who it is from (for fairness and /forget)."""

    update_id: int
    payload: str
    fairness_key: int | None
    user_id: int | None


@dataclass(frozen=True)
class InboxItem:
    """A claimed update. `taken_over`: its previous lease expired (a replica died holding it);
    `reply_state`: whether its reply was being sent or went out before."""

    update_id: int
    payload: dict[str, Any]
    received_at: datetime
    attempts: int
    taken_over: bool
    notice_sent: bool
    reply_state: str | None


class InboxLease(Protocol):
    """Who holds which row: enough to finish it inside another transaction."""

    @property
    def owner(self) -> str: ...

    @property
    def update_id(self) -> int: ...


@dataclass(frozen=True)
class Backlog:
    """Updates not yet done, and how long the oldest of them has waited."""

    pending: int
    oldest_pending_s: float | None


class Inbox:
    """Store, claim, extend, finish and prune inbox rows; every call is one transaction."""

    def __init__(self, transactions: Transactions) -> None:
        self._tx = transactions

    async def store(self, updates: Sequence[NewUpdate]) -> int:
        """Insert the updates (one transaction, committed on return); how many were new. A copy
        of an update id already stored changes nothing."""
        if not updates:
            return 0
        now = utc_now()
        rows = [
            {
                "update_id": u.update_id,
                "payload": u.payload,
                "received_at": now,
                "available_at": now,
                "state": PENDING,
                "fairness_key": u.fairness_key,
                "user_id": u.user_id,
            }
            for u in updates
        ]

        async def work(session: AsyncSession) -> int:
            new = 0
            for row in rows:
                new += await rowcount(session, _insert_ignore(dialect(session), row))
            return new

        return await self._tx.run(work)

    async def extend(self, owner: str, update_ids: Sequence[int], lease_s: float) -> set[int]:
        """Renew the leases `owner` still holds on these rows; the ids it still holds."""
        if not update_ids:
            return set()

        async def work(session: AsyncSession) -> set[int]:
            held = _held_by(owner, update_ids)
            await session.execute(
                update(_inbox)
                .where(held)
                .values(lease_expires_at=utc_now() + timedelta(seconds=lease_s))
            )
            return set((await session.execute(select(_inbox.c.update_id).where(held))).scalars())

        return await self._tx.run_unbounded(work)

    async def done(self, owner: str, update_id: int) -> bool:
        """Mark the row handled (its payload is dropped); False if `owner` lost the lease."""

        async def work(session: AsyncSession) -> bool:
            return await mark_done(session, owner, update_id)

        return await self._tx.run_unbounded(work)

    async def release(self, owner: str, update_ids: Sequence[int]) -> int:
        """Give rows back at once (graceful shutdown): claimable by any replica now."""
        if not update_ids:
            return 0

        async def work(session: AsyncSession) -> int:
            return await rowcount(
                session,
                update(_inbox)
                .where(_held_by(owner, update_ids))
                .values(
                    state=PENDING,
                    lease_owner=None,
                    lease_expires_at=None,
                    available_at=utc_now(),
                ),
            )

        return await self._tx.run_unbounded(work)

    async def defer(
        self, owner: str, update_id: int, until: datetime, *, notice_sent: bool
    ) -> bool:
        """Put the row back to wait until `until` (a person over their short-term rate)."""

        async def work(session: AsyncSession) -> bool:
            changed = await rowcount(
                session,
                update(_inbox)
                .where(_held_by(owner, [update_id]))
                .values(
                    state=PENDING,
                    lease_owner=None,
                    lease_expires_at=None,
                    available_at=until,
                    notice_sent=notice_sent,
                    attempts=_inbox.c.attempts - 1,
                ),
            )
            return changed == 1

        return await self._tx.run(work)

    async def mark_reply_sending(self, owner: str, update_id: int) -> None:
        """Just before the reply goes to Telegram: a takeover after this may send it twice."""

        async def work(session: AsyncSession) -> None:
            await mark_reply_sending(session, owner, update_id)

        await self._tx.run(work)

    async def mark_reply_sent(self, owner: str, update_id: int, message_id: int | None) -> None:
        """The reply went out: a takeover finishes the row without sending it again."""

        async def work(session: AsyncSession) -> None:
            await mark_reply_sent(session, owner, update_id, message_id)

        await self._tx.run(work)

    async def prune(self, older_than: timedelta, batch: int = 500) -> int:
        """Delete up to `batch` done rows finished longer than `older_than` ago; rows deleted.
        Small batches keep each delete's locks short while the bot is busy."""
        cutoff = utc_now() - older_than

        async def work(session: AsyncSession) -> int:
            ids = list(
                (
                    await session.execute(
                        select(_inbox.c.update_id)
                        .where(_inbox.c.state == DONE, _inbox.c.done_at < cutoff)
                        .limit(batch)
                    )
                ).scalars()
            )
            if not ids:
                return 0
            return await rowcount(
                session,
                delete(_inbox).where(_inbox.c.update_id.in_(ids), _inbox.c.state == DONE),
            )

        return await self._tx.run_unbounded(work)

    async def due(self) -> int:
        """Rows a worker could claim right now (pending and due, or with an expired lease)."""

        async def work(session: AsyncSession) -> int:
            found = await session.scalar(
                select(func.count()).select_from(_inbox).where(_claimable(utc_now()))
            )
            return int(found or 0)

        return await self._tx.run(work)

    async def backlog(self) -> Backlog:
        async def work(session: AsyncSession) -> Backlog:
            count, oldest = (
                await session.execute(
                    select(func.count(), func.min(_inbox.c.received_at)).where(
                        _inbox.c.state != DONE
                    )
                )
            ).one()
            if oldest is None:
                return Backlog(int(count), None)
            return Backlog(int(count), max(0.0, (utc_now() - oldest).total_seconds()))

        return await self._tx.run(work)


async def claim_updates(
    session: AsyncSession, owner: str, limit: int, lease_s: float
) -> list[InboxItem]:
    """Up to `limit` claimable rows (pending and due, or with an expired lease), fairly
    ordered, leased to `owner` for `lease_s`, inside the caller's transaction (a worker claims
    through `db.work_claims`)."""
    if limit <= 0:
        return []
    now = utc_now()
    due = _claimable(now)
    open_rows = (
        select(
            _inbox.c.update_id,
            _inbox.c.fairness_key,
            due.label("due"),
        )
        .where(_inbox.c.state.in_([PENDING, CLAIMED]))
        .order_by(_inbox.c.update_id)
        .limit(FAIRNESS_WINDOW)
        .subquery()
    )
    rank = (
        func.row_number()
        .over(partition_by=open_rows.c.fairness_key, order_by=open_rows.c.update_id)
        .label("rank")
    )
    ranked = select(open_rows.c.update_id, open_rows.c.due, rank).subquery()
    candidates = list(
        (
            await session.execute(
                select(ranked.c.update_id)
                .where(ranked.c.due)
                .order_by(ranked.c.rank, ranked.c.update_id)
                .limit(limit * _CANDIDATES_PER_CLAIM)
            )
        ).scalars()
    )
    if not candidates:
        return []
    lock = select(
        _inbox.c.update_id,
        _inbox.c.payload,
        _inbox.c.received_at,
        _inbox.c.attempts,
        _inbox.c.state,
        _inbox.c.notice_sent,
        _inbox.c.reply_state,
    ).where(_inbox.c.update_id.in_(candidates), due)
    if is_mysql_session(session):
        lock = lock.with_for_update(skip_locked=True)
    found = {row.update_id: row for row in (await session.execute(lock)).all()}
    chosen = [found[i] for i in candidates if i in found][:limit]
    if not chosen:
        return []
    await session.execute(
        update(_inbox)
        .where(_inbox.c.update_id.in_([row.update_id for row in chosen]))
        .values(
            state=CLAIMED,
            lease_owner=owner,
            lease_expires_at=now + timedelta(seconds=lease_s),
            attempts=_inbox.c.attempts + 1,
        )
    )
    return [
        InboxItem(
            update_id=row.update_id,
            payload=json.loads(row.payload or "{}"),
            received_at=row.received_at,
            attempts=row.attempts + 1,
            taken_over=row.state == CLAIMED,
            notice_sent=bool(row.notice_sent),
            reply_state=row.reply_state,
        )
        for row in chosen
    ]


async def mark_done(session: AsyncSession, owner: str, update_id: int) -> bool:
    """Within a transaction of the caller's; False when `owner` no longer holds the row."""
    return await _finish(session, owner, update_id, {})


async def finish_replied(
    session: AsyncSession, owner: str, update_id: int, message_id: int | None
) -> bool:
    """The reply went out and the row is done, in one statement of the caller's transaction;
    False when `owner` no longer holds the row."""
    return await _finish(
        session, owner, update_id, {"reply_state": REPLY_SENT, "reply_message_id": message_id}
    )


async def _finish(
    session: AsyncSession, owner: str, update_id: int, values: dict[str, Any]
) -> bool:
    changed = await rowcount(
        session,
        update(_inbox)
        .where(_held_by(owner, [update_id]))
        .values(
            state=DONE,
            done_at=utc_now(),
            lease_owner=None,
            lease_expires_at=None,
            payload=None,
            **values,
        ),
    )
    return changed == 1


async def mark_reply_sending(session: AsyncSession, owner: str, update_id: int) -> None:
    await session.execute(
        update(_inbox).where(_held_by(owner, [update_id])).values(reply_state=REPLY_SENDING)
    )


async def mark_reply_sent(
    session: AsyncSession, owner: str, update_id: int, message_id: int | None
) -> None:
    await session.execute(
        update(_inbox)
        .where(_held_by(owner, [update_id]))
        .values(reply_state=REPLY_SENT, reply_message_id=message_id)
    )


async def forget_user_updates(session: AsyncSession, user_id: int) -> int:
    """Drop the payloads of a person's updates (kept ids still stop redeliveries)."""
    return await rowcount(
        session,
        update(_inbox)
        .where(_inbox.c.user_id == user_id, _inbox.c.state == DONE)
        .values(payload=None, user_id=None),
    )


def _claimable(now: datetime) -> ColumnElement[bool]:
    return or_(
        and_(_inbox.c.state == PENDING, _inbox.c.available_at <= now),
        and_(_inbox.c.state == CLAIMED, _inbox.c.lease_expires_at < now),
    )


def _held_by(owner: str, update_ids: Sequence[int]) -> ColumnElement[bool]:
    return and_(
        _inbox.c.update_id.in_(list(update_ids)),
        _inbox.c.state == CLAIMED,
        _inbox.c.lease_owner == owner,
    )


def _insert_ignore(dialect_name: str, row: dict[str, Any]) -> Any:
    if dialect_name in ("mysql", "mariadb"):
        return mysql.insert(_inbox).values(row).prefix_with("IGNORE")
    if dialect_name == "sqlite":
        return sqlite.insert(_inbox).values(row).on_conflict_do_nothing()
    return insert(_inbox).values(row)
