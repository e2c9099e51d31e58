"""Everything the bot reads and writes, as async methods taking and returning plain values.

Each method is one transaction (see db.transactions for sessions and retries). The inbox of
updates is `Repository.inbox` (db.inbox).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, cast

from sqlalchemy import Executable, Table, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.albums import Albums, forget_user_albums
from db.errors import DuplicateDetection, Forgotten
from db.inbox import Inbox, InboxLease, forget_user_updates, mark_done, mark_reply_sent
from db.languages import LanguageRepository, forget_user_language
from db.limits import Limits
from db.model_stats import read_model_stats
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
from db.prompts import FeedbackPrompts
from db.records import (
    UNSET,
    ChatInfo,
    ChatSettings,
    FailedDetection,
    HistoryItem,
    ModelVersionStats,
    NewDetection,
    NewObject,
    Stats,
    Unset,
    UserInfo,
)
from db.stats import read_stats
from db.transactions import (
    Transactions,
    chunks,
    dialect,
    inserted_id,
    is_foreign_key_violation,
    is_unique_violation,
    rowcount,
)
from db.types import utc_now
from db.upsert import insert_if_missing, upsert

__all__ = [
    "UNSET",
    "ChatInfo",
    "ChatSettings",
    "FailedDetection",
    "HistoryItem",
    "NewDetection",
    "NewObject",
    "Repository",
    "Stats",
    "UserInfo",
]

_users = cast(Table, User.__table__)
_chats = cast(Table, Chat.__table__)
_detections = cast(Table, Detection.__table__)
_objects = cast(Table, DetectedObject.__table__)
_feedback = cast(Table, Feedback.__table__)
_forgotten = cast(Table, ForgottenUser.__table__)
_prompts = cast(Table, FeedbackPrompt.__table__)
_admissions = cast(Table, PhotoAdmission.__table__)

_ID_CHUNK = 500
_PRUNE_BATCH = 500
_PRUNE_BATCHES = 20


class Repository:
    """The bot's persistence API. Construct once with the process's sessionmaker."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        wait_timeout_s: float | None = None,
    ) -> None:
        """`wait_timeout_s`: callers wait at most this long for one transaction, then get
        DatabaseTimeout while the transaction goes on in the background (see db.deadline)."""
        self._tx = Transactions(sessionmaker, wait_timeout_s=wait_timeout_s)
        self._transaction = self._tx.run
        self.inbox = Inbox(self._tx)
        self.limits = Limits(self._tx)
        self.albums = Albums(self._tx)
        self.prompts = FeedbackPrompts(self._tx)
        self.languages = LanguageRepository(self._transaction)

    async def finish_late_calls(self, timeout_s: float) -> None:
        """Let transactions that outlived their deadline finish (before the engine is disposed)."""
        await self._tx.finish_late_calls(timeout_s)

    async def upsert_user(self, user: UserInfo) -> bool:
        """Register or refresh a user from any update; True if the user is new.

        On MySQL two concurrent first calls for one user may both say True."""

        async def work(session: AsyncSession) -> bool:
            known = await session.scalar(select(_users.c.id).where(_users.c.id == user.id))
            await session.execute(_user_upsert(dialect(session), user))
            return known is None

        return await self._transaction(work)

    async def upsert_chat(self, chat: ChatInfo) -> None:
        async def work(session: AsyncSession) -> None:
            await session.execute(_chat_upsert(dialect(session), chat))

        await self._transaction(work)

    async def register_update(self, user: UserInfo | None, chat: ChatInfo | None) -> None:
        """Register an update's sender and chat, in one transaction."""
        if user is None and chat is None:
            return

        async def work(session: AsyncSession) -> None:
            name = dialect(session)
            if user is not None:
                await session.execute(_user_upsert(name, user))
            if chat is not None:
                await session.execute(_chat_upsert(name, chat))

        await self._transaction(work)

    async def housekeeping(self, inbox_retention: timedelta) -> int:
        """Prune what only takes space: done inbox rows past `inbox_retention` (in small
        batches), answered albums, photo admissions older than an hour, expired /feedback
        prompts. Returns the inbox rows deleted."""
        pruned = 0
        for _ in range(_PRUNE_BATCHES):
            deleted = await self.inbox.prune(inbox_retention, _PRUNE_BATCH)
            pruned += deleted
            if deleted < _PRUNE_BATCH:
                break
        await self.limits.prune()
        await self.prompts.prune()
        await self.albums.prune(inbox_retention)
        return pruned

    async def get_chat_settings(self, chat_id: int) -> ChatSettings:
        async def work(session: AsyncSession) -> ChatSettings:
            return await _read_chat_settings(session, chat_id)

        return await self._transaction(work)

    async def update_chat_settings(
        self,
        chat_id: int,
        *,
        min_score: float | Unset | None = UNSET,
        class_filter: frozenset[str] | Unset = UNSET,
        auto_mode: bool | Unset = UNSET,
        model_name: str | Unset | None = UNSET,
    ) -> ChatSettings:
        """Change only the settings passed; returns the chat's settings afterwards."""
        values: dict[str, Any] = {}
        if min_score is not UNSET:
            if min_score is not None and not 0.0 <= min_score <= 1.0:
                raise ValueError(f"min_score must be between 0 and 1, got {min_score}")
            values["min_score"] = min_score
        if class_filter is not UNSET:
            values["class_filter"] = "\n".join(sorted(class_filter)) or None
        if auto_mode is not UNSET:
            values["auto_mode"] = auto_mode
        if model_name is not UNSET:
            values["model_name"] = model_name

        async def work(session: AsyncSession) -> ChatSettings:
            if values:
                await session.execute(
                    upsert(
                        dialect(session),
                        _chats,
                        {"id": chat_id},
                        {**values, "updated_at": utc_now()},
                        insert_only={"type": "private" if chat_id > 0 else "group"},
                    )
                )
            return await _read_chat_settings(session, chat_id)

        return await self._transaction(work)

    async def record_detection(self, detection: NewDetection) -> int:
        """Store a successful detection and its objects in one transaction; its id.

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
                return await session.scalar(
                    select(d.c.id).where(
                        d.c.chat_id == detection.chat_id, d.c.message_id == detection.message_id
                    )
                )

            duplicate.existing_id = await self._transaction(existing)
            raise

    async def record_failed_detection(self, failed: FailedDetection) -> int:
        """Store an image the bot could not detect in, with the error kind; its id."""
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
            return await _insert_detection(session, row)

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
            await mark_reply_sent(session, job.owner, job.update_id, reply_message_id)
            return await mark_done(session, job.owner, job.update_id)

        return await self._transaction(work)

    async def add_feedback(
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
            await _refuse_if_forgotten(session, user_id, requested_at)
            await _ensure_user(session, user_id)
            linked = detection_id
            if linked is not None and not await _detection_exists(session, linked):
                linked = None
            result = await session.execute(
                insert(_feedback).values(user_id=user_id, detection_id=linked, text=text)
            )
            return inserted_id(result)

        return await self._transaction(work)

    async def set_rating(
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
            await _ensure_user(session, user_id)
            await session.execute(
                upsert(
                    dialect(session), _feedback, key, {"rating": rating, "updated_at": utc_now()}
                )
            )
            return True

        try:
            return await self._transaction(work)
        except IntegrityError:
            return False

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

        return await self._transaction(work)

    async def forget_user(self, user_id: int) -> int:
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
            await forget_person_elsewhere(session, user_id)
            await session.execute(
                upsert(
                    dialect(session),
                    _forgotten,
                    {"user_id": user_id},
                    {"forgotten_at": utc_now()},
                )
            )
            return deleted

        return await self._transaction(work)

    async def stats(self, days: int = 30, top: int = 10) -> Stats:
        """Admin numbers, all computed by the database (see Stats for the time ranges)."""
        since = datetime.combine(
            utc_now().date() - timedelta(days=max(days, 1) - 1), datetime.min.time(), UTC
        )

        async def work(session: AsyncSession) -> Stats:
            return await read_stats(session, since=since, top=top)

        return await self._transaction(work)

    async def model_stats(self, days: int = 30) -> list[ModelVersionStats]:
        """Per model and version label over the last `days` UTC days (see db.model_stats)."""
        since = datetime.combine(
            utc_now().date() - timedelta(days=max(days, 1) - 1), datetime.min.time(), UTC
        )

        async def work(session: AsyncSession) -> list[ModelVersionStats]:
            return await read_model_stats(session, since=since)

        return await self._transaction(work)

    async def ping(self) -> bool:
        """True when the database answers a trivial query within a few seconds."""
        return await self._tx.ping()

    async def _insert_with_user(
        self,
        user_id: int,
        work: Callable[[AsyncSession], Awaitable[int]],
        requested_at: datetime | None,
    ) -> int:
        async def checked(session: AsyncSession) -> int:
            await _refuse_if_forgotten(session, user_id, requested_at)
            return await work(session)

        try:
            return await self._transaction(checked)
        except _UnknownUser:

            async def register(session: AsyncSession) -> None:
                await _refuse_if_forgotten(session, user_id, requested_at)
                await _ensure_user(session, user_id)

            await self._transaction(register)
            return await self._transaction(checked)


async def forget_person_elsewhere(session: AsyncSession, user_id: int) -> None:
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


async def _ensure_user(session: AsyncSession, user_id: int) -> None:
    """Create a bare user row if the handler never registered this user (private chats
    share the user's id), so a detection or feedback is never lost to a foreign key."""
    if await session.scalar(select(_users.c.id).where(_users.c.id == user_id)) is not None:
        return
    await session.execute(
        insert_if_missing(dialect(session), _users, {"id": user_id, "chat_id": user_id})
    )


async def _refuse_if_forgotten(
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


async def _detection_exists(
    session: AsyncSession, detection_id: int, chat_id: int | None = None
) -> bool:
    query = select(_detections.c.id).where(_detections.c.id == detection_id)
    if chat_id is not None:
        query = query.where(_detections.c.chat_id == chat_id)
    found = await session.scalar(query)
    return found is not None


async def _read_chat_settings(session: AsyncSession, chat_id: int) -> ChatSettings:
    c = _chats
    row = (
        await session.execute(
            select(c.c.min_score, c.c.class_filter, c.c.auto_mode, c.c.model_name).where(
                c.c.id == chat_id
            )
        )
    ).one_or_none()
    if row is None:
        return ChatSettings()
    labels = frozenset(x for x in (row.class_filter or "").split("\n") if x)
    return ChatSettings(
        min_score=row.min_score,
        class_filter=labels,
        auto_mode=bool(row.auto_mode),
        model_name=row.model_name,
    )


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
