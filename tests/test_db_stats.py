"""Admin stats against a hand-made data set whose numbers are known, on both backends."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from sqlalchemy import text

from db.records import ChatInfo, FailedDetection, NewDetection, Stats, UserInfo
from db.repository import Repository
from db.session import create_engine
from tests.support.records import new_detection

ALICE, BOB, CAROL = 1, 2**33, 3


def ok(user_id: int, message_id: int, inference_ms: float, labels: list[str]) -> NewDetection:
    return new_detection(user_id, -100, message_id, labels, inference_ms=inference_ms)


async def seed(repository: Repository, database_url: str) -> None:
    """Alice: 12 ok (1..12 ms), each a person, the first 3 also a dog; 5 today, 7 yesterday.
    Bob: 8 ok (13..20 ms) with two cats each and 2 failed, all 40 days ago. Carol: nothing."""
    await repository.people.register(UserInfo(ALICE, ALICE, "alice"), ChatInfo(ALICE, "private"))
    await repository.people.register(UserInfo(BOB, BOB, None), None)
    await repository.people.register(UserInfo(CAROL, CAROL, "carol"), None)
    await repository.people.register(None, ChatInfo(-100, "group", "G"))
    for i in range(12):
        labels = ["person", "dog"] if i < 3 else ["person"]
        await repository.detections.record(ok(ALICE, i, float(i + 1), labels))
    for i in range(8):
        await repository.detections.record(ok(BOB, 100 + i, float(13 + i), ["cat", "cat"]))
    for i in range(2):
        await repository.detections.record_failed(FailedDetection(BOB, BOB, 200 + i, "corrupt"))

    today = datetime.combine(datetime.now(UTC).date(), time(0, 30))
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            for where, moment in [
                (f"user_id = {ALICE} AND message_id < 5", today),
                (f"user_id = {ALICE} AND message_id >= 5", today - timedelta(days=1)),
                (f"user_id = {BOB}", today - timedelta(days=40)),
            ]:
                await conn.execute(
                    text(f"UPDATE detections SET created_at = :at WHERE {where}"), {"at": moment}
                )
    finally:
        await engine.dispose()


async def test_stats_match_the_hand_made_data_set(
    repository: Repository, database_url: str
) -> None:
    await seed(repository, database_url)
    today = datetime.now(UTC).date()

    stats = await repository.stats.overview(days=30, top=10)

    assert stats == Stats(
        users=3,
        chats=2,
        detections_ok=20,
        detections_failed=2,
        objects=12 + 3 + 16,
        per_class=[("cat", 16), ("person", 12), ("dog", 3)],
        per_day=[(today - timedelta(days=1), 7), (today, 5)],
        avg_inference_ms=10.5,
        p95_inference_ms=19.0,
        top_users=[(ALICE, "alice", 12), (BOB, None, 10)],
    )


async def test_stats_window_and_top_limit(repository: Repository, database_url: str) -> None:
    await seed(repository, database_url)
    today = datetime.now(UTC).date()

    stats = await repository.stats.overview(days=1, top=1)

    assert stats.per_day == [(today, 5)]
    assert stats.top_users == [(ALICE, "alice", 12)]
    assert (await repository.stats.overview(days=60)).per_day[0] == (today - timedelta(days=40), 10)


async def test_stats_of_an_empty_database(repository: Repository) -> None:
    assert await repository.stats.overview() == Stats(
        users=0, chats=0, detections_ok=0, detections_failed=0, objects=0
    )
