"""The schema, in SQLAlchemy 2.0 typed declarative style.

Table and column names fixed by the contract (users, detections, detected_objects,
feedback and their listed columns) must not be renamed; admins' SQL relies on them.
Migrations (db/migrations/versions) build exactly this schema; a test compares the two.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from db.types import (
    MYSQL_TABLE_OPTIONS,
    AutoId,
    CurrentTimestamp,
    LongText,
    UTCDateTime,
    utc_now,
)


class Base(DeclarativeBase):
    metadata = MetaData()


def _created_at() -> Mapped[datetime]:
    return mapped_column(
        UTCDateTime(), nullable=False, default=utc_now, server_default=CurrentTimestamp()
    )


class User(Base):
    """A person who ever wrote to the bot; `id` is the Telegram user id."""

    __tablename__ = "users"
    __table_args__ = (MYSQL_TABLE_OPTIONS,)

    id: Mapped[int] = mapped_column(BigInteger(), primary_key=True, autoincrement=False)
    chat_id: Mapped[int] = mapped_column(BigInteger(), nullable=False)
    username: Mapped[str | None] = mapped_column(String(64))
    first_name: Mapped[str | None] = mapped_column(String(255))
    last_name: Mapped[str | None] = mapped_column(String(255))
    language_code: Mapped[str | None] = mapped_column(String(35))
    created_at: Mapped[datetime] = _created_at()
    last_seen_at: Mapped[datetime] = _created_at()


class Chat(Base):
    """A chat the bot is in, with its settings. Group and channel ids are negative.

    `model_name` is the model the chat chose with /model; NULL = the default model.

    `class_filter` holds the display names to keep, one per line; NULL or empty = all classes.
    """

    __tablename__ = "chats"
    __table_args__ = (MYSQL_TABLE_OPTIONS,)

    id: Mapped[int] = mapped_column(BigInteger(), primary_key=True, autoincrement=False)
    type: Mapped[str] = mapped_column(String(16), nullable=False)
    title: Mapped[str | None] = mapped_column(String(255))
    min_score: Mapped[float | None] = mapped_column(Double())
    class_filter: Mapped[str | None] = mapped_column(Text())
    auto_mode: Mapped[bool] = mapped_column(Boolean(), nullable=False, server_default=false())
    model_name: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = _created_at()
    updated_at: Mapped[datetime] = _created_at()


class Detection(Base):
    """One image the bot tried to detect objects in; `status` is 'ok' or 'failed'.

    `model_name` / `model_version` name the model and numeric version that answered (a failed
    row: the model asked, version NULL); `model_label` the TF Serving version label asked for
    (`stable`, `canary`), NULL when none was.

    (chat_id, message_id) is unique: a redelivered Telegram message cannot produce a
    second row, whatever happens in memory.
    """

    __tablename__ = "detections"
    __table_args__ = (
        UniqueConstraint("chat_id", "message_id", name="uq_detections_chat_message"),
        CheckConstraint("status IN ('ok', 'failed')", name="ck_detections_status"),
        Index("ix_detections_user_created", "user_id", "created_at"),
        Index("ix_detections_created", "created_at"),
        Index("ix_detections_status_inference", "status", "inference_ms"),
        Index("ix_detections_model_created", "model_name", "model_version", "created_at"),
        MYSQL_TABLE_OPTIONS,
    )

    id: Mapped[int] = mapped_column(AutoId, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(
        BigInteger(),
        ForeignKey("users.id", ondelete="CASCADE", name="fk_detections_user"),
        nullable=False,
    )
    chat_id: Mapped[int] = mapped_column(BigInteger(), nullable=False)
    message_id: Mapped[int] = mapped_column(BigInteger(), nullable=False)
    status: Mapped[str] = mapped_column(String(8), nullable=False)
    error_kind: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str | None] = mapped_column(Text())
    file_id: Mapped[str | None] = mapped_column(String(255))
    file_unique_id: Mapped[str | None] = mapped_column(String(64))
    reply_file_id: Mapped[str | None] = mapped_column(String(255))
    width: Mapped[int | None] = mapped_column(Integer())
    height: Mapped[int | None] = mapped_column(Integer())
    model_name: Mapped[str | None] = mapped_column(String(128))
    model_version: Mapped[str | None] = mapped_column(String(64))
    model_label: Mapped[str | None] = mapped_column(String(32))
    object_count: Mapped[int] = mapped_column(Integer(), nullable=False, server_default="0")
    inference_ms: Mapped[float | None] = mapped_column(Double())
    total_ms: Mapped[float | None] = mapped_column(Double())
    created_at: Mapped[datetime] = _created_at()


class DetectedObject(Base):
    """One box above the threshold; `box` is normalized ymin, xmin, ymax, xmax."""

    __tablename__ = "detected_objects"
    __table_args__ = (
        Index("ix_detected_objects_detection", "detection_id"),
        Index("ix_detected_objects_label", "label"),
        MYSQL_TABLE_OPTIONS,
    )

    id: Mapped[int] = mapped_column(AutoId, primary_key=True, autoincrement=True)
    detection_id: Mapped[int] = mapped_column(
        BigInteger(),
        ForeignKey("detections.id", ondelete="CASCADE", name="fk_detected_objects_detection"),
        nullable=False,
    )
    class_id: Mapped[int] = mapped_column(Integer(), nullable=False)
    label: Mapped[str] = mapped_column(String(128), nullable=False)
    score: Mapped[float] = mapped_column(Double(), nullable=False)
    ymin: Mapped[float] = mapped_column(Double(), nullable=False)
    xmin: Mapped[float] = mapped_column(Double(), nullable=False)
    ymax: Mapped[float] = mapped_column(Double(), nullable=False)
    xmax: Mapped[float] = mapped_column(Double(), nullable=False)


class Feedback(Base):
    """A /feedback message (`text`) or a rating button press (`rating` ±1).

    One rating per user and detection, enforced by the schema on MySQL and SQLite alike:
    rating rows carry `rating_slot = 1`, text rows `rating_slot = NULL`, and
    (user_id, detection_id, rating_slot) is unique. Both engines treat NULLs as distinct
    in a unique key, so text rows never collide while a second rating row for the same
    user and detection is impossible; pressing the other button updates the one row.
    (MySQL has no partial indexes, and a generated column indexed next to a column with
    a referential action is refused by MySQL 8, hence the plain column.)

    Deleting a detection keeps other people's feedback on it (detection_id → NULL).
    """

    __tablename__ = "feedback"
    __table_args__ = (
        UniqueConstraint("user_id", "detection_id", "rating_slot", name="uq_feedback_rating"),
        CheckConstraint(
            "(rating IS NULL AND rating_slot IS NULL) OR (rating IN (-1, 1) AND rating_slot = 1)",
            name="ck_feedback_rating",
        ),
        CheckConstraint("rating IS NOT NULL OR text IS NOT NULL", name="ck_feedback_content"),
        Index("ix_feedback_detection", "detection_id"),
        MYSQL_TABLE_OPTIONS,
    )

    id: Mapped[int] = mapped_column(AutoId, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(
        BigInteger(),
        ForeignKey("users.id", ondelete="CASCADE", name="fk_feedback_user"),
        nullable=False,
    )
    detection_id: Mapped[int | None] = mapped_column(
        BigInteger(), ForeignKey("detections.id", ondelete="SET NULL", name="fk_feedback_detection")
    )
    rating: Mapped[int | None] = mapped_column(SmallInteger())
    rating_slot: Mapped[int | None] = mapped_column(SmallInteger())
    text: Mapped[str | None] = mapped_column(Text())
    created_at: Mapped[datetime] = _created_at()
    updated_at: Mapped[datetime] = _created_at()


class InboxUpdate(Base):
    """A Telegram update as received, until it is handled (then kept `done` for a retention period).

    The primary key is Telegram's update id, so a second copy of an update is a no-op insert.
    A replica works on a row while it holds the lease (`lease_owner` until `lease_expires_at`);
    a lease that expired belongs to a replica that died, and any replica may take the row over.
    `fairness_key` (the chat) interleaves people in claim order; `reply_state` and
    `reply_message_id` say whether the reply went out, so a takeover does not send it again.
    """

    __tablename__ = "inbox"
    __table_args__ = (
        Index("ix_inbox_state_available", "state", "available_at"),
        Index("ix_inbox_state_done", "state", "done_at"),
        Index("ix_inbox_user", "user_id"),
        CheckConstraint("state IN ('pending', 'claimed', 'done')", name="ck_inbox_state"),
        MYSQL_TABLE_OPTIONS,
    )

    update_id: Mapped[int] = mapped_column(BigInteger(), primary_key=True, autoincrement=False)
    payload: Mapped[str | None] = mapped_column(LongText)
    received_at: Mapped[datetime] = _created_at()
    available_at: Mapped[datetime] = _created_at()
    state: Mapped[str] = mapped_column(String(8), nullable=False, server_default="pending")
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer(), nullable=False, server_default="0")
    fairness_key: Mapped[int | None] = mapped_column(BigInteger())
    user_id: Mapped[int | None] = mapped_column(BigInteger())
    notice_sent: Mapped[bool] = mapped_column(Boolean(), nullable=False, server_default=false())
    reply_state: Mapped[str | None] = mapped_column(String(8))
    reply_message_id: Mapped[int | None] = mapped_column(BigInteger())
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Album(Base):
    """A media group being collected from its items (wherever they arrived), then answered once.

    `quiet_until` moves forward with every item; once it has passed, one replica claims the album
    with a lease, as for inbox rows, and answers all its items together.
    """

    __tablename__ = "albums"
    __table_args__ = (
        Index("ix_albums_state_quiet", "state", "quiet_until"),
        Index("ix_albums_user", "user_id"),
        CheckConstraint("state IN ('collecting', 'claimed', 'done')", name="ck_albums_state"),
        MYSQL_TABLE_OPTIONS,
    )

    album_key: Mapped[str] = mapped_column(String(96), primary_key=True)
    chat_id: Mapped[int] = mapped_column(BigInteger(), nullable=False)
    user_id: Mapped[int] = mapped_column(BigInteger(), nullable=False)
    state: Mapped[str] = mapped_column(String(10), nullable=False, server_default="collecting")
    quiet_until: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    available_at: Mapped[datetime] = _created_at()
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer(), nullable=False, server_default="0")
    notice_sent: Mapped[bool] = mapped_column(Boolean(), nullable=False, server_default=false())
    reply_state: Mapped[str | None] = mapped_column(String(8))
    created_at: Mapped[datetime] = _created_at()
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class LanguageChoice(Base):
    """A language chosen with /language: a person's own (`scope` 'user', `owner_id` their user
    id) or a group's, set by its admins (`scope` 'chat', `owner_id` the chat id). No row: the
    person's Telegram language applies."""

    __tablename__ = "language_choices"
    __table_args__ = (
        CheckConstraint("scope IN ('user', 'chat')", name="ck_language_choices_scope"),
        MYSQL_TABLE_OPTIONS,
    )

    scope: Mapped[str] = mapped_column(String(8), primary_key=True)
    owner_id: Mapped[int] = mapped_column(BigInteger(), primary_key=True, autoincrement=False)
    language: Mapped[str] = mapped_column(String(16), nullable=False)
    updated_at: Mapped[datetime] = _created_at()


