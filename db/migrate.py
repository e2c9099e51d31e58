"""Alembic migrations run from code: no alembic.ini, the URL comes from Settings."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from db.errors import DatabaseUnavailable
from db.session import create_engine, mask_url

if TYPE_CHECKING:
    from alembic.config import Config

    from bot.config import Settings

logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config() -> Config:
    """Alembic's configuration built in code (alembic is imported lazily so that its
    import-time plugin chatter is silenced first)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


async def upgrade(database_url: str) -> None:
    """Bring the database to the newest revision; DatabaseUnavailable if it cannot be reached."""
    await _run(database_url, _upgrade, "head")


async def downgrade(database_url: str, revision: str = "base") -> None:
    await _run(database_url, _downgrade, revision)


def upgrade_cli(settings: Settings) -> int:
    """`detectbot db upgrade`: 0 when the schema is current, 1 (one stderr line) when not."""
    try:
        asyncio.run(upgrade(settings.database_url))
    except DatabaseUnavailable as exc:
        print(f"detectbot: {exc}", file=sys.stderr)
        return 1
    print(f"detectbot: database at {mask_url(settings.database_url)} is up to date")
    return 0


def _upgrade(connection: Connection, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    from alembic import command

    command.upgrade(config, revision)


def _downgrade(connection: Connection, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    from alembic import command

    command.downgrade(config, revision)


async def _run(database_url: str, step: Callable[[Connection, str], None], revision: str) -> None:
    masked = mask_url(database_url)
    try:
        engine = create_engine(database_url)
    except OSError as exc:
        raise DatabaseUnavailable(masked, str(exc)) from exc
    try:
        connection = await _connect(engine.connect(), masked)
        try:
            await connection.run_sync(step, revision)
            await connection.commit()
        finally:
            await connection.close()
    finally:
        await engine.dispose()


async def _connect(pending: AsyncConnection, masked: str) -> AsyncConnection:
    try:
        return await pending.start()
    except DBAPIError as exc:
        raise DatabaseUnavailable(masked, _reason(exc)) from exc
    except OSError as exc:
        raise DatabaseUnavailable(masked, str(exc)) from exc


def _reason(exc: DBAPIError) -> str:
    orig = exc.orig
    args: tuple[object, ...] = getattr(orig, "args", ())
    if len(args) == 2 and isinstance(args[0], int):
        reason = f"{args[1]} (error {args[0]})"
    else:
        reason = str(orig) if orig is not None else str(exc)
    cause = orig.__cause__ if orig is not None else None
    return f"{reason}: {cause}" if cause is not None and str(cause) not in reason else reason
