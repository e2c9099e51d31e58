"""Language choices made with /language: a person's own and a group's.

Revision ID: 0003_languages
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from db.types import MYSQL_TABLE_OPTIONS, CurrentTimestamp, UTCDateTime

revision: str = "0003_languages"
down_revision: str | None = "0002_inbox"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "language_choices",
        sa.Column("scope", sa.String(8), primary_key=True),
        sa.Column("owner_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("language", sa.String(16), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False, server_default=CurrentTimestamp()),
        sa.CheckConstraint("scope IN ('user', 'chat')", name="ck_language_choices_scope"),
        **MYSQL_TABLE_OPTIONS,
    )


def downgrade() -> None:
    op.drop_table("language_choices")
