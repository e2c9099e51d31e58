"""Reading and changing a test database directly, as an admin with SQL would."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from db.session import create_engine


async def fetch(database_url: str, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    """The rows `sql` returns, on a connection of its own."""
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            return [tuple(row) for row in (await conn.execute(text(sql), params)).all()]
    finally:
        await engine.dispose()


async def execute(database_url: str, sql: str, **params: Any) -> None:
    """Run `sql` and commit, on a connection of its own."""
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(sql), params)
    finally:
        await engine.dispose()
