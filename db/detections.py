"""Detections: what the bot found in a photo (or why it could not), the annotated reply sent
back, and a person's history of them.

Reached through the facade as `repository.detections`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, Literal, cast

from sqlalchemy import Table, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from db.errors import DuplicateDetection
from db.inbox import InboxLease, finish_replied, mark_reply_sending
from db.models import DetectedObject, Detection
from db.person_writes import ensure_user, refuse_if_forgotten
from db.records import FailedDetection, HistoryItem, NewDetection, NewObject
from db.transactions import (
    Transactions,
    inserted_id,
    is_foreign_key_violation,
    is_unique_violation,
)

_detections = cast(Table, Detection.__table__)
_objects = cast(Table, DetectedObject.__table__)


class Detections:
    def __init__(self, transactions: Transactions) -> None:
        self._tx = transactions

    async def record(self, detection: NewDetection, reply_sending: InboxLease | None = None) -> int:
        """Store a successful detection and its objects in one transaction; its id.
        `reply_sending`: the inbox row whose reply goes out next, marked as being sent in the
        same transaction (also when DuplicateDetection is raised).

        A failed attempt on the same chat message (the person asked again after "try again
        in a minute") is replaced by this one. DuplicateDetection, carrying the existing row's
        id, when the message already has a successful detection."""
        row = {
            "user_id": detection.user_id,
            "chat_id": detection.chat_id,
            "message_id": detection.message_id,
            "status": "ok",
            "file_id": detection.file_id,
            "file_unique_id": detection.file_unique_id,
            "width": detection.width,
            "height": detection.height,
            "model_name": detection.model_name,
            "model_version": detection.model_version,
            "model_label": detection.model_label,
            "object_count": len(detection.objects),
            "inference_ms": detection.inference_ms,
            "total_ms": detection.total_ms,
        }

        async def work(session: AsyncSession) -> int:
            detection_id = await _insert_detection(session, row)
            if detection.objects:
                await session.execute(
                    insert(_objects), _object_rows(detection_id, detection.objects)
                )
            await _mark_sending(session, reply_sending)
            return detection_id

        async def replace_failed(session: AsyncSession) -> int:
            d = _detections
            await session.execute(
                delete(d).where(
                    d.c.chat_id == detection.chat_id,
                    d.c.message_id == detection.message_id,
                    d.c.status == "failed",
                )
            )
            return await work(session)

        since = detection.requested_at
        try:
            return await self._insert_with_user(detection.user_id, work, since)
        except DuplicateDetection:
            pass
        try:
            return await self._insert_with_user(detection.user_id, replace_failed, since)
        except DuplicateDetection as duplicate:

            async def existing(session: AsyncSession) -> int | None:
                d = _detections
                await _mark_sending(session, reply_sending)
                return await session.scalar(
                    select(d.c.id).where(
                        d.c.chat_id == detection.chat_id, d.c.message_id == detection.message_id
                    )
                )

            duplicate.existing_id = await self._tx.run(existing)
            raise

    async def record_failed(
        self, failed: FailedDetection, reply_sending: InboxLease | None = None
    ) -> int:
        """Store an image the bot could not detect in, with the error kind; its id.
        `reply_sending` as for `record` (not marked when DuplicateDetection is raised)."""
        row = {
            "user_id": failed.user_id,
            "chat_id": failed.chat_id,
            "message_id": failed.message_id,
            "status": "failed",
            "error_kind": failed.error_kind[:64],
            "file_id": failed.file_id,
            "detail": failed.detail,
            "model_name": failed.model_name,
            "model_label": failed.model_label,
            "object_count": 0,
        }

        async def work(session: AsyncSession) -> int:
            detection_id = await _insert_detection(session, row)
            await _mark_sending(session, reply_sending)
            return detection_id

        return await self._insert_with_user(failed.user_id, work, failed.requested_at)

    async def record_reply(
        self,
        replies: Sequence[tuple[int, str]],
        job: InboxLease | None = None,
        reply_message_id: int | None = None,
    ) -> bool:
        """Remember the Telegram file ids of the annotated photos sent back (detection id, file
        id) and, in the same transaction, that the update's reply went out and it is done.
        False when the job's lease was lost meanwhile (the file ids are stored all the same)."""

        async def work(session: AsyncSession) -> bool:
            for detection_id, file_id in replies:
                await session.execute(
                    update(_detections)
                    .where(_detections.c.id == detection_id)
                    .values(reply_file_id=file_id)
                )
            if job is None:
                return True
            return await finish_replied(session, job.owner, job.update_id, reply_message_id)

        return await self._tx.run(work)

    async def history(
        self, user_id: int, limit: int = 10, *, chat_id: int | None = None
    ) -> list[HistoryItem]:
        """The user's most recent detections, newest first, with object counts per label;
        `chat_id`: only those sent in that chat."""
        d = _detections
        where = [d.c.user_id == user_id]
        if chat_id is not None:
            where.append(d.c.chat_id == chat_id)

        async def work(session: AsyncSession) -> list[HistoryItem]:
            rows = (
                await session.execute(
                    select(d.c.id, d.c.created_at, d.c.status, d.c.error_kind)
                    .where(*where)
                    .order_by(d.c.created_at.desc(), d.c.id.desc())
                    .limit(limit)
                )
            ).all()
            counts: dict[int, dict[str, int]] = {row.id: {} for row in rows}
            if counts:
                n = func.count().label("n")
                per_label = await session.execute(
                    select(_objects.c.detection_id, _objects.c.label, n)
                    .where(_objects.c.detection_id.in_(list(counts)))
                    .group_by(_objects.c.detection_id, _objects.c.label)
                    .order_by(_objects.c.detection_id, n.desc(), _objects.c.label)
                )
                for detection_id, label, count in per_label:
                    counts[detection_id][label] = count
            return [
                HistoryItem(
                    detection_id=row.id,
                    created_at=row.created_at,
                    status=cast(Literal["ok", "failed"], row.status),
                    counts=counts[row.id],
                    error_kind=row.error_kind,
                )
                for row in rows
            ]

        return await self._tx.run(work)

    async def _insert_with_user(
        self,
        user_id: int,
        work: Callable[[AsyncSession], Awaitable[int]],
        requested_at: datetime | None,
    ) -> int:
        async def checked(session: AsyncSession) -> int:
            await refuse_if_forgotten(session, user_id, requested_at)
            return await work(session)

        try:
            return await self._tx.run(checked)
        except _UnknownUser:

            async def register(session: AsyncSession) -> None:
                await refuse_if_forgotten(session, user_id, requested_at)
                await ensure_user(session, user_id)

            await self._tx.run(register)
            return await self._tx.run(checked)


class _UnknownUser(Exception):
    """The detection's user has no row yet (the handler never registered them)."""


async def _insert_detection(session: AsyncSession, row: dict[str, Any]) -> int:
    """Insert optimistically: the user is almost always registered already, so checking
    first would cost a round trip on every write. A foreign-key miss aborts this
    transaction; the caller then creates the user in its own and tries again (creating it
    here, after InnoDB's gap lock from the failed check, would deadlock concurrent writers)."""
    try:
        return await _insert_detection_row(session, row)
    except IntegrityError as exc:
        if is_foreign_key_violation(exc):
            raise _UnknownUser from exc
        raise


async def _insert_detection_row(session: AsyncSession, row: dict[str, Any]) -> int:
    try:
        result = await session.execute(insert(_detections).values(**row))
    except IntegrityError as exc:
        if is_unique_violation(exc):
            raise DuplicateDetection(row["chat_id"], row["message_id"]) from exc
        raise
    return inserted_id(result)


def _object_rows(detection_id: int, objects: Sequence[NewObject]) -> list[dict[str, Any]]:
    return [
        {
            "detection_id": detection_id,
            "class_id": obj.class_id,
            "label": obj.label,
            "score": obj.score,
            "ymin": obj.box[0],
            "xmin": obj.box[1],
            "ymax": obj.box[2],
            "xmax": obj.box[3],
        }
        for obj in objects
    ]


async def _mark_sending(session: AsyncSession, lease: InboxLease | None) -> None:
    if lease is not None:
        await mark_reply_sending(session, lease.owner, lease.update_id)
