"""Language choices in the database (SQLite and MariaDB): stored, changed, removed, forgotten."""

from __future__ import annotations

from db.languages import LanguageChoices
from db.records import UserInfo
from db.repository import Repository

USER = 5_100_000_001
OTHER = 5_100_000_002
GROUP = -1_005_100_000_001


async def test_nothing_chosen_reads_as_no_choice(repository: Repository) -> None:
    assert await repository.languages.choices(USER, GROUP) == LanguageChoices()
    assert await repository.languages.choices(None, None) == LanguageChoices()


async def test_a_persons_and_a_groups_choice_are_kept_apart(repository: Repository) -> None:
    await repository.languages.choose("user", USER, "ru")
    await repository.languages.choose("chat", GROUP, "es")
    await repository.languages.choose("user", OTHER, "de")

    assert await repository.languages.choices(USER, GROUP) == LanguageChoices(user="ru", chat="es")
    assert await repository.languages.choices(USER, USER) == LanguageChoices(user="ru")
    assert await repository.languages.choices(OTHER, None) == LanguageChoices(user="de")


async def test_choosing_again_replaces_and_none_removes_the_choice(
    repository: Repository,
) -> None:
    await repository.languages.choose("user", USER, "ru")
    await repository.languages.choose("user", USER, "pt")
    assert (await repository.languages.choices(USER, None)).user == "pt"

    await repository.languages.choose("user", USER, None)
    assert await repository.languages.choices(USER, None) == LanguageChoices()
    await repository.languages.choose("user", USER, None)


async def test_forget_deletes_the_persons_choice_but_not_their_groups(
    repository: Repository,
) -> None:
    await repository.people.register(UserInfo(id=USER, chat_id=USER, language_code="de"), None)
    await repository.languages.choose("user", USER, "ru")
    await repository.languages.choose("chat", GROUP, "es")

    await repository.people.forget(USER)

    assert await repository.languages.choices(USER, GROUP) == LanguageChoices(chat="es")
