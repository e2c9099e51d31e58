"""Private chats: photos and image documents are detected and answered; bad input gets a reply."""

from __future__ import annotations

import asyncio
import io
import time
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from db.records import UserInfo
from tests.support.bot_fixtures import RunningBot, StartBot
from tests.support.bot_helpers import expected_caption, image_size, rows
from tests.support.db_locks import database_frozen
from tests.support.tfserving_standin import TFServingStandIn

USER = 5_000_000_001
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


async def test_private_photo_gets_annotated_reply_with_counts_and_rating_buttons(
    running_bot: RunningBot, photos_dir: Path, expected_detections: dict[str, Any]
) -> None:
    api = running_bot.api
    update = running_bot.push(
        api.private_photo_update(USER, (photos_dir / "person_astronaut.jpg").read_bytes())
    )
    reply = (await api.wait_for("sendPhoto"))[0]

    assert reply.chat_id == USER
    assert reply.reply_to == update["message"]["message_id"]
    assert reply.params["caption"] == expected_caption(expected_detections, "person_astronaut.jpg")
    assert image_size(reply.upload()) == (512, 512)
    assert [b["text"] for b in reply.buttons[0]] == ["👍", "👎"]
    assert api.calls_to("sendChatAction")[0].params["action"] == "upload_photo"

    detections = await rows(
        running_bot, "SELECT id, user_id, chat_id, message_id, status FROM detections"
    )
    assert [r[1:] for r in detections] == [(USER, USER, update["message"]["message_id"], "ok")]
    assert running_bot.rated(reply) == [(detections[0][0], 1), (detections[0][0], -1)]
    labels = await rows(running_bot, "SELECT label FROM detected_objects ORDER BY label")
    assert labels == [("mouse",), ("person",)]
    users = await rows(running_bot, "SELECT id, chat_id FROM users")
    assert users == [(USER, USER)]


def png_bytes(path: Path) -> bytes:
    buffer = io.BytesIO()
    with Image.open(path) as image:
        image.save(buffer, "PNG")
    return buffer.getvalue()


async def test_png_document_is_detected_like_a_photo(
    running_bot: RunningBot, photos_dir: Path, expected_detections: dict[str, Any]
) -> None:
    api = running_bot.api
    update = api.document_update(
        USER,
        USER,
        png_bytes(photos_dir / "cat_chelsea.jpg"),
        file_name="cat.png",
        mime_type="image/png",
    )
    reply = await running_bot.send(update, "sendPhoto")

    assert reply.reply_to == update["message"]["message_id"]
    assert reply.params["caption"] == expected_caption(expected_detections, "cat_chelsea.jpg")
    assert image_size(reply.upload()) == (451, 300)
    stored = await rows(running_bot, "SELECT status, message_id FROM detections")
    assert stored == [("ok", update["message"]["message_id"])]


@sqlite_only
async def test_webp_document_is_detected(running_bot: RunningBot, photos_dir: Path) -> None:
    buffer = io.BytesIO()
    with Image.open(photos_dir / "cat_chelsea.jpg") as image:
        image.save(buffer, "WEBP", quality=90)
    update = running_bot.api.document_update(
        USER, USER, buffer.getvalue(), file_name="cat.webp", mime_type="image/webp"
    )
    reply = await running_bot.send(update, "sendPhoto")
    assert "cat" in reply.params["caption"]


async def test_non_image_document_gets_short_reply_and_no_row(running_bot: RunningBot) -> None:
    api = running_bot.api
    update = api.document_update(
        USER, USER, b"%PDF-1.4 not an image", file_name="report.pdf", mime_type="application/pdf"
    )
    reply = await running_bot.send(update, "sendMessage")

    assert reply.chat_id == USER
    assert reply.reply_to == update["message"]["message_id"]
    assert "not an image" in reply.params["text"]
    assert api.calls_to("getFile") == []
    assert await rows(running_bot, "SELECT id FROM detections") == []


