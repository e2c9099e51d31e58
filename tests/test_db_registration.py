"""Registering senders and chats from many concurrent first updates (what track_update does)."""

from __future__ import annotations

import asyncio
import logging

import aiomysql
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from db.records import ChatInfo, UserInfo
from db.repository import Repository
from db.session import create_engine
from tests.support.sql import fetch

USERS = [7_000_000_000 + n for n in range(8)]
UPDATES = 40


def sender(update_id: int) -> UserInfo:
    user_id = USERS[update_id % len(USERS)]
    return UserInfo(user_id, user_id, f"user{user_id}", "Ann", None, "en")


def private_chat(update_id: int) -> ChatInfo:
    return ChatInfo(USERS[update_id % len(USERS)], "private")


async def table_ids(database_url: str, table: str) -> set[int]:
    return {row[0] for row in await fetch(database_url, f"SELECT id FROM {table}")}


async def test_concurrent_first_updates_of_new_users_register_everyone_without_deadlocks(
    repository: Repository, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def first_update(update_id: int) -> None:
        await repository.people.register(sender(update_id), private_chat(update_id))

    with caplog.at_level(logging.WARNING, logger="db.transactions"):
        await asyncio.wait_for(
            asyncio.gather(*(first_update(n) for n in range(UPDATES))), timeout=120
        )

    assert await table_ids(database_url, "users") == set(USERS)
    assert await table_ids(database_url, "chats") == set(USERS)
    assert "Deadlock" not in caplog.text


async def test_concurrent_separate_registrations_of_new_senders_and_chats_all_succeed(
    repository: Repository, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def first_update(update_id: int) -> None:
        await repository.people.register(sender(update_id), None)
        await repository.people.register(None, private_chat(update_id))

    with caplog.at_level(logging.WARNING, logger="db.transactions"):
        await asyncio.wait_for(
            asyncio.gather(*(first_update(n) for n in range(UPDATES))), timeout=120
        )

    assert await table_ids(database_url, "users") == set(USERS)
    assert await table_ids(database_url, "chats") == set(USERS)
    assert "Deadlock" not in caplog.text


async def test_registering_again_refreshes_a_known_sender_and_chat(
    repository: Repository, database_url: str
) -> None:
    await repository.people.register(UserInfo(42, 42, "old"), ChatInfo(-5, "group", "A"))
    await repository.people.register(UserInfo(42, 42, "new"), ChatInfo(-5, "group", "B"))
    await repository.people.register(None, None)

    assert await fetch(database_url, "SELECT username FROM users") == [("new",)]
    assert await fetch(database_url, "SELECT title FROM chats") == [("B",)]


@pytest.mark.parametrize("database_url", ["mariadb"], indirect=True)
async def test_registration_chosen_as_deadlock_victim_is_retried_and_kept(
    repository: Repository, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Another writer locks the chat, then the user the registration holds: InnoDB rolls
    back the lighter transaction (the registration); it is retried and nothing is lost."""
    await repository.people.register(UserInfo(42, 42, "old"), ChatInfo(42, "private"))
    url = make_url(database_url)
    other = await aiomysql.connect(
        host=url.host or "127.0.0.1",
        port=url.port or 3306,
        user=url.username or "root",
        password=url.password or "",
        db=url.database,
    )
    try:
        async with other.cursor() as cursor:
            await cursor.execute("BEGIN")
            await cursor.executemany(
                "INSERT INTO inbox (update_id, payload) VALUES (%s, '{}')",
                [(n,) for n in range(1000, 1300)],
            )
            await cursor.execute("SELECT id FROM chats WHERE id = 42 FOR UPDATE")
            with caplog.at_level(logging.WARNING, logger="db.transactions"):
                registering = asyncio.create_task(
                    repository.people.register(UserInfo(42, 42, "new"), ChatInfo(42, "private"))
                )
                await wait_for_lock_wait(database_url)
                await cursor.execute("SELECT id FROM users WHERE id = 42 FOR UPDATE")
                await other.commit()
                await asyncio.wait_for(registering, timeout=30)
    finally:
        other.close()

    assert "Deadlock" in caplog.text and "retrying" in caplog.text
    assert await fetch(database_url, "SELECT username FROM users WHERE id = 42") == [("new",)]


LOCK_WAITS = text(
    "SELECT COUNT(*) FROM information_schema.INNODB_TRX WHERE trx_state = 'LOCK WAIT'"
)


async def wait_for_lock_wait(database_url: str) -> None:
    """Return once some transaction waits for a row lock (within 10 s)."""
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            for _ in range(1000):
                if await conn.scalar(LOCK_WAITS):
                    return
                await asyncio.sleep(0.01)
    finally:
        await engine.dispose()
    raise AssertionError("the registration never waited for the chat's lock")
