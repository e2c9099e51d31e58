"""The inbox on SQLite and MariaDB: one row per update id, leases, takeovers, fair claim order."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from db.errors import DuplicateDetection
from db.inbox import InboxItem, NewUpdate
from db.records import UserInfo
from db.repository import Repository
from db.session import create_engine, create_sessionmaker
from db.types import utc_now
from tests.support.records import new_detection
from tests.support.sql import execute, fetch

LEASE_S = 30.0


def update(update_id: int, chat: int = 1) -> NewUpdate:
    payload = json.dumps({"update_id": update_id, "chat": chat})
    return NewUpdate(update_id, payload, fairness_key=chat, user_id=chat)


class ReplicaInbox:
    """One replica's inbox as its worker uses it: claims go through `work_claims` (updates and
    albums together); everything else is the repository's `Inbox`."""

    def __init__(self, repository: Repository) -> None:
        self._repository = repository

    async def claim(self, owner: str, limit: int, lease_s: float) -> list[InboxItem]:
        return (await self._repository.work_claims.claim(owner, limit, lease_s)).updates

    def __getattr__(self, name: str) -> Any:
        return getattr(self._repository.inbox, name)


@pytest.fixture
def inbox(repository: Repository) -> ReplicaInbox:
    return ReplicaInbox(repository)


@pytest.fixture
async def second_inbox(database_url: str) -> AsyncIterator[ReplicaInbox]:
    """Another replica's inbox: its own engine and connections on the same database."""
    engine = create_engine(database_url)
    try:
        yield ReplicaInbox(Repository(create_sessionmaker(engine)))
    finally:
        await engine.dispose()


async def test_a_second_copy_of_an_update_is_a_no_op(
    inbox: ReplicaInbox, database_url: str
) -> None:
    assert await inbox.store([update(1), update(2)]) == 2
    assert await inbox.store([update(2), update(3)]) == 1
    assert await fetch(database_url, "SELECT update_id FROM inbox ORDER BY update_id") == [
        (1,),
        (2,),
        (3,),
    ]


async def test_a_claimed_update_is_not_claimed_again_while_its_lease_runs(
    inbox: ReplicaInbox, second_inbox: ReplicaInbox
) -> None:
    await inbox.store([update(1)])
    (item,) = await inbox.claim("a", 10, LEASE_S)
    assert item.payload == {"update_id": 1, "chat": 1}
    assert (item.attempts, item.taken_over) == (1, False)
    assert await second_inbox.claim("b", 10, LEASE_S) == []


async def test_an_expired_lease_is_taken_over_by_another_worker(
    inbox: ReplicaInbox, second_inbox: ReplicaInbox, database_url: str
) -> None:
    await inbox.store([update(1)])
    await inbox.claim("a", 10, LEASE_S)
    await execute(database_url, "UPDATE inbox SET lease_expires_at = '2000-01-01 00:00:00'")

    (item,) = await second_inbox.claim("b", 10, LEASE_S)
    assert (item.update_id, item.attempts, item.taken_over) == (1, 2, True)
    assert await inbox.done("a", 1) is False, "the dead worker's lease is gone"
    assert await second_inbox.done("b", 1) is True
    assert await inbox.claim("a", 10, LEASE_S) == []


async def test_released_rows_are_claimable_at_once(
    inbox: ReplicaInbox, second_inbox: ReplicaInbox
) -> None:
    await inbox.store([update(1), update(2)])
    await inbox.claim("a", 10, LEASE_S)
    assert await inbox.release("a", [1, 2]) == 2
    claimed = await second_inbox.claim("b", 10, LEASE_S)
    assert sorted(i.update_id for i in claimed) == [1, 2]
    assert not any(i.taken_over for i in claimed)


async def test_extend_renews_only_leases_still_held(
    inbox: ReplicaInbox, second_inbox: ReplicaInbox, database_url: str
) -> None:
    await inbox.store([update(1), update(2)])
    await inbox.claim("a", 10, LEASE_S)
    await execute(
        database_url, "UPDATE inbox SET lease_expires_at = '2000-01-01 00:00:00' WHERE update_id=2"
    )
    await second_inbox.claim("b", 10, LEASE_S)
    assert await inbox.extend("a", [1, 2], LEASE_S) == {1}


async def test_a_deferred_update_waits_until_its_time(inbox: ReplicaInbox) -> None:
    await inbox.store([update(1)])
    await inbox.claim("a", 10, LEASE_S)
    assert await inbox.defer("a", 1, utc_now() + timedelta(seconds=0.5), notice_sent=True)
    assert await inbox.claim("a", 10, LEASE_S) == []
    await asyncio.sleep(0.6)
    (item,) = await inbox.claim("a", 10, LEASE_S)
    assert (item.attempts, item.notice_sent) == (1, True)


async def test_claim_order_interleaves_chats(inbox: ReplicaInbox) -> None:
    await inbox.store([update(n, chat=1) for n in range(1, 11)])
    await inbox.store([update(100 + n, chat=2 + n) for n in range(3)])
    first = await inbox.claim("a", 6, LEASE_S)
    assert [i.update_id for i in first] == [1, 100, 101, 102, 2, 3]


