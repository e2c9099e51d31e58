"""Opening a photo request: the chat's settings, the language choices and the person's
admission, read and counted together; each test on SQLite and on MariaDB."""

from __future__ import annotations

from datetime import timedelta

from db.languages import LanguageChoices
from db.limits import Admission
from db.photo_requests import PhotoRequester
from db.records import ChatInfo, ChatSettings, UserInfo
from db.repository import Repository
from db.types import utc_now
from tests.support.sql import fetch

USER = 41
GROUP = -100_41
IN_GROUP = PhotoRequester(limit_key=USER, user_id=USER, group_id=GROUP)


def always(chat_settings: ChatSettings) -> bool:
    return True


def in_auto_mode(chat_settings: ChatSettings) -> bool:
    return chat_settings.auto_mode


async def admissions(database_url: str) -> int:
    [(count,)] = await fetch(database_url, "SELECT COUNT(*) FROM photo_admissions")
    return int(count)


async def test_request_carries_the_chat_settings_and_both_language_choices(
    repository: Repository,
) -> None:
    await repository.people.register(UserInfo(USER, USER, "ann"), ChatInfo(GROUP, "group", "G"))
    await repository.chat_settings.update(GROUP, min_score=0.6, auto_mode=True)
    await repository.languages.choose("user", USER, "de")
    await repository.languages.choose("chat", GROUP, "es")

    request = await repository.photo_requests.open(
        IN_GROUP, GROUP, 1, answers=always, per_minute=5, per_hour=50
    )

    assert request.answers
    assert request.chat_settings == ChatSettings(0.6, frozenset(), True)
    assert request.language_choices == LanguageChoices(user="de", chat="es")
    assert request.admission is not None and request.admission.admitted


async def test_photo_the_chat_does_not_answer_counts_against_no_limit(
    repository: Repository, database_url: str
) -> None:
    await repository.people.register(UserInfo(USER, USER, "ann"), ChatInfo(GROUP, "group", "G"))

    request = await repository.photo_requests.open(
        IN_GROUP, GROUP, 1, answers=in_auto_mode, per_minute=5, per_hour=50
    )

    assert not request.answers and request.admission is None
    assert await admissions(database_url) == 0


async def test_over_the_minute_rate_waits_and_over_the_hourly_cap_is_refused_until_a_slot_frees(
    repository: Repository, database_url: str
) -> None:
    await repository.people.register(UserInfo(USER, USER, "ann"), None)
    private = PhotoRequester(limit_key=USER, user_id=USER, group_id=None)

    async def ask(photos: int) -> Admission:
        request = await repository.photo_requests.open(
            private, USER, photos, answers=always, per_minute=2, per_hour=3
        )
        assert request.admission is not None
        return request.admission

    before = utc_now()
    first = await ask(2)
    waiting = await ask(1)
    assert first.admitted
    assert not waiting.admitted and waiting.wait_until is not None
    assert before + timedelta(seconds=59) <= waiting.wait_until <= utc_now() + timedelta(minutes=1)

    refused = await ask(2)
    assert not refused.admitted and refused.retry_at is not None
    assert refused.retry_at >= before + timedelta(minutes=59)
    assert await admissions(database_url) == 2
