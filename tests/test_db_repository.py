"""Repository behaviour, each test on SQLite and on MariaDB."""

from __future__ import annotations

import pytest

from db.errors import DuplicateDetection
from db.records import ChatInfo, ChatSettings, FailedDetection, UserInfo
from db.repository import Repository
from db.session import create_engine, create_sessionmaker
from tests.support.records import new_detection
from tests.support.sql import fetch

GROUP_ID = -1001234567890
BIG_USER_ID = 2**33 + 7


async def count_rows(database_url: str, sql: str) -> int:
    [(count,)] = await fetch(database_url, sql)
    return int(count)


async def test_registering_a_known_sender_again_refreshes_their_one_row(
    repository: Repository, database_url: str
) -> None:
    await repository.people.register(UserInfo(5, 5, "ann", "Ann"), None)
    await repository.people.register(UserInfo(5, 5, "ann_new", "Ann", "Lee", "de"), None)
    await repository.people.register(UserInfo(5, 5, "ann_new", "Ann", "Lee", "de"), None)
    assert await fetch(
        database_url, "SELECT id, username, first_name, last_name, language_code FROM users"
    ) == [(5, "ann_new", "Ann", "Lee", "de")]
    stats = await repository.stats.overview()
    assert stats.users == 1


async def test_group_id_and_user_id_above_2_pow_32_round_trip(
    repository: Repository, database_url: str
) -> None:
    await repository.people.register(
        UserInfo(BIG_USER_ID, BIG_USER_ID, "big"), ChatInfo(GROUP_ID, "supergroup", "Group 😀")
    )
    detection_id = await repository.detections.record(
        new_detection(BIG_USER_ID, GROUP_ID, 2**40, ("dog",))
    )
    [item] = await repository.detections.history(BIG_USER_ID)
    assert item.detection_id == detection_id
    assert item.counts == {"dog": 1}
    assert (await repository.stats.overview()).top_users == [(BIG_USER_ID, "big", 1)]
    assert await count_rows(database_url, "SELECT chat_id FROM detections") == GROUP_ID
    settings = await repository.chat_settings.update(GROUP_ID, auto_mode=True)
    assert settings == ChatSettings(min_score=None, class_filter=frozenset(), auto_mode=True)


async def test_chat_settings_default_then_change_only_what_is_passed(
    repository: Repository,
) -> None:
    assert await repository.chat_settings.get(GROUP_ID) == ChatSettings()
    await repository.people.register(None, ChatInfo(GROUP_ID, "group", "Cats"))
    await repository.chat_settings.update(GROUP_ID, min_score=0.35)
    await repository.chat_settings.update(GROUP_ID, class_filter=frozenset({"cat", "dog"}))
    settings = await repository.chat_settings.get(GROUP_ID)
    assert settings == ChatSettings(0.35, frozenset({"cat", "dog"}), False)
    settings = await repository.chat_settings.update(
        GROUP_ID, min_score=None, class_filter=frozenset()
    )
    assert settings == ChatSettings(None, frozenset(), False)
    assert await repository.chat_settings.update(7) == ChatSettings()
    with pytest.raises(ValueError):
        await repository.chat_settings.update(GROUP_ID, min_score=1.5)


async def test_settings_for_unknown_chat_create_the_row(repository: Repository) -> None:
    settings = await repository.chat_settings.update(-42, auto_mode=True, min_score=0.7)
    assert settings == ChatSettings(0.7, frozenset(), True)
    assert (await repository.stats.overview()).chats == 1


async def test_feedback_text_with_emoji_and_astral_characters_round_trips(
    repository: Repository, database_url: str
) -> None:
    message = "Great bot 😀 — 𝒳 marks the spot 🐈‍⬛ 中文"
    await repository.people.register(UserInfo(1, 1, "emoji_😀", "Zoë 𝒳"), None)
    feedback_id = await repository.feedback.add(1, message)
    stored = await fetch(
        database_url, "SELECT text, detection_id FROM feedback WHERE id = :id", id=feedback_id
    )
    assert stored == [(message, None)]
    assert await fetch(database_url, "SELECT username, first_name FROM users") == [
        ("emoji_😀", "Zoë 𝒳")
    ]


async def test_feedback_on_a_vanished_detection_keeps_the_text(repository: Repository) -> None:
    detection_id = await repository.detections.record(new_detection(1, 1, 10))
    assert await repository.feedback.add(1, "nice", detection_id) > 0
    assert await repository.feedback.add(1, "still here", 999_999) > 0
    assert await repository.people.forget(1) == 1 + 2 + 1 + 1


async def test_second_detection_for_the_same_message_is_refused(repository: Repository) -> None:
    first = await repository.detections.record(new_detection(1, GROUP_ID, 77))
    with pytest.raises(DuplicateDetection) as refused:
        await repository.detections.record(new_detection(1, GROUP_ID, 77, ("cat", "cat")))
    assert refused.value.existing_id == first
    with pytest.raises(DuplicateDetection):
        await repository.detections.record_failed(FailedDetection(1, GROUP_ID, 77, "corrupt"))
    [item] = await repository.detections.history(1)
    assert item.detection_id == first
    assert item.counts == {"person": 1}
    assert await repository.detections.record(new_detection(1, GROUP_ID, 78)) != first


async def test_a_successful_retry_replaces_the_failed_attempt_on_that_message(
    repository: Repository,
) -> None:
    await repository.detections.record_failed(
        FailedDetection(1, GROUP_ID, 77, "detector_unavailable")
    )
    ok = await repository.detections.record(new_detection(1, GROUP_ID, 77, ("cat", "cat")))
    [item] = await repository.detections.history(1)
    assert (item.detection_id, item.status, item.counts) == (ok, "ok", {"cat": 2})
    with pytest.raises(DuplicateDetection):
        await repository.detections.record(new_detection(1, GROUP_ID, 77))


