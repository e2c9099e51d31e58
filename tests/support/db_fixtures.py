"""Database fixtures: every test gets a fresh, migrated, empty database on SQLite and MariaDB.

MariaDB: each test gets its own uniquely named database next to the one in
DETECTX_TEST_MYSQL_URL (default root@127.0.0.1:3306), dropped afterwards. The MariaDB
case is skipped only when that variable is unset, CI is not set, and nothing listens on
127.0.0.1:3306.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from db.migrate import upgrade
from db.repository import Repository
from db.session import create_engine, create_sessionmaker

DEFAULT_MYSQL_URL = "mysql+aiomysql://root@127.0.0.1:3306/detectx_test?charset=utf8mb4"
UNKNOWN_THREAD = "1094"
"""KILL of a connection that closed since it was listed."""


def mysql_base_url() -> str | None:
    """The configured MariaDB test URL, or None when MariaDB tests may be skipped."""
    configured = os.environ.get("DETECTX_TEST_MYSQL_URL")
    if configured:
        return configured
    if os.environ.get("CI", "").lower() == "true" or _port_open("127.0.0.1", 3306):
        return DEFAULT_MYSQL_URL
    return None


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def sqlite_url(directory: Path) -> str:
    return f"sqlite+aiosqlite:///{directory / 'detectx.db'}"


async def create_mysql_database(base_url: str, prefix: str = "detectx_t") -> str:
    """Create an empty utf8mb4 database with a unique name; its URL."""
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:10]}"
    admin = create_async_engine(make_url(base_url).set(database=None), poolclass=NullPool)
    try:
        async with admin.connect() as conn:
            await conn.execute(
                text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
            )
    finally:
        await admin.dispose()
    return make_url(base_url).set(database=name).render_as_string(hide_password=False)


async def drop_mysql_database(url: str) -> None:
    """Drop the database, first killing connections a test may have left open in it."""
    parsed = make_url(url)
    admin = create_async_engine(parsed.set(database=None), poolclass=NullPool)
    try:
        async with admin.connect() as conn:
            leftover = await conn.execute(
                text(
                    "SELECT ID FROM information_schema.PROCESSLIST "
                    "WHERE DB = :db AND ID <> CONNECTION_ID()"
                ),
                {"db": parsed.database},
            )
            for (connection_id,) in leftover.all():
                try:
                    await conn.execute(text(f"KILL {int(connection_id)}"))
                except OperationalError as exc:
                    if UNKNOWN_THREAD not in str(exc.orig):
                        raise
            await conn.execute(text(f"DROP DATABASE IF EXISTS `{parsed.database}`"))
    finally:
        await admin.dispose()


@pytest.fixture(params=["sqlite", "mariadb"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A fresh, migrated, empty database; the test runs once on SQLite and once on MariaDB."""
    if request.param == "sqlite":
        url = sqlite_url(tmp_path)
        await upgrade(url)
        yield url
        return
    base = mysql_base_url()
    if base is None:
        pytest.skip("MariaDB not reachable on 127.0.0.1:3306 and DETECTX_TEST_MYSQL_URL unset")
    url = await create_mysql_database(base)
    try:
        await upgrade(url)
        yield url
    finally:
        await drop_mysql_database(url)


@pytest.fixture
async def repository(database_url: str) -> AsyncIterator[Repository]:
    engine = create_engine(database_url)
    try:
        yield Repository(create_sessionmaker(engine))
    finally:
        await engine.dispose()
