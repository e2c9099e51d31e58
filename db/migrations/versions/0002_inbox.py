"""Durable intake: the inbox, albums collected in the database, /feedback prompts, per-person
photo admissions and /forget tombstones; processed_updates is replaced by the inbox.

Revision ID: 0002_inbox
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from db.types import MYSQL_TABLE_OPTIONS, AutoId, CurrentTimestamp, LongText, UTCDateTime

revision: str = "0002_inbox"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _timestamp(name: str) -> sa.Column[object]:
    return sa.Column(name, UTCDateTime(), nullable=False, server_default=CurrentTimestamp())


def _lease_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("lease_owner", sa.String(64)),
        sa.Column("lease_expires_at", UTCDateTime()),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("notice_sent", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("reply_state", sa.String(8)),
    ]


def upgrade() -> None:
    op.create_table(
        "inbox",
        sa.Column("update_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("payload", LongText),
        _timestamp("received_at"),
        _timestamp("available_at"),
        sa.Column("state", sa.String(8), nullable=False, server_default="pending"),
        sa.Column("lease_owner", sa.String(64)),
        sa.Column("lease_expires_at", UTCDateTime()),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("fairness_key", sa.BigInteger()),
        sa.Column("user_id", sa.BigInteger()),
        sa.Column("notice_sent", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("reply_state", sa.String(8)),
        sa.Column("reply_message_id", sa.BigInteger()),
        sa.Column("done_at", UTCDateTime()),
        sa.CheckConstraint("state IN ('pending', 'claimed', 'done')", name="ck_inbox_state"),
        **MYSQL_TABLE_OPTIONS,
    )
    op.create_index("ix_inbox_state_available", "inbox", ["state", "available_at"])
    op.create_index("ix_inbox_state_done", "inbox", ["state", "done_at"])
    op.create_index("ix_inbox_user", "inbox", ["user_id"])
    op.create_table(
        "albums",
        sa.Column("album_key", sa.String(96), primary_key=True),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(10), nullable=False, server_default="collecting"),
        sa.Column("quiet_until", UTCDateTime(), nullable=False),
        _timestamp("available_at"),
        *_lease_columns(),
        _timestamp("created_at"),
        sa.Column("done_at", UTCDateTime()),
        sa.CheckConstraint("state IN ('collecting', 'claimed', 'done')", name="ck_albums_state"),
        **MYSQL_TABLE_OPTIONS,
    )
    op.create_index("ix_albums_state_quiet", "albums", ["state", "quiet_until"])
    op.create_index("ix_albums_user", "albums", ["user_id"])
    op.create_table(
        "album_items",
        sa.Column(
            "album_key",
            sa.String(96),
            sa.ForeignKey("albums.album_key", ondelete="CASCADE", name="fk_album_items_album"),
            primary_key=True,
        ),
        sa.Column("message_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("update_id", sa.BigInteger(), nullable=False),
        sa.Column("payload", LongText, nullable=False),
        **MYSQL_TABLE_OPTIONS,
    )
    op.create_table(
        "feedback_prompts",
        sa.Column("user_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("chat_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        **MYSQL_TABLE_OPTIONS,
    )
    op.create_table(
        "photo_admissions",
        sa.Column("id", AutoId, primary_key=True, autoincrement=True),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("admitted_at", UTCDateTime(), nullable=False),
        **MYSQL_TABLE_OPTIONS,
    )
    op.create_index("ix_photo_admissions_user_at", "photo_admissions", ["user_id", "admitted_at"])
    op.create_index("ix_photo_admissions_at", "photo_admissions", ["admitted_at"])
    op.create_table(
        "forgotten_users",
        sa.Column("user_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("forgotten_at", UTCDateTime(), nullable=False),
        **MYSQL_TABLE_OPTIONS,
    )
    op.drop_table("processed_updates")


def downgrade() -> None:
    op.create_table(
        "processed_updates",
        sa.Column("update_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        _timestamp("created_at"),
        **MYSQL_TABLE_OPTIONS,
    )
    op.create_index("ix_processed_updates_created", "processed_updates", ["created_at"])
    op.drop_table("forgotten_users")
    op.drop_table("photo_admissions")
    op.drop_table("feedback_prompts")
    op.drop_table("album_items")
    op.drop_table("albums")
    op.drop_table("inbox")
