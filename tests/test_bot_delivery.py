"""Delivery: Telegram 429/5xx, duplicate updates, bursts, albums, per-user limit and queueing."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from tests.support.bot_fixtures import RunningBot, StartBot
from tests.support.bot_helpers import eventually_rows, expected_caption, image_size, rows
from tests.support.sql import execute

USER = 5_000_000_301
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
# Raised inside python-telegram-bot's own RetryAfter constructor, not by this code.
pytestmark = pytest.mark.filterwarnings("ignore:.*retry_after.*:DeprecationWarning")


@pytest.fixture
def cat(photos_dir: Path) -> bytes:
    return (photos_dir / "cat_chelsea.jpg").read_bytes()


@sqlite_only
async def test_429_on_send_photo_is_retried_after_retry_after_and_delivered(
    running_bot: RunningBot, cat: bytes
) -> None:
    api = running_bot.api
    api.fail_next("sendPhoto", 429, retry_after=1)
    update = api.private_photo_update(USER, cat)
    reply = await running_bot.send(update, "sendPhoto")

    attempts = api.calls_to("sendPhoto")
    assert [c.status for c in attempts] == [429, 200]
    assert attempts[1].at - attempts[0].at >= 1.0
    assert reply.reply_to == update["message"]["message_id"]
    assert len(await rows(running_bot, "SELECT id FROM detections")) == 1


@sqlite_only
async def test_500_on_send_photo_is_retried_and_delivered(
    running_bot: RunningBot, cat: bytes
) -> None:
    api = running_bot.api
    api.fail_next("sendPhoto", 500, times=2)
    reply = await running_bot.send(api.private_photo_update(USER, cat), "sendPhoto")

    assert [c.status for c in api.calls_to("sendPhoto")] == [500, 500, 200]
    image_size(reply.upload())
    file_id = reply.result["photo"][-1]["file_id"]
    sql = "SELECT status, reply_file_id FROM detections"
    assert await eventually_rows(running_bot, sql, [("ok", file_id)]) == [("ok", file_id)]


@sqlite_only
async def test_send_photo_that_keeps_failing_gives_up_logs_and_keeps_running(
    running_bot: RunningBot, cat: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    api = running_bot.api
    api.fail_next("sendPhoto", 502, times=100)
    with caplog.at_level(logging.ERROR):
        running_bot.push(api.private_photo_update(USER, cat))
        await running_bot.wait_idle()
    assert [c.status for c in api.calls_to("sendPhoto")] == [502, 502, 502]
    assert any("giving up" in r.getMessage() for r in caplog.records)
    registry = running_bot.services.metrics.registry
    assert registry.get_sample_value("detectx_errors_total", {"kind": "telegram_send"}) == 1
    assert len(await rows(running_bot, "SELECT id FROM detections")) == 1

    api.clear_failures()
    again = api.private_photo_update(USER, cat)
    reply = await running_bot.send(again, "sendPhoto")
    assert reply.reply_to == again["message"]["message_id"]
    assert [c.status for c in api.calls_to("sendPhoto")] == [502, 502, 502, 200]
    assert len(await rows(running_bot, "SELECT id FROM detections")) == 2


async def test_same_update_twice_is_handled_once(running_bot: RunningBot, cat: bytes) -> None:
    api = running_bot.api
    update = api.private_photo_update(USER, cat)
    running_bot.push(update)
    await api.wait_for("sendPhoto")
    await running_bot.deliver_directly(update)
    await running_bot.wait_idle()

    assert len(api.calls_to("sendPhoto")) == 1
    assert len(await rows(running_bot, "SELECT id FROM detections")) == 1
    registry = running_bot.services.metrics.registry
    assert registry.get_sample_value("detectx_duplicate_updates_total") == 1


async def test_same_update_after_restart_is_not_handled_again(
    start_bot: StartBot, cat: bytes
) -> None:
    first = await start_bot()
    update = first.api.private_photo_update(USER, cat)
    first.push(update)
    await first.api.wait_for("sendPhoto")
    await first.stop()

    second = await start_bot()
    await second.deliver_directly(update)
    await second.wait_idle()
    assert len(second.api.calls_to("sendPhoto")) == 1
    assert len(await rows(second, "SELECT id FROM detections")) == 1


async def test_twenty_photos_from_five_users_at_once_get_twenty_replies_and_rows(
    running_bot: RunningBot, photos_dir: Path, expected_detections: dict[str, Any]
) -> None:
    api = running_bot.api
    names = sorted(expected_detections["photos"])
    updates = [
        api.private_photo_update(
            USER + 1 + i % 5, (photos_dir / names[i % len(names)]).read_bytes()
        )
        for i in range(20)
    ]
    api.push_updates(updates)
    replies = await api.wait_for("sendPhoto", 20, timeout=90)

    answered = {(c.chat_id, c.reply_to): c.params["caption"] for c in replies}
    wanted = {
        (u["message"]["chat"]["id"], u["message"]["message_id"]): expected_caption(
            expected_detections, names[i % len(names)]
        )
        for i, u in enumerate(updates)
    }
    assert answered == wanted
    stored = await rows(running_bot, "SELECT chat_id, message_id FROM detections WHERE status='ok'")
    assert set(stored) == set(wanted)
    assert len(stored) == 20


async def test_album_of_three_gets_one_media_group_and_one_summary(
    running_bot: RunningBot, photos_dir: Path, expected_detections: dict[str, Any]
) -> None:
    api = running_bot.api
    names = ["cat_chelsea.jpg", "person_astronaut.jpg", "cup_coffee.jpg"]
    album = api.album_updates(USER, USER, [(photos_dir / n).read_bytes() for n in names])
    api.push_updates(album)
    group = (await api.wait_for("sendMediaGroup"))[0]
    summary = (await api.wait_for("sendMessage"))[0]
    await running_bot.wait_idle()

    first_id = album[0]["message"]["message_id"]
    assert group.chat_id == USER and group.reply_to == first_id
    assert len(group.params["media"]) == 3
    for data in group.media_uploads():
        image_size(data)
    captions = [expected_caption(expected_detections, n) for n in names]
    assert group.params["media"][0]["caption"] == f"1. {captions[0]}"
    assert summary.reply_to == first_id
    assert summary.params["text"].splitlines() == [f"{i}. {c}" for i, c in enumerate(captions, 1)]
    assert api.calls_to("sendPhoto") == []
    assert len(api.calls_to("sendMediaGroup")) == 1
    stored = await rows(
        running_bot, "SELECT id, message_id, status FROM detections ORDER BY message_id"
    )
    assert [r[1:] for r in stored] == [(u["message"]["message_id"], "ok") for u in album]
    assert [[b["text"] for b in row] for row in summary.buttons] == [
        [f"{n} 👍", f"{n} 👎"] for n in (1, 2, 3)
    ]
    assert running_bot.rated(summary) == [
        (detection_id, value) for detection_id, _, _ in stored for value in (1, -1)
    ]


@sqlite_only
async def test_album_video_items_are_skipped(running_bot: RunningBot, photos_dir: Path) -> None:
    api = running_bot.api
    cat_bytes = (photos_dir / "cat_chelsea.jpg").read_bytes()
    album = api.album_updates(USER, USER, [cat_bytes, None, cat_bytes])
    api.push_updates(album)
    group = (await api.wait_for("sendMediaGroup"))[0]
    summary = (await api.wait_for("sendMessage"))[0]

    assert len(group.params["media"]) == 2
    assert len(summary.params["text"].splitlines()) == 2
    assert len(await rows(running_bot, "SELECT id FROM detections")) == 2


async def test_photos_beyond_the_short_term_rate_wait_with_one_notice_and_are_answered(
    start_bot: StartBot, cat: bytes
) -> None:
    bot = await start_bot(user_rate_limit_per_minute=2)
    api = bot.api
    for _ in range(2):
        await bot.send(api.private_photo_update(USER, cat), "sendPhoto")
    update = api.private_photo_update(USER, cat)
    notice = await bot.send(update, "sendMessage")
    assert notice.reply_to == update["message"]["message_id"]
    assert "queued" in notice.params["text"]

    other_update = api.private_photo_update(USER + 1, cat)
    other = await bot.send(other_update, "sendPhoto")
    assert (other.chat_id, other.reply_to) == (USER + 1, other_update["message"]["message_id"])
    assert len(api.calls_to("sendPhoto")) == 3, "the waiting photo is not answered yet"
    await execute(
        bot.settings.database_url, "UPDATE photo_admissions SET admitted_at = '2000-01-01'"
    )
    await execute(bot.settings.database_url, "UPDATE inbox SET available_at = '2000-01-01'")
    bot.worker.wake()
    calls = await api.wait_for("sendPhoto", 4, timeout=30)
    assert calls[3].reply_to == update["message"]["message_id"]
    assert len([c for c in api.calls_to("sendMessage") if "queued" in c.params["text"]]) == 1
    assert len(await rows(bot, "SELECT id FROM detections")) == 4


@sqlite_only
async def test_the_hourly_cap_refuses_and_says_when_to_come_back(
    start_bot: StartBot, cat: bytes
) -> None:
    bot = await start_bot(user_hourly_limit=2)
    api = bot.api
    for _ in range(2):
        await bot.send(api.private_photo_update(USER, cat), "sendPhoto")
    update = api.private_photo_update(USER, cat)
    refusal = await bot.send(update, "sendMessage")

    assert refusal.reply_to == update["message"]["message_id"]
    assert "come back in 60 min " in refusal.params["text"]
    await api.wait_idle(quiet=0.5)
    assert len(api.calls_to("sendPhoto")) == 2
    assert await rows(bot, "SELECT state FROM inbox WHERE state <> 'done'") == []


@sqlite_only
async def test_photos_waiting_for_a_slot_are_told_they_are_queued(
    start_bot: StartBot, tfserving_standin: Any, cat: bytes
) -> None:
    bot = await start_bot(max_concurrent_detections=1, queue_notice_s=0.2)
    tfserving_standin.latency_s = 0.8
    api = bot.api
    api.push_updates([api.private_photo_update(USER + i, cat) for i in range(3)])
    await api.wait_for("sendPhoto", 3, timeout=30)

    notices = [c for c in api.calls_to("sendMessage") if "queued" in c.params["text"]]
    assert len(notices) >= 1
    assert bot.services.detection_slots.running == 0 and bot.services.detection_slots.waiting == 0
