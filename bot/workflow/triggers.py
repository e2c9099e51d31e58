"""Whether the bot answers a photo: every one in a private chat; in a group, one whose caption
asks for it (mentions the bot or holds /detect), or any image while the group is in auto mode."""

from __future__ import annotations

from collections.abc import Sequence

from telegram import Message, MessageEntity
from telegram.constants import ChatType

from bot.workflow.image_source import holds_image
from db.records import ChatSettings

DETECT_COMMAND = "detect"


def asks_for_detection(message: Message, bot_username: str, bot_id: int) -> bool:
    """True when the caption mentions the bot (@name or a text mention) or holds /detect."""
    mention = f"@{bot_username}".casefold()
    entities = message.parse_caption_entities(
        [MessageEntity.MENTION, MessageEntity.TEXT_MENTION, MessageEntity.BOT_COMMAND]
    )
    for entity, text in entities.items():
        if entity.type == MessageEntity.MENTION and text.casefold() == mention:
            return True
        if entity.type == MessageEntity.TEXT_MENTION and entity.user and entity.user.id == bot_id:
            return True
        if entity.type == MessageEntity.BOT_COMMAND:
            command, _, addressee = text[1:].partition("@")
            if command.casefold() == DETECT_COMMAND and (
                not addressee or addressee.casefold() == bot_username.casefold()
            ):
                return True
    return False


def should_answer(
    messages: Sequence[Message], chat_settings: ChatSettings, *, bot_username: str, bot_id: int
) -> bool:
    """For one photo or an album's items (all of one chat). A group's files that are not images
    are left alone unless a caption asks: in a private chat they get a short refusal."""
    if not messages:
        return False
    if messages[0].chat.type == ChatType.PRIVATE:
        return True
    if any(asks_for_detection(m, bot_username, bot_id) for m in messages):
        return True
    return chat_settings.auto_mode and any(holds_image(m) for m in messages)
