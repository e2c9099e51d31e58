"""The admin numbers behind /stats, each one computed by the database (GROUP BY, COUNT,
ORDER BY ... LIMIT/OFFSET for the p95), so the cost does not grow with rows read into Python.

Reached through the facade as `repository.stats`; the per-model figures are db.model_stats."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from typing import cast

from sqlalchemy import Date, Table, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.model_stats import read_model_stats
from db.models import Chat, DetectedObject, Detection, User
from db.records import ModelVersionStats, Stats
from db.transactions import Transactions
from db.types import utc_now

_users = cast(Table, User.__table__)
_chats = cast(Table, Chat.__table__)
_detections = cast(Table, Detection.__table__)
_objects = cast(Table, DetectedObject.__table__)


class StatsRepository:
    def __init__(self, transactions: Transactions) -> None:
        self._tx = transactions

    async def overview(self, days: int = 30, top: int = 10) -> Stats:
        """Admin numbers, all computed by the database (see Stats for the time ranges)."""
        since = _first_moment(days)

        async def work(session: AsyncSession) -> Stats:
            return await read_stats(session, since=since, top=top)

        return await self._tx.run(work)

    async def per_model(self, days: int = 30) -> list[ModelVersionStats]:
        """Per model and version label over the last `days` UTC days (see db.model_stats)."""
        since = _first_moment(days)

        async def work(session: AsyncSession) -> list[ModelVersionStats]:
            return await read_model_stats(session, since=since)

        return await self._tx.run(work)


async def read_stats(session: AsyncSession, *, since: datetime, top: int) -> Stats:
    """Totals, objects per class, latency and the `top` most active users over all time;
    detections per day from `since` on."""
    d, o = _detections, _objects
    count = func.count().label("n")
    users = await session.scalar(select(func.count()).select_from(_users))
    chats = await session.scalar(select(func.count()).select_from(_chats))
    by_status: dict[str, int] = {
        status: n
        for status, n in await session.execute(select(d.c.status, count).group_by(d.c.status))
    }
    objects = await session.scalar(select(func.count()).select_from(o))
    per_class = (
        await session.execute(
            select(o.c.label, count).group_by(o.c.label).order_by(count.desc(), o.c.label)
        )
    ).all()
    day = func.date(d.c.created_at, type_=Date).label("day")
    per_day = (
        await session.execute(
            select(day, count).where(d.c.created_at >= since).group_by(day).order_by(day)
        )
    ).all()
    timed = (d.c.status == "ok", d.c.inference_ms.is_not(None))
    n_timed, avg = (
        await session.execute(
            select(func.count(d.c.inference_ms), func.avg(d.c.inference_ms)).where(*timed)
        )
    ).one()
    p95 = None
    if n_timed:
        p95 = await session.scalar(
            select(d.c.inference_ms)
            .where(*timed)
            .order_by(d.c.inference_ms)
            .limit(1)
            .offset(math.ceil(0.95 * n_timed) - 1)
        )
    busiest = (
        select(d.c.user_id, count)
        .group_by(d.c.user_id)
        .order_by(count.desc(), d.c.user_id)
        .limit(top)
        .subquery()
    )
    top_users = (
        await session.execute(
            select(busiest.c.user_id, _users.c.username, busiest.c.n)
            .join(_users, _users.c.id == busiest.c.user_id)
            .order_by(busiest.c.n.desc(), busiest.c.user_id)
        )
    ).all()
    return Stats(
        users=users or 0,
        chats=chats or 0,
        detections_ok=by_status.get("ok", 0),
        detections_failed=by_status.get("failed", 0),
        objects=objects or 0,
        per_class=[(label, n) for label, n in per_class],
        per_day=[(_as_date(day), n) for day, n in per_day],
        avg_inference_ms=float(avg) if avg is not None else None,
        p95_inference_ms=float(p95) if p95 is not None else None,
        top_users=[(uid, name, n) for uid, name, n in top_users],
    )


def _as_date(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


def _first_moment(days: int) -> datetime:
    """Midnight UTC starting the last `days` UTC days (today counts as one)."""
    first_day = utc_now().date() - timedelta(days=max(days, 1) - 1)
    return datetime.combine(first_day, datetime.min.time(), UTC)
