"""A database that stops answering does not keep the caller waiting; the write lands later."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator

import pytest

from db.deadline import DatabaseTimeout
from db.inbox import NewUpdate
from db.repository import Repository
from db.session import create_engine, create_sessionmaker
from tests.support.db_locks import update_stored_elsewhere


@pytest.fixture
async def impatient_repository(database_url: str) -> AsyncIterator[Repository]:
    engine = create_engine(database_url)
    repository = Repository(create_sessionmaker(engine), wait_timeout_s=0.5)
    try:
        yield repository
    finally:
        await repository.finish_late_calls(10)
        await engine.dispose()


async def test_a_blocked_write_times_out_for_the_caller_and_lands_after_the_lock_goes(
    impatient_repository: Repository, database_url: str
) -> None:
    inbox = impatient_repository.inbox
    async with update_stored_elsewhere(database_url, 42):
        started = time.monotonic()
        with pytest.raises(DatabaseTimeout):
            await inbox.store([_update(42)])
        assert time.monotonic() - started < 3

    await impatient_repository.finish_late_calls(10)
    assert await inbox.store([_update(42)]) == 0


async def test_calls_within_the_deadline_are_unaffected(impatient_repository: Repository) -> None:
    assert await impatient_repository.inbox.store([_update(7)]) == 1
    assert await impatient_repository.inbox.store([_update(7)]) == 0


def _update(update_id: int) -> NewUpdate:
    return NewUpdate(update_id, json.dumps({"update_id": update_id}), fairness_key=1, user_id=1)
