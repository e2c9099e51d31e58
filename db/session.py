"""Engine and session factory built from DATABASE_URL (MySQL via aiomysql, or SQLite)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.ext.asyncio import create_async_engine as _create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry, PoolResetState

MYSQL_POOL_RECYCLE_S = 280
"""Well below MySQL's usual wait_timeout, so the pool never hands out a connection the
server closed for idleness. A connection lost otherwise (server restart, KILL) fails its first
statement, and db.transactions retries the transaction on a fresh one; a pre-ping would cost
one more round trip on every transaction to catch what the retry catches anyway."""

MYSQL_CONNECT_TIMEOUT_S = 10
SQLITE_BUSY_TIMEOUT_MS = 30_000

_PASSWORD_IN_URL = re.compile(r"(://[^:/@]*:)[^@]*@")


def mask_url(url: str | URL) -> str:
    """The URL with its password replaced by ***; safe for logs and error messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return _PASSWORD_IN_URL.sub(r"\1***@", str(url))


def is_mysql(url: URL) -> bool:
    return url.get_backend_name() in ("mysql", "mariadb")


def create_engine(database_url: str) -> AsyncEngine:
    """One async engine per process. MySQL: utf8mb4, UTC session, recycle (no pre-ping),
    READ COMMITTED (each statement sees what others committed; no gap locks, so writers
    registering new rows side by side do not deadlock; needs row- or mixed-format binlog,
    the server default).
    SQLite: parent directory created; WAL, foreign keys and a busy timeout on every
    connection; every transaction starts with BEGIN IMMEDIATE so concurrent writers wait
    for the lock instead of failing on a read-to-write upgrade."""
    url = make_url(database_url)
    if is_mysql(url):
        if "charset" not in url.query:
            url = url.update_query_dict({"charset": "utf8mb4"})
        engine = _create_async_engine(
            url,
            pool_recycle=MYSQL_POOL_RECYCLE_S,
            pool_size=10,
            pool_reset_on_return=None,
            isolation_level="READ COMMITTED",
            connect_args={"connect_timeout": MYSQL_CONNECT_TIMEOUT_S},
        )
        event.listen(engine.sync_engine, "connect", _on_mysql_connect)
        event.listen(engine.sync_engine, "reset", _on_mysql_reset)
        return engine
    if url.get_backend_name() == "sqlite":
        database = url.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = _create_async_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        event.listen(engine.sync_engine, "connect", _on_sqlite_connect)
        event.listen(engine.sync_engine, "begin", _on_sqlite_begin)
        return engine
    return _create_async_engine(url, pool_pre_ping=True)


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def _on_mysql_connect(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("SET time_zone = '+00:00'")
    cursor.close()


def _on_mysql_reset(
    dbapi_connection: Any, record: ConnectionPoolEntry, state: PoolResetState
) -> None:
    """Roll back a returned connection only if the server says a transaction is open.

    The default reset-on-return sends ROLLBACK even right after COMMIT: one more round
    trip per transaction. MySQL reports SERVER_STATUS_IN_TRANS in every OK packet, so the
    same safety costs nothing when the transaction was already committed."""
    if state.terminate_only or not state.asyncio_safe:
        return
    in_transaction = getattr(dbapi_connection.driver_connection, "get_transaction_status", None)
    if in_transaction is None or in_transaction():
        dbapi_connection.rollback()


def _on_sqlite_connect(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.close()


def _on_sqlite_begin(connection: Any) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")