class AlbumItem(Base):
    """One message of an album: the update it came in, kept until the album is answered."""

    __tablename__ = "album_items"
    __table_args__ = (MYSQL_TABLE_OPTIONS,)

    album_key: Mapped[str] = mapped_column(
        String(96),
        ForeignKey("albums.album_key", ondelete="CASCADE", name="fk_album_items_album"),
        primary_key=True,
    )
    message_id: Mapped[int] = mapped_column(BigInteger(), primary_key=True, autoincrement=False)
    update_id: Mapped[int] = mapped_column(BigInteger(), nullable=False)
    payload: Mapped[str] = mapped_column(LongText, nullable=False)


class FeedbackPrompt(Base):
    """A bare /feedback waiting for the person's next message in that chat, until `expires_at`."""

    __tablename__ = "feedback_prompts"
    __table_args__ = (MYSQL_TABLE_OPTIONS,)

    user_id: Mapped[int] = mapped_column(BigInteger(), primary_key=True, autoincrement=False)
    chat_id: Mapped[int] = mapped_column(BigInteger(), primary_key=True, autoincrement=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class PhotoAdmission(Base):
    """One photo let through a person's limits; counted over the last minute and hour, by every
    replica alike. Rows older than an hour only take space and are pruned."""

    __tablename__ = "photo_admissions"
    __table_args__ = (
        Index("ix_photo_admissions_user_at", "user_id", "admitted_at"),
        Index("ix_photo_admissions_at", "admitted_at"),
        MYSQL_TABLE_OPTIONS,
    )

    id: Mapped[int] = mapped_column(AutoId, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(BigInteger(), nullable=False)
    admitted_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class ForgottenUser(Base):
    """When a person last had their data deleted (/forget): work that started before then must
    not write anything about them afterwards."""

    __tablename__ = "forgotten_users"
    __table_args__ = (MYSQL_TABLE_OPTIONS,)

    user_id: Mapped[int] = mapped_column(BigInteger(), primary_key=True, autoincrement=False)
    forgotten_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
