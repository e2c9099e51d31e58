"""What a stranger or a careless user can do with buttons, anonymous accounts and /stats."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from bot.identity import ANONYMOUS_ADMIN_ID, CHANNEL_POST_ID
from bot.rating_buttons import rating_data, rating_key
from handlers import rating, settings, stats
from tests.support.bot_fixtures import ADMIN_ID, RunningBot, StartBot
from tests.support.bot_helpers import rows

OWNER = 5_000_000_401
STRANGER = 5_000_000_402
GROUP_A = -1_001_000_000_401
GROUP_B = -1_001_000_000_402
CHANNEL = -1_001_000_000_499
ALBUM_QUIET_ON_A_BUSY_MACHINE_S = 3.0
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def cat(photos_dir: Path) -> bytes:
    return (photos_dir / "cat_chelsea.jpg").read_bytes()


async def press(bot: RunningBot, user: int, message: Any, data: str) -> Any:
    return await bot.send(bot.api.callback_update(user, message, data), "answerCallbackQuery")


async def own_message(bot: RunningBot, user: int) -> Any:
    """A message the bot sent in `user`'s private chat (where a stranger can press buttons)."""
    reply = await bot.send(bot.api.command_update(user, user, "/start"), "sendMessage")
    return reply.result


async def test_rating_button_data_copied_to_another_chat_does_not_count(
    running_bot: RunningBot, cat: bytes
) -> None:
    reply = await running_bot.send(running_bot.api.private_photo_update(OWNER, cat), "sendPhoto")
    up, _ = reply.callback_data
    elsewhere = await own_message(running_bot, STRANGER)

    answer = await press(running_bot, STRANGER, elsewhere, up)

    assert answer.params["text"] == rating.NOT_COUNTED_TEXT
    assert await rows(running_bot, "SELECT user_id, rating FROM feedback") == []


async def test_forged_rating_for_an_existing_or_a_missing_id_gets_the_same_answer(
    running_bot: RunningBot, cat: bytes
) -> None:
    await running_bot.send(running_bot.api.private_photo_update(OWNER, cat), "sendPhoto")
    [(existing,)] = await rows(running_bot, "SELECT id FROM detections")
    message = await own_message(running_bot, STRANGER)
    forged = [
        f"rate:{existing}:1",
        f"rate:{existing + 1000}:1",
        f"rate:{existing}:1:AAAAAAAAAAAAAAAAAAAAAA",
        f"rate:{existing}:-1:{'A' * 16}",
        f"rate:{existing + 1000}:-1:{'A' * 16}",
        f"rate:{existing}:1:{'A' * 16}\n",
    ]

    answers = [await press(running_bot, STRANGER, message, data) for data in forged]

    assert {a.params["text"] for a in answers} == {rating.NOT_COUNTED_TEXT}
    assert await rows(running_bot, "SELECT id FROM feedback") == []


@sqlite_only
async def test_rating_signed_for_the_chat_but_of_a_detection_elsewhere_does_not_count(
    running_bot: RunningBot, cat: bytes
) -> None:
    await running_bot.send(running_bot.api.private_photo_update(OWNER, cat), "sendPhoto")
    [(detection_id,)] = await rows(running_bot, "SELECT id FROM detections")
    message = await own_message(running_bot, STRANGER)
    signed_here = rating_data(rating_key(running_bot.settings), STRANGER, detection_id, 1)

    answer = await press(running_bot, STRANGER, message, signed_here)

    assert answer.params["text"] == rating.NOT_COUNTED_TEXT
    assert await rows(running_bot, "SELECT id FROM feedback") == []


async def test_album_summary_buttons_rate_the_photo_they_name(
    start_bot: StartBot, photos_dir: Path
) -> None:
    running_bot = await start_bot(album_quiet_s=ALBUM_QUIET_ON_A_BUSY_MACHINE_S)
    api = running_bot.api
    images = [(photos_dir / n).read_bytes() for n in ("cat_chelsea.jpg", "person_astronaut.jpg")]
    album = api.album_updates(OWNER, OWNER, images)
    before = len(api.calls_to("sendMessage"))
    api.push_updates(album)
    summary = (await api.wait_for("sendMessage", before + 1))[before]
    second_down = summary.buttons[1][1]
    assert second_down["text"] == "2 👎"

    answer = await press(running_bot, OWNER, summary.result, second_down["callback_data"])

    assert answer.params["text"] == rating.THANKS_TEXT
    second_photo = album[1]["message"]["message_id"]
    assert await rows(
        running_bot,
        "SELECT f.user_id, d.message_id, f.rating FROM feedback f "
        "JOIN detections d ON d.id = f.detection_id",
    ) == [(OWNER, second_photo, -1)]


JSONLike = dict[str, Any]
ANONYMOUS_ADMIN: JSONLike = {
    "user": {
        "id": ANONYMOUS_ADMIN_ID,
        "is_bot": True,
        "first_name": "Group",
        "username": "GroupAnonymousBot",
    }
}
CHANNEL_SENDER: JSONLike = {
    "user": {"id": CHANNEL_POST_ID, "is_bot": True, "first_name": "Channel"},
    "chat": {"id": CHANNEL, "type": "channel", "title": "A channel"},
}


def anonymous(
    bot: RunningBot, group: int, sender: JSONLike, *, text: str | None = None, photo: bytes = b""
) -> JSONLike:
    """A message in `group` as Telegram sends it for an anonymous admin (sender_chat: the group)
    or a post as a channel (sender_chat: the channel): a photo with /detect, or a command."""
    api = bot.api
    fields: JSONLike = {
        "from": sender["user"],
        "sender_chat": sender.get("chat") or api.group_chat(group),
    }
    if photo:
        fields["photo"] = api.photo_sizes(photo)
    caption = "/detect" if photo else None
    message = api.message(group, sender["user"]["id"], text=text, caption=caption, **fields)
    return {"message": message}


