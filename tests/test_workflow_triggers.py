"""Whether the bot answers a photo, one rule for single photos and albums: every one in a private
chat; in a group one whose caption asks for it, or any image in auto mode."""

from __future__ import annotations

from itertools import count
from typing import Any

import pytest
from telegram import Message

from bot.workflow.triggers import should_answer
from db.records import ChatSettings

BOT_USERNAME = "detectx_test_bot"
BOT_ID = 4_000_000_001
GROUP = -1_001_234_567_890
PERSON = 5_000_000_101
AUTO = ChatSettings(auto_mode=True)
ASKED_ONLY = ChatSettings(auto_mode=False)
_ids = count(1)


def _message(chat_id: int, *, caption: str | None = None, **media: Any) -> Message:
    data: dict[str, Any] = {
        "message_id": next(_ids),
        "date": 0,
        "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "supergroup"},
        "from": {"id": PERSON, "is_bot": False, "first_name": "Ann"},
        **media,
    }
    if caption is not None:
        data["caption"] = caption
        entities = []
        for word in caption.split():
            kind = "mention" if word.startswith("@") else "bot_command" if word[0] == "/" else ""
            if kind:
                entities.append({"type": kind, "offset": caption.index(word), "length": len(word)})
        data["caption_entities"] = entities
    message = Message.de_json(data, None)
    assert message is not None
    return message


def photo(chat_id: int = GROUP, caption: str | None = None) -> Message:
    size = {"file_id": "p", "file_unique_id": "pu", "width": 640, "height": 480}
    return _message(chat_id, caption=caption, photo=[size])


def document(
    mime_type: str, file_name: str, chat_id: int = GROUP, caption: str | None = None
) -> Message:
    file = {"file_id": "d", "file_unique_id": "du", "mime_type": mime_type, "file_name": file_name}
    return _message(chat_id, caption=caption, document=file)


def answers(messages: list[Message], chat_settings: ChatSettings) -> bool:
    return should_answer(messages, chat_settings, bot_username=BOT_USERNAME, bot_id=BOT_ID)


@pytest.mark.parametrize(
    "message",
    [photo(PERSON), document("application/pdf", "notes.pdf", PERSON)],
    ids=["photo", "pdf"],
)
def test_private_chats_are_answered_whatever_the_file(message: Message) -> None:
    assert answers([message], ASKED_ONLY)


@pytest.mark.parametrize(
    "caption",
    [f"look @{BOT_USERNAME}", "/detect", f"/detect@{BOT_USERNAME} please"],
)
def test_group_caption_asking_for_detection_is_answered(caption: str) -> None:
    assert answers([photo(caption=caption)], ASKED_ONLY)


@pytest.mark.parametrize("caption", [None, "look at my cat", "@another_bot", "/detect@another_bot"])
def test_group_photo_nobody_asked_about_is_left_alone_outside_auto_mode(
    caption: str | None,
) -> None:
    assert not answers([photo(caption=caption)], ASKED_ONLY)


@pytest.mark.parametrize(
    "message",
    [
        photo(),
        document("image/png", "cat.png"),
        document("application/octet-stream", "cat.JPG"),
    ],
    ids=["photo", "png document", "generic mime jpg name"],
)
def test_auto_mode_answers_every_group_image(message: Message) -> None:
    assert answers([message], AUTO)


def test_group_file_that_is_no_image_is_left_alone_even_in_auto_mode() -> None:
    assert not answers([document("application/pdf", "notes.pdf")], AUTO)
    assert not answers([document("application/octet-stream", "archive.zip")], AUTO)


def test_group_file_that_is_no_image_is_answered_when_its_caption_asks() -> None:
    assert answers([document("application/pdf", "notes.pdf", caption="/detect")], ASKED_ONLY)


def test_album_is_answered_when_any_item_asks() -> None:
    album = [photo(), photo(caption=f"@{BOT_USERNAME} what is this"), photo()]
    assert answers(album, ASKED_ONLY)
    assert not answers([photo(), photo()], ASKED_ONLY)


def test_album_in_auto_mode_is_answered_when_it_holds_an_image() -> None:
    pdf = document("application/pdf", "notes.pdf")
    assert answers([pdf, document("image/jpeg", "cat.jpg")], AUTO)
    assert not answers([pdf, document("text/plain", "notes.txt")], AUTO)


def test_nothing_to_answer_without_messages() -> None:
    assert not answers([], AUTO)
