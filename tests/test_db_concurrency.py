"""Concurrent writers, and connections MySQL kills under the pool's feet."""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

import aiomysql
import pytest
from sqlalchemy import event, text
from sqlalchemy.engine import make_url

from db.records import UserInfo
from db.repository import Repository
from db.session import create_engine, create_sessionmaker
from tests.support.records import new_detection
from tests.support.sql import fetch

mariadb_only = pytest.mark.parametrize("database_url", ["mariadb"], indirect=True)
GROUP_ID = -1001234567890
LABELS = ("person", "dog", "cat")


async def test_fifty_concurrent_detections_are_all_stored_with_their_objects(
    repository: Repository,
) -> None:
    users = [10 + n for n in range(5)]
    ids = await asyncio.wait_for(
        asyncio.gather(
            *(
                repository.detections.record(
                    new_detection(users[i % 5], GROUP_ID, i, LABELS, inference_ms=float(i))
                )
                for i in range(50)
            )
        ),
        timeout=120,
    )
    assert len(set(ids)) == 50
    stats = await repository.stats.overview()
    assert (stats.detections_ok, stats.objects, stats.users) == (50, 150, 5)
    assert stats.per_class == [("cat", 50), ("dog", 50), ("person", 50)]
    for user in users:
        items = await repository.detections.history(user, limit=100)
        assert len(items) == 10
        assert all(item.counts == {"person": 1, "dog": 1, "cat": 1} for item in items)


async def mysql_admin(database_url: str) -> aiomysql.Connection:
    url = make_url(database_url)
    return await aiomysql.connect(
        host=url.host or "127.0.0.1",
        port=url.port or 3306,
        user=url.username or "root",
        password=url.password or "",
        autocommit=True,
    )


async def connection_ids(database_url: str) -> set[int]:
    admin = await mysql_admin(database_url)
    try:
        async with admin.cursor() as cursor:
            await cursor.execute(
                "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = %s AND ID <> "
                "CONNECTION_ID()",
                (make_url(database_url).database,),
            )
            return {int(row[0]) for row in await cursor.fetchall()}
    finally:
        admin.close()


async def kill(database_url: str, ids: set[int]) -> None:
    admin = await mysql_admin(database_url)
    try:
        async with admin.cursor() as cursor:
            for connection_id in ids:
                await cursor.execute(f"KILL {connection_id}")
    finally:
        admin.close()


@mariadb_only
async def test_connection_killed_by_the_server_between_calls_is_survived(
    repository: Repository, database_url: str
) -> None:
    await repository.people.register(UserInfo(1, 1, "before"), None)
    pooled = await connection_ids(database_url)
    assert pooled

    await kill(database_url, pooled)

    await repository.people.register(UserInfo(1, 1, "after"), None)
    assert await fetch(database_url, "SELECT id, username FROM users") == [(1, "after")]
    assert (
        await repository.detections.record(new_detection(1, GROUP_ID, 1, LABELS, inference_ms=1.0))
        > 0
    )
    assert [item.counts for item in await repository.detections.history(1)] == [
        {"person": 1, "dog": 1, "cat": 1}
    ]
    assert not (await connection_ids(database_url)) & pooled


@mariadb_only
async def test_connection_killed_after_checkout_is_retried_once(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A connection that dies after checkout fails the transaction's first statement; the
    repository retries the transaction once on a fresh connection instead of failing the user."""
    engine = create_engine(database_url)
    repository = Repository(create_sessionmaker(engine))
    killed: list[int] = []

    def kill_once(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        if killed:
            return
        cursor = dbapi_connection.cursor()
        cursor.execute("SELECT CONNECTION_ID()")
        connection_id = int(cursor.fetchone()[0])
        cursor.close()
        killed.append(connection_id)
        worker = threading.Thread(
            target=lambda: asyncio.run(kill(database_url, {connection_id})), daemon=True
        )
        worker.start()
        worker.join(timeout=10)

    try:
        await repository.people.register(UserInfo(1, 1, "first"), None)
        event.listen(engine.sync_engine.pool, "checkout", kill_once)
        with caplog.at_level(logging.WARNING, logger="db.transactions"):
            detection_id = await repository.detections.record(
                new_detection(1, GROUP_ID, 7, LABELS, inference_ms=7.0)
            )
        assert killed
        assert "retrying" in caplog.text
        [item] = await repository.detections.history(1)
        assert item.detection_id == detection_id
        async with engine.connect() as conn:
            objects = await conn.scalar(text("SELECT COUNT(*) FROM detected_objects"))
        assert objects == 3
    finally:
        await engine.dispose()
