"""Per-person limits counted in the database, so every replica sees the same counts.

Each photo let through is one `photo_admissions` row. A person over their short-term rate (per
minute) is told when a slot frees up, and their photo waits until then; over their hourly cap
they are refused, and told when to come back. Feedback is capped per hour from the feedback
table itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Table, delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Feedback, PhotoAdmission, User
from db.transactions import Transactions, is_mysql_session, rowcount
from db.types import utc_now

_admissions = cast(Table, PhotoAdmission.__table__)
_users = cast(Table, User.__table__)
_feedback = cast(Table, Feedback.__table__)

MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class Admission:
    """`admitted`; else `wait_until` (short-term rate: wait, then try again) or `retry_at`
    (hourly cap: refused until then)."""

    admitted: bool
    wait_until: datetime | None = None
    retry_at: datetime | None = None


async def admit_photos(
    session: AsyncSession, user_id: int, photos: int, *, per_minute: int, per_hour: int
) -> Admission:
    """Let `photos` photos of this person through (counted) if both limits allow it, inside the
    caller's transaction.

    An album larger than the per-minute rate goes through whole when the person's minute is
    empty. Concurrent calls for one person (other replicas) take turns on the person's row lock,
    so the count cannot be overrun."""
    now = utc_now()
    if is_mysql_session(session):
        await session.execute(select(_users.c.id).where(_users.c.id == user_id).with_for_update())
    a = _admissions
    times = list(
        (
            await session.execute(
                select(a.c.admitted_at)
                .where(a.c.user_id == user_id, a.c.admitted_at > now - HOUR)
                .order_by(a.c.admitted_at)
            )
        ).scalars()
    )
    over_hour = len(times) + photos - per_hour
    if over_hour > 0:
        if over_hour > len(times):
            return Admission(False, retry_at=now + HOUR)
        return Admission(False, retry_at=times[over_hour - 1] + HOUR)
    last_minute = [t for t in times if t > now - MINUTE]
    over_minute = len(last_minute) + photos - per_minute
    if over_minute > 0 and last_minute:
        index = min(over_minute, len(last_minute)) - 1
        return Admission(False, wait_until=last_minute[index] + MINUTE)
    await session.execute(insert(_admissions), [{"user_id": user_id, "admitted_at": now}] * photos)
    return Admission(True)


class Limits:
    def __init__(self, transactions: Transactions) -> None:
        self._tx = transactions

    async def feedback_allowed(self, user_id: int, per_hour: int) -> datetime | None:
        """None when this person may send feedback now, else when they may again."""

        async def work(session: AsyncSession) -> datetime | None:
            now = utc_now()
            f = _feedback
            times: list[datetime] = list(
                (
                    await session.execute(
                        select(f.c.created_at)
                        .where(
                            f.c.user_id == user_id,
                            f.c.text.is_not(None),
                            f.c.created_at > now - HOUR,
                        )
                        .order_by(f.c.created_at)
                    )
                ).scalars()
            )
            if len(times) < per_hour:
                return None
            return times[len(times) - per_hour] + HOUR

        return await self._tx.run(work)

    async def prune(self) -> int:
        """Admissions older than an hour count for nothing any more."""

        async def work(session: AsyncSession) -> int:
            return await rowcount(
                session, delete(_admissions).where(_admissions.c.admitted_at < utc_now() - HOUR)
            )

        return await self._tx.run_unbounded(work)