async def test_failed_detection_is_stored_with_its_error_kind(repository: Repository) -> None:
    await repository.detections.record_failed(
        FailedDetection(3, 3, 1, "image_too_large", file_id="f", detail="60 MP")
    )
    [item] = await repository.detections.history(3)
    assert (item.status, item.error_kind, item.counts) == ("failed", "image_too_large", {})
    stats = await repository.stats.overview()
    assert (stats.detections_ok, stats.detections_failed, stats.users) == (0, 1, 1)


async def test_reply_file_id_is_stored(repository: Repository, database_url: str) -> None:
    detection_id = await repository.detections.record(new_detection(1, 1, 1))
    assert await repository.detections.record_reply([(detection_id, "AgACreply")])
    assert await fetch(database_url, "SELECT reply_file_id FROM detections") == [("AgACreply",)]


async def test_rating_flip_changes_the_one_row(repository: Repository, database_url: str) -> None:
    detection_id = await repository.detections.record(new_detection(1, 1, 5))
    assert await repository.feedback.rate(2, detection_id, 1) is True
    assert await repository.feedback.rate(2, detection_id, -1) is True
    assert await repository.feedback.rate(2, detection_id, -1) is True
    await repository.feedback.add(2, "text feedback 1", detection_id)
    await repository.feedback.add(2, "text feedback 2", detection_id)
    ratings = "FROM feedback WHERE rating IS NOT NULL"
    assert await count_rows(database_url, f"SELECT COUNT(*) {ratings}") == 1
    assert await count_rows(database_url, f"SELECT rating {ratings}") == -1
    assert await count_rows(database_url, "SELECT COUNT(*) FROM feedback") == 3
    assert await repository.feedback.rate(2, 123_456, 1) is False
    with pytest.raises(ValueError):
        await repository.feedback.rate(2, detection_id, 0)


async def test_history_is_newest_first_with_counts(repository: Repository) -> None:
    for message_id, labels in [(1, ("dog",)), (2, ("person", "dog", "person")), (3, ())]:
        await repository.detections.record(new_detection(8, 8, message_id, labels))
    await repository.detections.record(new_detection(9, 9, 4, ("cat",)))
    items = await repository.detections.history(8, limit=2)
    assert [item.counts for item in items] == [{}, {"person": 2, "dog": 1}]
    assert list(items[1].counts) == ["person", "dog"]
    assert items[0].created_at.tzinfo is not None
    assert len(await repository.detections.history(8)) == 3


async def test_forget_removes_everything_of_one_user_and_nothing_of_another(
    repository: Repository, database_url: str
) -> None:
    alice, bob = 11, BIG_USER_ID
    for user in (alice, bob):
        await repository.people.register(
            UserInfo(user, user, f"user{user}"), ChatInfo(user, "private")
        )
        await repository.chat_settings.update(user, min_score=0.6)
        await repository.feedback.add(user, f"hello from {user}")
    alice_photo = await repository.detections.record(
        new_detection(alice, GROUP_ID, 1, ("cat", "dog"))
    )
    await repository.detections.record_failed(FailedDetection(alice, alice, 2, "corrupt"))
    bob_photo = await repository.detections.record(new_detection(bob, GROUP_ID, 3, ("person",)))
    await repository.feedback.rate(alice, alice_photo, 1)
    await repository.feedback.rate(alice, bob_photo, -1)
    await repository.feedback.rate(bob, alice_photo, 1)
    await repository.feedback.add(bob, "about alice's photo", alice_photo)

    before = await _table_counts(database_url)
    deleted = await repository.people.forget(alice)

    # alice: 1 user + 1 chat + 3 feedback + 2 detections + 2 objects
    assert deleted == 9
    for query in (
        f"SELECT COUNT(*) FROM users WHERE id = {alice}",
        f"SELECT COUNT(*) FROM detections WHERE user_id = {alice}",
        f"SELECT COUNT(*) FROM feedback WHERE user_id = {alice}",
    ):
        assert await count_rows(database_url, query) == 0
    assert await repository.detections.history(alice) == []
    assert await repository.chat_settings.get(alice) == ChatSettings()
    after = await _table_counts(database_url)
    assert after == {
        "users": before["users"] - 1,
        "chats": before["chats"] - 1,
        "detections": before["detections"] - 2,
        "detected_objects": before["detected_objects"] - 2,
        "feedback": before["feedback"] - 3,
    }
    assert [i.detection_id for i in await repository.detections.history(bob)] == [bob_photo]
    assert await repository.chat_settings.get(bob) == ChatSettings(0.6, frozenset(), False)
    bob_feedback = await count_rows(
        database_url, f"SELECT COUNT(*) FROM feedback WHERE user_id = {bob}"
    )
    assert bob_feedback == 3
    assert await repository.people.forget(alice) == 0


async def _table_counts(database_url: str) -> dict[str, int]:
    tables = ("users", "chats", "detections", "detected_objects", "feedback")
    return {t: await count_rows(database_url, f"SELECT COUNT(*) FROM {t}") for t in tables}


async def test_ping_answers_true(repository: Repository) -> None:
    assert await repository.ping() is True


async def test_ping_answers_false_when_the_database_is_unreachable() -> None:
    engine = create_engine("mysql+aiomysql://u:secret@127.0.0.1:1/x")
    try:
        assert await Repository(create_sessionmaker(engine)).ping() is False
    finally:
        await engine.dispose()