async def test_anonymous_admins_of_two_groups_do_not_share_one_rate_limit(
    start_bot: StartBot, cat: bytes
) -> None:
    bot = await start_bot(user_rate_limit_per_minute=1)

    first = await bot.send(anonymous(bot, GROUP_A, ANONYMOUS_ADMIN, photo=cat), "sendPhoto")
    second = await bot.send(anonymous(bot, GROUP_B, ANONYMOUS_ADMIN, photo=cat), "sendPhoto")

    assert (first.chat_id, second.chat_id) == (GROUP_A, GROUP_B)
    assert len(await rows(bot, "SELECT id FROM detections WHERE status = 'ok'")) == 2


async def test_anonymous_admin_history_lists_only_the_detections_of_that_group(
    running_bot: RunningBot, cat: bytes
) -> None:
    await running_bot.send(anonymous(running_bot, GROUP_A, ANONYMOUS_ADMIN, photo=cat), "sendPhoto")
    await running_bot.send(anonymous(running_bot, GROUP_B, ANONYMOUS_ADMIN, photo=cat), "sendPhoto")
    ask = anonymous(running_bot, GROUP_A, ANONYMOUS_ADMIN, text="/history")

    reply = await running_bot.send(ask, "sendMessage")

    lines = reply.params["text"].splitlines()
    assert lines[0] == "Your last detection:"
    assert len(lines) == 2


@sqlite_only
async def test_channel_posting_in_a_group_cannot_forget_everyone_anonymous(
    running_bot: RunningBot, cat: bytes
) -> None:
    await running_bot.send(anonymous(running_bot, GROUP_B, CHANNEL_SENDER, photo=cat), "sendPhoto")
    ask = anonymous(running_bot, GROUP_A, CHANNEL_SENDER, text="/forget")

    reply = await running_bot.send(ask, "sendMessage")

    assert "own account" in reply.params["text"]
    assert reply.buttons == []
    assert len(await rows(running_bot, "SELECT id FROM detections")) == 1


@pytest.mark.parametrize("data", ["cfg:t:²", "cfg:c:²", "cfg:x:1:¹", "cfg:c:٣", "cfg:c:0:0"])
@sqlite_only
async def test_forged_settings_data_is_answered_without_a_database_alarm(
    running_bot: RunningBot, data: str, caplog: pytest.LogCaptureFixture
) -> None:
    ask = running_bot.api.command_update(OWNER, OWNER, "/settings")
    menu = (await running_bot.send(ask, "sendMessage")).result
    with caplog.at_level(logging.INFO):
        answer = await press(running_bot, OWNER, menu, data)
        await running_bot.wait_idle()

    assert "text" not in answer.params
    assert not [r for r in caplog.records if "database" in r.getMessage()]
    registry = running_bot.services.metrics.registry
    assert registry.get_sample_value("detectx_errors_total", {"kind": "database"}) is None
    assert running_bot.api.calls_to("editMessageText") == []


async def test_stats_sent_in_a_group_by_an_admin_shows_no_figures_there(
    running_bot: RunningBot, cat: bytes
) -> None:
    api = running_bot.api
    await running_bot.send(api.private_photo_update(OWNER, cat), "sendPhoto")
    api.private_chat(ADMIN_ID)
    running_bot.push(api.command_update(GROUP_A, ADMIN_ID, "/stats"))
    await running_bot.wait_idle()

    assert [c.params["text"] for c in api.sent(GROUP_A)] == [stats.SENT_PRIVATELY_TEXT]
    assert [(c.method, c.chat_id) for c in api.sent()] == [
        ("sendPhoto", OWNER),
        ("sendMessage", ADMIN_ID),
        ("sendPhoto", ADMIN_ID),
        ("sendMessage", GROUP_A),
    ]
    assert "Detections: 1 ok, 0 failed" in api.sent(ADMIN_ID)[0].params["text"]


@sqlite_only
async def test_stats_in_a_group_for_an_admin_without_a_private_chat_says_where_to_ask(
    running_bot: RunningBot,
) -> None:
    api = running_bot.api
    pointer = await running_bot.send(api.command_update(GROUP_A, ADMIN_ID, "/stats"), "sendMessage")
    await running_bot.wait_idle()

    assert pointer.params["text"] == stats.OPEN_PRIVATE_TEXT
    assert [(c.method, c.chat_id) for c in api.sent()] == [("sendMessage", GROUP_A)]


@sqlite_only
async def test_stats_in_a_group_from_a_non_admin_is_the_one_line_refusal(
    running_bot: RunningBot,
) -> None:
    api = running_bot.api
    reply = await running_bot.send(api.command_update(GROUP_A, OWNER, "/stats"), "sendMessage")
    await running_bot.wait_idle()

    assert reply.params["text"] == stats.REFUSAL_TEXT
    assert [(c.method, c.chat_id) for c in api.sent()] == [("sendMessage", GROUP_A)]


def test_settings_data_is_read_strictly() -> None:
    assert settings.parse_settings_data("cfg:t:90") == ("t", 90)
    assert settings.parse_settings_data("cfg:x:3:1") == ("x", 3, 1)
    for data in ("cfg:t:91", "cfg:t:²", "cfg:x:3", "cfg:c:-1", "cfg:c:9999999", "cfgx:a", "cfg:"):
        assert settings.parse_settings_data(data) is None, data