async def test_reply_markers_survive_a_takeover(
    inbox: ReplicaInbox, second_inbox: ReplicaInbox, database_url: str
) -> None:
    await inbox.store([update(1), update(2)])
    await inbox.claim("a", 10, LEASE_S)
    await inbox.mark_reply_sending("a", 1)
    await inbox.mark_reply_sending("a", 2)
    await inbox.mark_reply_sent("a", 2, 777)
    await execute(database_url, "UPDATE inbox SET lease_expires_at = '2000-01-01 00:00:00'")
    states = {i.update_id: i.reply_state for i in await second_inbox.claim("b", 10, LEASE_S)}
    assert states == {1: "sending", 2: "sent"}
    assert await fetch(database_url, "SELECT reply_message_id FROM inbox WHERE update_id=2") == [
        (777,)
    ]


@dataclasses.dataclass(frozen=True)
class Lease:
    owner: str
    update_id: int


async def test_recording_a_detection_marks_its_reply_as_being_sent_in_the_same_transaction(
    repository: Repository, inbox: ReplicaInbox, second_inbox: ReplicaInbox, database_url: str
) -> None:
    """Also when the photo was detected before (a takeover finds the earlier row)."""
    await inbox.store([update(1), update(2), update(3)])
    await inbox.claim("a", 10, LEASE_S)
    await repository.detections.record(new_detection(1, 1, 10), Lease("a", 1))
    await repository.detections.record(new_detection(1, 1, 11))
    with pytest.raises(DuplicateDetection):
        await repository.detections.record(new_detection(1, 1, 11), Lease("a", 2))
    await execute(database_url, "UPDATE inbox SET lease_expires_at = '2000-01-01 00:00:00'")
    states = {i.update_id: i.reply_state for i in await second_inbox.claim("b", 10, LEASE_S)}
    assert states == {1: "sending", 2: "sending", 3: None}


async def test_done_rows_are_pruned_after_the_retention_in_batches(
    inbox: ReplicaInbox, database_url: str
) -> None:
    await inbox.store([update(n) for n in range(1, 8)])
    for item in await inbox.claim("a", 10, LEASE_S):
        if item.update_id <= 5:
            await inbox.done("a", item.update_id)
    await execute(
        database_url, "UPDATE inbox SET done_at = '2000-01-01 00:00:00' WHERE update_id <= 4"
    )
    assert await inbox.prune(timedelta(days=1), batch=3) == 3
    assert await inbox.prune(timedelta(days=1), batch=3) == 1
    assert await inbox.prune(timedelta(days=1), batch=3) == 0
    left = await fetch(database_url, "SELECT update_id, state FROM inbox ORDER BY update_id")
    assert left == [(5, "done"), (6, "claimed"), (7, "claimed")]
    assert await inbox.store([update(5)]) == 0, "a kept done row still stops a redelivery"


async def test_backlog_counts_what_is_not_done(inbox: ReplicaInbox) -> None:
    assert (await inbox.backlog()).pending == 0
    assert (await inbox.backlog()).oldest_pending_s is None
    await inbox.store([update(1), update(2)])
    await inbox.claim("a", 1, LEASE_S)
    await inbox.done("a", 1)
    backlog = await inbox.backlog()
    assert backlog.pending == 1
    assert backlog.oldest_pending_s is not None and backlog.oldest_pending_s < 60


@pytest.mark.parametrize("database_url", ["mariadb"], indirect=True)
async def test_workers_claiming_side_by_side_never_share_a_row(database_url: str) -> None:
    engines = [create_engine(database_url) for _ in range(3)]
    try:
        inboxes = [ReplicaInbox(Repository(create_sessionmaker(e))) for e in engines]
        await inboxes[0].store([update(n, chat=n % 7) for n in range(1, 301)])

        async def drain(inbox: ReplicaInbox, name: str) -> list[int]:
            taken: list[int] = []
            while (await inbox.backlog()).pending:
                for item in await inbox.claim(name, 5, LEASE_S):
                    taken.append(item.update_id)
                    assert await inbox.done(name, item.update_id)
            return taken

        results = await asyncio.gather(*(drain(i, f"w{n}") for n, i in enumerate(inboxes)))
    finally:
        for engine in engines:
            await engine.dispose()
    everything = [u for taken in results for u in taken]
    assert sorted(everything) == list(range(1, 301))
    assert all(results), "every worker got some of the work"


async def test_a_worker_claims_updates_first_and_quiet_albums_with_the_room_left(
    repository: Repository, database_url: str
) -> None:
    await repository.people.register(UserInfo(7, 7, "ann"), None)
    await repository.inbox.store([update(1), update(2)])
    for message_id in (10, 11):
        await repository.albums.add_item(
            "7:album",
            chat_id=7,
            user_id=7,
            message_id=message_id,
            update_id=100 + message_id,
            payload=json.dumps({"update_id": 100 + message_id}),
            quiet_s=0.0,
        )
    await asyncio.sleep(0.05)

    first = await repository.work_claims.claim("a", 2, LEASE_S)
    second = await repository.work_claims.claim("b", 2, LEASE_S)

    assert sorted(item.update_id for item in first.updates) == [1, 2] and first.albums == []
    assert second.updates == []
    [album] = second.albums
    assert album.album_key == "7:album" and len(album.items) == 2
    assert await fetch(database_url, "SELECT lease_owner FROM albums") == [("b",)]
