"""What people see when parts fail or behave oddly: the database down, Telegram refusing or failing
a call, an edited photo, someone else's button, and the Bot API's own strict rules."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from telegram.error import BadRequest

from db.repository import Repository
from db.session import create_engine, create_sessionmaker
from handlers import feedback, forget, help, history, settings, start, stats
from tests.support.bot_fixtures import ADMIN_ID, RunningBot, StartBot
from tests.support.bot_helpers import rows
from tests.support.botapi_standin import QUERY_INVALID

USER = 5_000_000_501
OTHER = 5_000_000_502
GROUP = -1_001_000_000_501
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def cat(photos_dir: Path) -> bytes:
    return (photos_dir / "cat_chelsea.jpg").read_bytes()


def unreachable_database(kind: str, tmp_path: Path) -> str:
    """A database URL that fails on every call: MariaDB on a closed port, or an SQLite file in a
    directory that does not exist."""
    if kind == "mariadb":
        return "mysql+aiomysql://root@127.0.0.1:9/detectbot?charset=utf8mb4"
    return f"sqlite+aiosqlite:///{tmp_path / 'missing' / 'bot.db'}"


@pytest.mark.parametrize("kind", ["sqlite", "mariadb"])
@sqlite_only
async def test_each_command_answers_clearly_when_the_database_fails_after_intake(
    start_bot: StartBot, tmp_path: Path, kind: str
) -> None:
    """Updates reach the inbox (an update that cannot be stored is not handled at all, see
    test_polling_outage); every database call of the handlers then fails."""
    bot = await start_bot(db_timeout_s=1.0)
    api = bot.api
    dead = create_engine(unreachable_database(kind, tmp_path))
    bot.services.repository = Repository(create_sessionmaker(dead), wait_timeout_s=1.0)

    async def reply_to(text: str, user: int = USER) -> str:
        call = await bot.send(api.command_update(user, user, text), "sendMessage", timeout=40)
        return str(call.params["text"])

    try:
        assert await reply_to("/start") == start.START_TEXT
        assert await reply_to("/help") == help.HELP_TEXT
        assert await reply_to("/feedback it works") == feedback.FAILED_TEXT
        assert await reply_to("/settings") == settings.UNAVAILABLE_TEXT
        assert await reply_to("/history") == history.UNAVAILABLE_TEXT
        assert await reply_to("/stats", user=ADMIN_ID) == stats.UNAVAILABLE_TEXT
        assert await reply_to("/forget") == forget.CONFIRM_TEXT
        ask = api.sent(USER)[-1]
        answer = await bot.send(
            api.callback_update(USER, ask.result, f"forget:yes:{USER}"), "answerCallbackQuery"
        )
        assert answer.params["text"] == forget.FAILED_TEXT
        await api.wait_idle(quiet=1.0)
        assert api.calls_to("editMessageText") == []
    finally:
        await dead.dispose()


async def test_photo_reply_refused_with_403_is_given_up_at_once_and_recorded(
    running_bot: RunningBot, cat: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    api = running_bot.api
    api.fail_next("sendPhoto", 403, description="Forbidden: bot was blocked by the user")
    with caplog.at_level(logging.ERROR):
        running_bot.push(api.private_photo_update(USER, cat))
        await running_bot.wait_idle()

    assert [(c.method, c.status) for c in api.calls if c.method.startswith("send")] == [
        ("sendChatAction", 200),
        ("sendPhoto", 403),
    ]
    assert any("blocked by the user" in r.getMessage() for r in caplog.records)
    registry = running_bot.services.metrics.registry
    assert registry.get_sample_value("detectx_errors_total", {"kind": "telegram_refused"}) == 1
    assert await rows(running_bot, "SELECT status FROM detections") == [("ok",)]


async def test_get_file_failing_asks_to_resend_and_the_resent_photo_is_detected(
    running_bot: RunningBot, cat: bytes
) -> None:
    api = running_bot.api
    api.fail_next("getFile", 502)
    first = api.private_photo_update(USER, cat)
    failed = await running_bot.send(first, "sendMessage")
    assert (
        failed.params["text"]
        == "I couldn't download that file from Telegram. Please send it again."
    )
    assert failed.reply_to == first["message"]["message_id"]

    again = api.private_photo_update(USER, cat)
    reply = await running_bot.send(again, "sendPhoto")

    assert reply.reply_to == again["message"]["message_id"]
    assert await rows(
        running_bot, "SELECT message_id, status, error_kind FROM detections ORDER BY message_id"
    ) == [
        (first["message"]["message_id"], "failed", "download_failed"),
        (again["message"]["message_id"], "ok", None),
    ]


async def test_an_edited_photo_message_is_not_detected_again(
    running_bot: RunningBot, cat: bytes
) -> None:
    api = running_bot.api
    update = api.private_photo_update(USER, cat)
    await running_bot.send(update, "sendPhoto")
    edited = {**update["message"], "caption": "my cat", "edit_date": update["message"]["date"] + 5}
    running_bot.push({"edited_message": edited})
    await running_bot.wait_idle()

    assert len([c for c in api.sent()]) == 1
    assert await rows(running_bot, "SELECT message_id FROM detections") == [
        (update["message"]["message_id"],)
    ]


async def test_forget_confirmed_by_someone_else_deletes_nothing(
    running_bot: RunningBot, cat: bytes
) -> None:
    api = running_bot.api
    await running_bot.send(api.group_photo_update(GROUP, USER, cat, caption="/detect"), "sendPhoto")
    ask = await running_bot.send(api.command_update(GROUP, USER, "/forget"), "sendMessage")
    yes = ask.callback_data[0]

    answer = await running_bot.send(
        api.callback_update(OTHER, ask.result, yes), "answerCallbackQuery"
    )
    await running_bot.wait_idle()

    assert answer.params["text"] == forget.NOT_YOURS_TEXT
    assert api.calls_to("editMessageText") == []
    assert await rows(running_bot, "SELECT user_id FROM detections") == [(USER,)]


async def open_group_settings(bot: RunningBot, user: int) -> Any:
    reply = await bot.send(bot.api.command_update(GROUP, user, "/settings"), "sendMessage")
    return reply.result


async def test_auto_mode_turned_off_again_ignores_plain_group_photos(
    running_bot: RunningBot, cat: bytes
) -> None:
    api = running_bot.api
    api.set_member_status(GROUP, ADMIN_ID, "administrator")
    menu = await open_group_settings(running_bot, ADMIN_ID)
    on = await running_bot.send(api.callback_update(ADMIN_ID, menu, "cfg:a"), "editMessageText")
    off = await running_bot.send(api.callback_update(ADMIN_ID, menu, "cfg:a"), "editMessageText")
    assert "Auto mode: on" in on.params["text"] and "Auto mode: off" in off.params["text"]

    running_bot.push(api.group_photo_update(GROUP, USER, cat))
    await running_bot.wait_idle()

    assert api.calls_to("sendPhoto") == []
    assert await rows(running_bot, "SELECT id FROM detections") == []
    assert (await running_bot.repository.chat_settings.get(GROUP)).auto_mode is False


@sqlite_only
async def test_non_admin_cannot_turn_auto_mode_on(running_bot: RunningBot, cat: bytes) -> None:
    api = running_bot.api
    menu = await open_group_settings(running_bot, USER)
    answer = await running_bot.send(api.callback_update(USER, menu, "cfg:a"), "answerCallbackQuery")
    running_bot.push(api.group_photo_update(GROUP, USER, cat))
    await running_bot.wait_idle()

    assert answer.params["text"] == settings.NOT_ADMIN_TEXT
    assert api.calls_to("editMessageText") == []
    assert api.calls_to("sendPhoto") == []
    assert (await running_bot.repository.chat_settings.get(GROUP)).auto_mode is False


@sqlite_only
async def test_every_button_press_is_answered_exactly_once(running_bot: RunningBot) -> None:
    api = running_bot.api
    menu = (
        await running_bot.send(api.command_update(USER, USER, "/settings"), "sendMessage")
    ).result
    for data in ("cfg:t:70", "cfg:c:0", "cfg:m", "cfg:nonsense", "rate:1:1", "forget:yes:1"):
        running_bot.push(api.callback_update(USER, menu, data))
    await running_bot.wait_idle()

    answers = api.calls_to("answerCallbackQuery")
    assert [a.status for a in answers] == [200] * 6
    assert len({a.params["callback_query_id"] for a in answers}) == 6


@sqlite_only
async def test_bot_api_stand_in_refuses_what_telegram_refuses(
    running_bot: RunningBot, cat: bytes
) -> None:
    api = running_bot.api
    bot = running_bot.application.bot
    photo = await running_bot.send(api.private_photo_update(USER, cat), "sendPhoto")
    press = api.callback_update(USER, photo.result, photo.callback_data[0])
    await running_bot.send(press, "answerCallbackQuery")

    with pytest.raises(BadRequest) as twice:
        await bot.answer_callback_query(press["callback_query"]["id"])
    with pytest.raises(BadRequest) as unknown:
        await bot.answer_callback_query("4242")
    with pytest.raises(BadRequest) as on_photo:
        await bot.edit_message_text("text", chat_id=USER, message_id=photo.result["message_id"])

    expected = QUERY_INVALID.removeprefix("Bad Request: ").lower()
    assert twice.value.message.lower() == unknown.value.message.lower() == expected
    assert "there is no text in the message to edit" in on_photo.value.message.lower()
