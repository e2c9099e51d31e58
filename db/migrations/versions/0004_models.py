"""Several models: a chat's chosen model, and the version label each detection asked for.

Revision ID: 0004_models
Revises: 0003_languages
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_models"
down_revision: str | None = "0003_languages"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("chats") as chats:
        chats.add_column(sa.Column("model_name", sa.String(128)))
    with op.batch_alter_table("detections") as detections:
        detections.add_column(sa.Column("model_label", sa.String(32)))
        detections.create_index(
            "ix_detections_model_created", ["model_name", "model_version", "created_at"]
        )


def downgrade() -> None:
    with op.batch_alter_table("detections") as detections:
        detections.drop_index("ix_detections_model_created")
        detections.drop_column("model_label")
    with op.batch_alter_table("chats") as chats:
        chats.drop_column("model_name")
