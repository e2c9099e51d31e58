"""Commands and buttons: /start, /help, /feedback, ratings, /settings, /history, /forget, /stats."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests.support.bot_fixtures import ADMIN_ID, RunningBot, StartBot
from tests.support.bot_helpers import expected_caption, expected_counts_text, image_size, rows

USER = 5_000_000_201
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


async def command(bot: RunningBot, text: str, user: int = USER) -> Any:
    return await bot.send(bot.api.command_update(user, user, text), "sendMessage")


async def detect_photo(bot: RunningBot, path: Path, user: int = USER) -> Any:
    data = await asyncio.to_thread(path.read_bytes)
    return await bot.send(bot.api.private_photo_update(user, data), "sendPhoto")


async def test_start_registers_the_user_and_explains_in_two_lines(running_bot: RunningBot) -> None:
    reply = await command(running_bot, "/start")

    assert reply.chat_id == USER
    assert len(reply.params["text"].splitlines()) == 2
    assert await rows(running_bot, "SELECT id, chat_id FROM users") == [(USER, USER)]


@sqlite_only
async def test_help_lists_the_commands(running_bot: RunningBot) -> None:
    reply = await command(running_bot, "/help")
    for name in ("/settings", "/history", "/feedback", "/forget", "/detect"):
        assert name in reply.params["text"]


@sqlite_only
async def test_commands_are_registered_with_set_my_commands(running_bot: RunningBot) -> None:
    calls = await running_bot.api.wait_for("setMyCommands")
    names = {c["command"] for c in calls[0].params["commands"]}
    assert {
        "start",
        "help",
        "detect",
        "settings",
        "history",
        "feedback",
        "forget",
        "stats",
    } <= names


async def test_feedback_with_text_is_stored(running_bot: RunningBot) -> None:
    reply = await command(running_bot, "/feedback Great bot 🎉, thanks")

    assert "Thanks" in reply.params["text"]
    assert await rows(running_bot, "SELECT user_id, text, rating FROM feedback") == [
        (USER, "Great bot 🎉, thanks", None)
    ]


async def test_feedback_then_next_message_is_stored(running_bot: RunningBot) -> None:
    api = running_bot.api
    ask = await command(running_bot, "/feedback")
    assert "/cancel" in ask.params["text"]
    thanks = await running_bot.send(api.text_update(USER, USER, "the boxes are 👌"), "sendMessage")

    assert "Thanks" in thanks.params["text"]
    assert await rows(running_bot, "SELECT text FROM feedback") == [("the boxes are 👌",)]


@sqlite_only
async def test_message_long_after_bare_feedback_is_not_taken_as_feedback(
    start_bot: StartBot,
) -> None:
    bot = await start_bot(feedback_wait_s=0.3)
    await command(bot, "/feedback")
    await asyncio.sleep(0.5)
    reply = await bot.send(bot.api.text_update(USER, USER, "what's for dinner?"), "sendMessage")

    assert "didn't send it as feedback" in reply.params["text"]
    assert await rows(bot, "SELECT id FROM feedback") == []


async def test_feedback_with_text_after_a_bare_feedback_is_recorded_and_ends_the_wait(
    running_bot: RunningBot,
) -> None:
    api = running_bot.api
    await command(running_bot, "/feedback")
    thanks = await command(running_bot, "/feedback the labels are great")
    assert "Thanks" in thanks.params["text"]
    running_bot.push(api.text_update(USER, USER, "just chatting now"))
    await api.wait_idle(quiet=0.8)

    assert await rows(running_bot, "SELECT text FROM feedback") == [("the labels are great",)]
    assert await rows(running_bot, "SELECT user_id FROM feedback_prompts") == []


@sqlite_only
async def test_a_waiting_feedback_prompt_expires_in_the_database(start_bot: StartBot) -> None:
    bot = await start_bot(feedback_wait_s=0.3)
    await command(bot, "/feedback")
    assert await rows(bot, "SELECT user_id FROM feedback_prompts") == [(USER,)]
    await asyncio.sleep(0.5)
    await bot.send(bot.api.text_update(USER, USER, "later"), "sendMessage")
    second = await bot.send(bot.api.text_update(USER, USER, "even later"), "sendMessage")

    assert await rows(bot, "SELECT user_id FROM feedback_prompts") == []
    assert "didn't send it as feedback" not in second.params["text"]
    assert await rows(bot, "SELECT id FROM feedback") == []


@sqlite_only
async def test_feedback_is_capped_per_hour_with_a_clear_reply(start_bot: StartBot) -> None:
    bot = await start_bot(feedback_hourly_limit=2)
    for n in range(2):
        await command(bot, f"/feedback note {n}")
    capped = await command(bot, "/feedback one more")

    assert "a lot of feedback" in capped.params["text"]
    assert "60 min." in capped.params["text"]
    assert len(await rows(bot, "SELECT id FROM feedback")) == 2


@sqlite_only
async def test_feedback_cancel_stores_nothing(running_bot: RunningBot) -> None:
    api = running_bot.api
    await command(running_bot, "/feedback")
    cancelled = await command(running_bot, "/cancel")
    assert "no feedback" in cancelled.params["text"].lower()
    mark = len(api.calls)
    running_bot.push(api.text_update(USER, USER, "just chatting"))
    await running_bot.wait_idle()

    after = api.calls[mark:]
    assert [c.method for c in after] == ["sendMessage"]
    assert "Send me a photo" in after[0].params["text"]
    assert await rows(running_bot, "SELECT id FROM feedback") == []


async def test_thumbs_up_then_down_leaves_one_rating_of_minus_one(
    running_bot: RunningBot, photos_dir: Path
) -> None:
    api = running_bot.api
    reply = await detect_photo(running_bot, photos_dir / "cat_chelsea.jpg")
    up, down = reply.callback_data

    first = await running_bot.send(
        api.callback_update(USER, reply.result, up), "answerCallbackQuery"
    )
    second = await running_bot.send(
        api.callback_update(USER, reply.result, down), "answerCallbackQuery"
    )

    assert first.params["text"] == "Thanks!" and second.params["text"] == "Thanks!"
    (detection_id,) = await rows(running_bot, "SELECT id FROM detections")
    assert await rows(running_bot, "SELECT user_id, detection_id, rating FROM feedback") == [
        (USER, detection_id[0], -1)
    ]


async def press(bot: RunningBot, menu: Any, data: str, user: int = USER) -> Any:
    return await bot.send(bot.api.callback_update(user, menu, data), "editMessageText")


async def test_threshold_change_in_settings_changes_the_caption(
    running_bot: RunningBot, photos_dir: Path
) -> None:
    menu = (await command(running_bot, "/settings")).result
    edit = await press(running_bot, menu, "cfg:t:90")
    assert "Threshold: 90%" in edit.params["text"]

    reply = await detect_photo(running_bot, photos_dir / "person_astronaut.jpg")
    assert reply.params["caption"] == "Nothing found above 90%."
    assert await rows(running_bot, "SELECT COUNT(*) FROM detected_objects") == [(0,)]


async def test_class_filter_keeps_only_chosen_classes(
    running_bot: RunningBot, photos_dir: Path, expected_detections: dict[str, Any]
) -> None:
    assert expected_caption(expected_detections, "person_astronaut.jpg") == (
        "1 × mouse, 1 × person (2 objects)"
    )
    menu = (await command(running_bot, "/settings")).result
    page = await press(running_bot, menu, "cfg:c:0")
    person = next(b["callback_data"] for row in page.buttons for b in row if b["text"] == "person")
    toggled = await press(running_bot, page.result, person)
    assert "Classes: person" in toggled.params["text"]

    reply = await detect_photo(running_bot, photos_dir / "person_astronaut.jpg")
    assert reply.params["caption"] == "1 × person (1 object)"
    assert await rows(running_bot, "SELECT label FROM detected_objects") == [("person",)]


@sqlite_only
async def test_all_classes_button_clears_the_filter(running_bot: RunningBot) -> None:
    menu = (await command(running_bot, "/settings")).result
    page = await press(running_bot, menu, "cfg:c:0")
    await press(running_bot, page.result, "cfg:x:0:0")
    cleared = await press(running_bot, page.result, "cfg:all:0")
    assert "Classes: all" in cleared.params["text"]
    assert (await running_bot.repository.chat_settings.get(USER)).class_filter == frozenset()


async def test_history_lists_recent_detections_with_counts(
    running_bot: RunningBot, photos_dir: Path, expected_detections: dict[str, Any]
) -> None:
    await detect_photo(running_bot, photos_dir / "cat_chelsea.jpg")
    await detect_photo(running_bot, photos_dir / "person_astronaut.jpg")
    reply = await command(running_bot, "/history")

    lines = reply.params["text"].splitlines()
    assert len(lines) == 3
    assert lines[1].endswith(expected_counts_text(expected_detections, "person_astronaut.jpg"))
    assert lines[2].endswith(expected_counts_text(expected_detections, "cat_chelsea.jpg"))


@sqlite_only
async def test_history_when_empty(running_bot: RunningBot) -> None:
    reply = await command(running_bot, "/history")
    assert "No detections yet" in reply.params["text"]


async def test_forget_after_confirmation_deletes_every_row_of_the_user(
    running_bot: RunningBot, photos_dir: Path
) -> None:
    await detect_photo(running_bot, photos_dir / "cat_chelsea.jpg")
    await command(running_bot, "/feedback nice")
    ask = await command(running_bot, "/forget")
    assert [b["text"] for b in ask.buttons[0]] == ["Delete my data", "Cancel"]

    done = await press(running_bot, ask.result, f"forget:yes:{USER}")

    assert "deleted" in done.params["text"]
    for table in ("users", "detections", "feedback"):
        column = "id" if table == "users" else "user_id"
        assert await rows(running_bot, f"SELECT {column} FROM {table}") == [], table
    assert await rows(running_bot, "SELECT id FROM detected_objects") == []


@sqlite_only
async def test_forget_cancel_keeps_the_data(running_bot: RunningBot, photos_dir: Path) -> None:
    await detect_photo(running_bot, photos_dir / "cat_chelsea.jpg")
    ask = await command(running_bot, "/forget")
    kept = await press(running_bot, ask.result, f"forget:no:{USER}")
    assert "nothing was deleted" in kept.params["text"]
    assert len(await rows(running_bot, "SELECT id FROM detections")) == 1


async def test_stats_for_admin_sends_totals_and_chart(
    running_bot: RunningBot, photos_dir: Path
) -> None:
    await detect_photo(running_bot, photos_dir / "cat_chelsea.jpg")
    api = running_bot.api
    before = len(api.calls_to("sendPhoto"))
    text = await command(running_bot, "/stats", user=ADMIN_ID)
    chart = (await api.wait_for("sendPhoto", before + 1))[before]

    assert "Detections: 1 ok, 0 failed" in text.params["text"]
    assert "cat 1" in text.params["text"]
    assert "Inference: avg" in text.params["text"]
    assert chart.chat_id == ADMIN_ID
    width, height = image_size(chart.upload(), "PNG")
    assert width > 300 and height > 200


async def test_stats_for_anyone_else_is_a_one_line_refusal(running_bot: RunningBot) -> None:
    api = running_bot.api
    mark = len(api.calls)
    reply = await command(running_bot, "/stats")
    assert len(reply.params["text"].splitlines()) == 1
    assert "admins" in reply.params["text"]
    await running_bot.wait_idle()
    assert [c.method for c in api.calls[mark:]] == ["sendMessage"]