async def test_corrupt_image_gets_reply_and_failed_row(
    running_bot: RunningBot, photos_dir: Path
) -> None:
    data = (photos_dir / "cat_chelsea.jpg").read_bytes()
    update = running_bot.api.document_update(
        USER, USER, data[: len(data) // 3], file_name="cat.jpg", mime_type="image/jpeg"
    )
    reply = await running_bot.send(update, "sendMessage")

    assert reply.reply_to == update["message"]["message_id"]
    assert "damaged" in reply.params["text"] or "incomplete" in reply.params["text"]
    stored = await rows(running_bot, "SELECT status, error_kind FROM detections")
    assert stored == [("failed", "corrupt_image")]


@sqlite_only
async def test_text_file_named_like_a_jpeg_gets_not_an_image_reply_and_no_row(
    running_bot: RunningBot,
) -> None:
    update = running_bot.api.document_update(
        USER, USER, b"this is plain text" * 20, file_name="photo.jpg", mime_type="image/jpeg"
    )
    reply = await running_bot.send(update, "sendMessage")
    assert reply.reply_to == update["message"]["message_id"]
    assert "not an image" in reply.params["text"]
    assert await rows(running_bot, "SELECT id FROM detections") == []


async def test_image_over_size_limit_gets_reply_and_failed_row_without_download(
    start_bot: Any, photos_dir: Path
) -> None:
    bot = await start_bot(max_file_bytes=50_000)
    data = png_bytes(photos_dir / "cup_coffee.jpg")
    assert len(data) > 50_000
    update = bot.api.document_update(USER, USER, data, file_name="cup.png", mime_type="image/png")
    reply = await bot.send(update, "sendMessage")

    assert "too large" in reply.params["text"]
    assert bot.api.calls_to("getFile") == []
    stored = await rows(bot, "SELECT status, error_kind FROM detections")
    assert stored == [("failed", "image_too_large")]


@sqlite_only
async def test_file_over_telegram_download_limit_gets_reply_and_failed_row(
    running_bot: RunningBot, photos_dir: Path
) -> None:
    api = running_bot.api
    api.max_download_bytes = 10_000
    update = api.private_photo_update(USER, (photos_dir / "cat_chelsea.jpg").read_bytes())
    reply = await running_bot.send(update, "sendMessage")

    assert "too large" in reply.params["text"]
    assert [c.status for c in api.calls_to("getFile")] == [400]
    stored = await rows(running_bot, "SELECT status, error_kind FROM detections")
    assert stored == [("failed", "image_too_large")]


async def test_detector_down_gets_try_again_reply_and_failed_row(
    running_bot: RunningBot, tfserving_standin: Any, photos_dir: Path
) -> None:
    await tfserving_standin.stop()
    update = running_bot.api.private_photo_update(
        USER, (photos_dir / "cat_chelsea.jpg").read_bytes()
    )
    reply = await running_bot.send(update, "sendMessage")

    assert reply.reply_to == update["message"]["message_id"]
    assert "try again in a minute" in reply.params["text"]
    stored = await rows(running_bot, "SELECT status, error_kind FROM detections")
    assert stored == [("failed", "detector_unavailable")]


@sqlite_only
async def test_detector_past_deadline_gets_try_again_reply_and_timeout_row(
    start_bot: Any, tfserving_standin: Any, photos_dir: Path
) -> None:
    bot = await start_bot(tfserving_timeout_s=0.5)
    tfserving_standin.latency_s = 2.0
    update = bot.api.private_photo_update(USER, (photos_dir / "cat_chelsea.jpg").read_bytes())
    reply = await bot.send(update, "sendMessage")

    assert "try again in a minute" in reply.params["text"]
    stored = await rows(bot, "SELECT status, error_kind FROM detections")
    assert stored == [("failed", "detector_timeout")]


async def test_database_down_user_still_gets_annotated_image(
    running_bot: RunningBot, photos_dir: Path, expected_detections: dict[str, Any]
) -> None:
    from db.repository import Repository
    from db.session import create_engine, create_sessionmaker

    dead = create_engine("mysql+aiomysql://root@127.0.0.1:1/detectx_gone?charset=utf8mb4")
    running_bot.services.repository = Repository(create_sessionmaker(dead))
    try:
        update = running_bot.api.private_photo_update(
            USER, (photos_dir / "cat_chelsea.jpg").read_bytes()
        )
        reply = await running_bot.send(update, "sendPhoto")
    finally:
        await dead.dispose()

    assert reply.reply_to == update["message"]["message_id"]
    assert reply.params["caption"] == expected_caption(expected_detections, "cat_chelsea.jpg")
    image_size(reply.upload())
    registry = running_bot.services.metrics.registry
    assert (registry.get_sample_value("detectx_errors_total", {"kind": "database"}) or 0) >= 1


@sqlite_only
async def test_video_in_private_chat_gets_not_an_image_reply_and_no_row(
    running_bot: RunningBot,
) -> None:
    api = running_bot.api
    video = {"file_id": "BAACvideo", "file_unique_id": "AgADv", "width": 640, "height": 360}
    update = {"message": api.message(USER, USER, video=video | {"duration": 2})}
    reply = await running_bot.send(update, "sendMessage")

    assert reply.reply_to == update["message"]["message_id"]
    assert "not an image" in reply.params["text"]
    assert await rows(running_bot, "SELECT id FROM detections") == []


@sqlite_only
async def test_plain_text_in_private_chat_gets_a_hint(running_bot: RunningBot) -> None:
    reply = await running_bot.send(running_bot.api.text_update(USER, USER, "hello?"), "sendMessage")
    assert "Send me a photo" in reply.params["text"]


async def test_database_that_stops_answering_during_a_detection_does_not_hold_up_the_reply(
    start_bot: StartBot,
    database_url: str,
    photos_dir: Path,
    expected_detections: dict[str, Any],
    tfserving_standin: TFServingStandIn,
) -> None:
    bot = await start_bot(db_timeout_s=0.5)
    await bot.repository.people.register(UserInfo(USER, USER, "ann"), None)
    update = bot.api.private_photo_update(USER, (photos_dir / "cat_chelsea.jpg").read_bytes())
    tfserving_standin.latency_s = 1.0
    bot.push(update)
    await _until_detecting(bot)

    async with database_frozen(database_url):
        started = time.monotonic()
        (reply,) = await bot.api.wait_for("sendPhoto", timeout=15)
        waited = time.monotonic() - started

    assert waited < 10
    assert reply.reply_to == update["message"]["message_id"]
    assert reply.params["caption"] == expected_caption(expected_detections, "cat_chelsea.jpg")
    registry = bot.services.metrics.registry
    assert (registry.get_sample_value("detectx_errors_total", {"kind": "database"}) or 0) >= 1

    await bot.repository.finish_late_calls(10)
    assert await rows(bot, "SELECT user_id, message_id, status FROM detections") == [
        (USER, update["message"]["message_id"], "ok")
    ]


async def _until_detecting(bot: RunningBot) -> None:
    registry = bot.services.metrics.registry
    deadline = time.monotonic() + 15
    while registry.get_sample_value("detectx_detections_in_flight") != 1:
        assert time.monotonic() < deadline, "the detection never started"
        await asyncio.sleep(0.01)


@sqlite_only
async def test_a_bug_in_detection_gets_an_apology_and_a_failed_row(
    running_bot: RunningBot, photos_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken_run(data: bytes, **options: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(running_bot.services.pipeline, "run", broken_run)
    update = running_bot.api.private_photo_update(
        USER, (photos_dir / "cat_chelsea.jpg").read_bytes()
    )
    reply = await running_bot.send(update, "sendMessage")

    assert reply.reply_to == update["message"]["message_id"]
    assert reply.params["text"] == "Sorry, something went wrong on my side. Please try again."
    assert await rows(running_bot, "SELECT status, error_kind FROM detections") == [
        ("failed", "internal_error")
    ]
