"""Initial schema: users, chats, detections, detected_objects, feedback, processed_updates.

Revision ID: 0001
Revises:
Create Date: 2025-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from db.types import MYSQL_TABLE_OPTIONS, AutoId, CurrentTimestamp, UTCDateTime

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _timestamp(name: str) -> sa.Column[object]:
    return sa.Column(name, UTCDateTime(), nullable=False, server_default=CurrentTimestamp())


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("username", sa.String(64)),
        sa.Column("first_name", sa.String(255)),
        sa.Column("last_name", sa.String(255)),
        sa.Column("language_code", sa.String(35)),
        _timestamp("created_at"),
        _timestamp("last_seen_at"),
        **MYSQL_TABLE_OPTIONS,
    )
    op.create_table(
        "chats",
        sa.Column("id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("title", sa.String(255)),
        sa.Column("min_score", sa.Double()),
        sa.Column("class_filter", sa.Text()),
        sa.Column("auto_mode", sa.Boolean(), nullable=False, server_default=sa.false()),
        _timestamp("created_at"),
        _timestamp("updated_at"),
        **MYSQL_TABLE_OPTIONS,
    )
    op.create_table(
        "detections",
        sa.Column("id", AutoId, primary_key=True, autoincrement=True),
        sa.Column(
            "user_id",
            sa.BigInteger(),
            sa.ForeignKey("users.id", ondelete="CASCADE", name="fk_detections_user"),
            nullable=False,
        ),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("error_kind", sa.String(64)),
        sa.Column("detail", sa.Text()),
        sa.Column("file_id", sa.String(255)),
        sa.Column("file_unique_id", sa.String(64)),
        sa.Column("reply_file_id", sa.String(255)),
        sa.Column("width", sa.Integer()),
        sa.Column("height", sa.Integer()),
        sa.Column("model_name", sa.String(128)),
        sa.Column("model_version", sa.String(64)),
        sa.Column("object_count", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("inference_ms", sa.Double()),
        sa.Column("total_ms", sa.Double()),
        _timestamp("created_at"),
        sa.UniqueConstraint("chat_id", "message_id", name="uq_detections_chat_message"),
        sa.CheckConstraint("status IN ('ok', 'failed')", name="ck_detections_status"),
        **MYSQL_TABLE_OPTIONS,
    )
    op.create_index("ix_detections_user_created", "detections", ["user_id", "created_at"])
    op.create_index("ix_detections_created", "detections", ["created_at"])
    op.create_index("ix_detections_status_inference", "detections", ["status", "inference_ms"])
    op.create_table(
        "detected_objects",
        sa.Column("id", AutoId, primary_key=True, autoincrement=True),
        sa.Column(
            "detection_id",
            sa.BigInteger(),
            sa.ForeignKey(
                "detections.id", ondelete="CASCADE", name="fk_detected_objects_detection"
            ),
            nullable=False,
        ),
        sa.Column("class_id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(128), nullable=False),
        sa.Column("score", sa.Double(), nullable=False),
        sa.Column("ymin", sa.Double(), nullable=False),
        sa.Column("xmin", sa.Double(), nullable=False),
        sa.Column("ymax", sa.Double(), nullable=False),
        sa.Column("xmax", sa.Double(), nullable=False),
        **MYSQL_TABLE_OPTIONS,
    )
    op.create_index("ix_detected_objects_detection", "detected_objects", ["detection_id"])
    op.create_index("ix_detected_objects_label", "detected_objects", ["label"])
    op.create_table(
        "feedback",
        sa.Column("id", AutoId, primary_key=True, autoincrement=True),
        sa.Column(
            "user_id",
            sa.BigInteger(),
            sa.ForeignKey("users.id", ondelete="CASCADE", name="fk_feedback_user"),
            nullable=False,
        ),
        sa.Column(
            "detection_id",
            sa.BigInteger(),
            sa.ForeignKey("detections.id", ondelete="SET NULL", name="fk_feedback_detection"),
        ),
        sa.Column("rating", sa.SmallInteger()),
        sa.Column("rating_slot", sa.SmallInteger()),
        sa.Column("text", sa.Text()),
        _timestamp("created_at"),
        _timestamp("updated_at"),
        sa.UniqueConstraint("user_id", "detection_id", "rating_slot", name="uq_feedback_rating"),
        sa.CheckConstraint(
            "(rating IS NULL AND rating_slot IS NULL) OR (rating IN (-1, 1) AND rating_slot = 1)",
            name="ck_feedback_rating",
        ),
        sa.CheckConstraint("rating IS NOT NULL OR text IS NOT NULL", name="ck_feedback_content"),
        **MYSQL_TABLE_OPTIONS,
    )
    op.create_index("ix_feedback_detection", "feedback", ["detection_id"])
    op.create_table(
        "processed_updates",
        sa.Column("update_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        _timestamp("created_at"),
        **MYSQL_TABLE_OPTIONS,
    )
    op.create_index("ix_processed_updates_created", "processed_updates", ["created_at"])


def downgrade() -> None:
    op.drop_table("processed_updates")
    op.drop_table("feedback")
    op.drop_table("detected_objects")
    op.drop_table("detections")
    op.drop_table("chats")
    op.drop_table("users")
