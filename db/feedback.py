"""Feedback: /feedback texts and the thumbs a person presses under a detection.

Reached through the facade as `repository.feedback`."""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import Table, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Detection, Feedback
from db.person_writes import ensure_user, refuse_if_forgotten
from db.transactions import Transactions, dialect, inserted_id
from db.types import utc_now
from db.upsert import upsert

_detections = cast(Table, Detection.__table__)
_feedback = cast(Table, Feedback.__table__)


class FeedbackRepository:
    def __init__(self, transactions: Transactions) -> None:
        self._tx = transactions

    async def add(
        self,
        user_id: int,
        text: str,
        detection_id: int | None = None,
        *,
        requested_at: datetime | None = None,
    ) -> int:
        """Store a /feedback message; its id. A detection that no longer exists is dropped
        from the row rather than losing the text. Forgotten if the person used /forget after
        `requested_at`."""

        async def work(session: AsyncSession) -> int:
            await refuse_if_forgotten(session, user_id, requested_at)
            await ensure_user(session, user_id)
            linked = detection_id
            if linked is not None and not await _detection_exists(session, linked):
                linked = None
            result = await session.execute(
                insert(_feedback).values(user_id=user_id, detection_id=linked, text=text)
            )
            return inserted_id(result)

        return await self._tx.run(work)

    async def rate(
        self, user_id: int, detection_id: int, rating: int, *, chat_id: int | None = None
    ) -> bool:
        """Rate a detection +1 or -1; one row per user and detection, a second press with
        the other value updates it. False if the detection does not exist (in `chat_id`)."""
        if rating not in (1, -1):
            raise ValueError(f"rating must be 1 or -1, got {rating}")
        key = {"user_id": user_id, "detection_id": detection_id, "rating_slot": 1}

        async def work(session: AsyncSession) -> bool:
            if not await _detection_exists(session, detection_id, chat_id):
                return False
            await ensure_user(session, user_id)
            await session.execute(
                upsert(
                    dialect(session), _feedback, key, {"rating": rating, "updated_at": utc_now()}
                )
            )
            return True

        try:
            return await self._tx.run(work)
        except IntegrityError:
            return False


async def _detection_exists(
    session: AsyncSession, detection_id: int, chat_id: int | None = None
) -> bool:
    query = select(_detections.c.id).where(_detections.c.id == detection_id)
    if chat_id is not None:
        query = query.where(_detections.c.chat_id == chat_id)
    found = await session.scalar(query)
    return found is not None
