"""Groups: the bot acts on /detect replies, captions mentioning it or holding /detect, auto mode."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import grpc
import pytest

from tests.support.bot_fixtures import RunningBot
from tests.support.bot_helpers import expected_caption, image_size, rows

GROUP = -1_001_234_567_890
MEMBER = 5_000_000_101
ADMIN = 5_000_000_102
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def cat(photos_dir: Path) -> bytes:
    return (photos_dir / "cat_chelsea.jpg").read_bytes()


async def test_group_photo_without_mention_is_ignored(running_bot: RunningBot, cat: bytes) -> None:
    api = running_bot.api
    mark = len(api.calls)
    running_bot.push(api.group_photo_update(GROUP, MEMBER, cat, caption="look at my cat"))
    running_bot.push(api.group_photo_update(GROUP, MEMBER, cat))
    await running_bot.wait_idle()

    assert api.calls[mark:] == []
    assert api.calls_to("getFile") == []
    assert await rows(running_bot, "SELECT id FROM detections") == []


async def test_group_caption_mentioning_bot_is_detected(
    running_bot: RunningBot, cat: bytes, expected_detections: dict[str, Any]
) -> None:
    api = running_bot.api
    update = api.group_photo_update(GROUP, MEMBER, cat, caption=f"@{api.bot_username} what is it?")
    reply = await running_bot.send(update, "sendPhoto")

    assert reply.chat_id == GROUP
    assert reply.reply_to == update["message"]["message_id"]
    assert reply.params["caption"] == expected_caption(expected_detections, "cat_chelsea.jpg")
    image_size(reply.upload())
    assert await rows(running_bot, "SELECT user_id, chat_id, status FROM detections") == [
        (MEMBER, GROUP, "ok")
    ]


@sqlite_only
async def test_group_caption_with_detect_command_is_detected(
    running_bot: RunningBot, cat: bytes
) -> None:
    update = running_bot.api.group_photo_update(GROUP, MEMBER, cat, caption="/detect please")
    reply = await running_bot.send(update, "sendPhoto")
    assert reply.reply_to == update["message"]["message_id"]


@sqlite_only
async def test_group_caption_mentioning_another_bot_is_ignored(
    running_bot: RunningBot, cat: bytes
) -> None:
    api = running_bot.api
    running_bot.push(
        api.group_photo_update(GROUP, MEMBER, cat, caption="@some_other_bot /detect@some_other_bot")
    )
    await running_bot.wait_idle()
    assert api.sent() == []
    assert api.calls_to("getFile") == []


async def test_detect_command_replying_to_photo_answers_the_photo(
    running_bot: RunningBot, cat: bytes, expected_detections: dict[str, Any]
) -> None:
    api = running_bot.api
    photo = api.group_photo_update(GROUP, MEMBER, cat)
    running_bot.push(photo)
    command = api.command_update(GROUP, ADMIN, "/detect", reply_to=photo["message"])
    reply = await running_bot.send(command, "sendPhoto")

    assert reply.chat_id == GROUP
    assert reply.reply_to == photo["message"]["message_id"]
    assert reply.params["caption"] == expected_caption(expected_detections, "cat_chelsea.jpg")
    assert await rows(running_bot, "SELECT user_id, message_id FROM detections") == [
        (ADMIN, photo["message"]["message_id"])
    ]


@sqlite_only
async def test_detect_command_without_photo_explains_itself(running_bot: RunningBot) -> None:
    api = running_bot.api
    reply = await running_bot.send(api.command_update(GROUP, MEMBER, "/detect"), "sendMessage")
    assert "Reply /detect to a photo" in reply.params["text"]


async def test_detect_again_after_a_detector_failure_answers_with_buttons_and_one_ok_row(
    running_bot: RunningBot, tfserving_standin: Any, cat: bytes
) -> None:
    api = running_bot.api
    photo = api.group_photo_update(GROUP, MEMBER, cat)
    running_bot.push(photo)
    tfserving_standin.fail_next.append((grpc.StatusCode.UNAVAILABLE, "model is loading"))
    again = api.command_update(GROUP, MEMBER, "/detect", reply_to=photo["message"])
    refused = await running_bot.send(again, "sendMessage")
    assert "try again in a minute" in refused.params["text"]

    retry = api.command_update(GROUP, MEMBER, "/detect", reply_to=photo["message"])
    reply = await running_bot.send(retry, "sendPhoto")

    assert reply.reply_to == photo["message"]["message_id"]
    stored = await rows(running_bot, "SELECT id, status, error_kind FROM detections")
    assert [r[1:] for r in stored] == [("ok", None)]
    assert running_bot.rated(reply) == [(stored[0][0], 1), (stored[0][0], -1)]


async def test_second_detect_on_a_photo_answers_with_the_same_rateable_detection(
    running_bot: RunningBot, cat: bytes
) -> None:
    api = running_bot.api
    photo = api.group_photo_update(GROUP, MEMBER, cat)
    running_bot.push(photo)
    first = await running_bot.send(
        api.command_update(GROUP, MEMBER, "/detect", reply_to=photo["message"]), "sendPhoto"
    )
    second = await running_bot.send(
        api.command_update(GROUP, ADMIN, "/detect", reply_to=photo["message"]), "sendPhoto"
    )

    assert second.reply_to == photo["message"]["message_id"]
    assert second.params["caption"] == first.params["caption"]
    [(detection_id,)] = await rows(running_bot, "SELECT id FROM detections")
    assert running_bot.rated(second) == [(detection_id, 1), (detection_id, -1)]


@sqlite_only
async def test_detect_again_while_the_detector_is_down_keeps_one_failed_row_quietly(
    running_bot: RunningBot, tfserving_standin: Any, cat: bytes
) -> None:
    api = running_bot.api
    photo = api.group_photo_update(GROUP, MEMBER, cat)
    running_bot.push(photo)
    tfserving_standin.fail_next.extend([(grpc.StatusCode.UNAVAILABLE, "model is loading")] * 2)
    for _ in range(2):
        command = api.command_update(GROUP, MEMBER, "/detect", reply_to=photo["message"])
        reply = await running_bot.send(command, "sendMessage")
        assert "try again in a minute" in reply.params["text"]

    stored = await rows(running_bot, "SELECT status, error_kind FROM detections")
    assert stored == [("failed", "detector_unavailable")]
    registry = running_bot.services.metrics.registry
    assert registry.get_sample_value("detectx_errors_total", {"kind": "database"}) is None


async def _open_settings(bot: RunningBot, user: int) -> Any:
    reply = await bot.send(bot.api.command_update(GROUP, user, "/settings"), "sendMessage")
    return reply.result


async def test_auto_mode_turned_on_by_admin_detects_every_group_photo(
    running_bot: RunningBot, cat: bytes
) -> None:
    api = running_bot.api
    api.set_member_status(GROUP, ADMIN, "administrator")
    menu = await _open_settings(running_bot, ADMIN)
    edit = await running_bot.send(api.callback_update(ADMIN, menu, "cfg:a"), "editMessageText")
    assert "Auto mode: on" in edit.params["text"]

    update = api.group_photo_update(GROUP, MEMBER, cat)
    reply = await running_bot.send(update, "sendPhoto")
    assert reply.reply_to == update["message"]["message_id"]
    settings = await running_bot.repository.chat_settings.get(GROUP)
    assert settings.auto_mode is True


async def test_auto_mode_leaves_a_group_file_that_is_no_image_alone(
    running_bot: RunningBot, cat: bytes
) -> None:
    api = running_bot.api
    await running_bot.repository.chat_settings.update(GROUP, auto_mode=True)
    mark = len(api.calls)
    pdf = api.document_update(
        GROUP, MEMBER, b"%PDF-1.4 minutes", file_name="minutes.pdf", mime_type="application/pdf"
    )
    running_bot.push(pdf)
    await running_bot.wait_idle()
    assert api.calls[mark:] == []

    image = api.document_update(GROUP, MEMBER, cat, file_name="cat.jpg", mime_type="image/jpeg")
    reply = await running_bot.send(image, "sendPhoto")
    assert reply.reply_to == image["message"]["message_id"]


async def test_non_admin_cannot_change_group_settings(running_bot: RunningBot) -> None:
    api = running_bot.api
    menu = await _open_settings(running_bot, MEMBER)
    answer = await running_bot.send(
        api.callback_update(MEMBER, menu, "cfg:t:90"), "answerCallbackQuery"
    )

    assert "Only group admins" in answer.params["text"]
    assert api.calls_to("editMessageText") == []
    settings = await running_bot.repository.chat_settings.get(GROUP)
    assert settings.min_score is None and settings.auto_mode is False


@sqlite_only
async def test_group_creator_can_change_group_threshold(running_bot: RunningBot) -> None:
    api = running_bot.api
    api.set_member_status(GROUP, ADMIN, "creator")
    menu = await _open_settings(running_bot, ADMIN)
    edit = await running_bot.send(api.callback_update(ADMIN, menu, "cfg:t:70"), "editMessageText")
    assert "Threshold: 70%" in edit.params["text"]
    assert (await running_bot.repository.chat_settings.get(GROUP)).min_score == pytest.approx(0.7)
