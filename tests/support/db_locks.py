"""Making the test database stop answering, the way a held lock does in production."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text

from db.session import create_engine


@asynccontextmanager
async def update_stored_elsewhere(database_url: str, update_id: int) -> AsyncIterator[None]:
    """Another connection stores `update_id` in the inbox and holds its transaction open until
    the block ends (SQLite: the database's write lock; MariaDB: that row's lock), then rolls
    back."""
    engine = create_engine(database_url)
    try:
        async with engine.connect() as holder:
            transaction = await holder.begin()
            await holder.execute(
                text("INSERT INTO inbox (update_id, payload) VALUES (:id, '{}')"), {"id": update_id}
            )
            try:
                yield
            finally:
                await transaction.rollback()
    finally:
        await engine.dispose()


BOT_TABLES = (
    "users",
    "chats",
    "detections",
    "detected_objects",
    "feedback",
    "inbox",
    "albums",
    "album_items",
    "feedback_prompts",
    "photo_admissions",
    "forgotten_users",
)


@asynccontextmanager
async def database_frozen(database_url: str) -> AsyncIterator[None]:
    """Every write of the bot waits until the block ends: SQLite's write lock held by another
    connection, or every bot table locked (`LOCK TABLES ... WRITE`) on MariaDB."""
    engine = create_engine(database_url)
    try:
        async with engine.connect() as holder:
            if engine.dialect.name == "sqlite":
                transaction = await holder.begin()
                try:
                    yield
                finally:
                    await transaction.rollback()
                return
            tables = ", ".join(f"{name} WRITE" for name in BOT_TABLES)
            await holder.execute(text(f"LOCK TABLES {tables}"))
            try:
                yield
            finally:
                await holder.execute(text("UNLOCK TABLES"))
    finally:
        await engine.dispose()
