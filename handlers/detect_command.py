"""Groups: `/detect` sent as a reply to a photo, and photos whose caption mentions the bot or holds
`/detect`."""

from __future__ import annotations

from telegram import Message, MessageEntity, Update

from bot.i18n import N_
from handlers.common import Context, get_services, reply_text
from handlers.detection import detect_and_reply, has_image
from handlers.language import update_translator

DETECT_COMMAND = "detect"
NOT_A_REPLY_TEXT = N_("Reply /detect to a photo and I'll find the objects in it.")


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


async def detect_command(update: Update, context: Context) -> None:
    """`/detect` in reply to a photo: detect that photo and answer it (not the command)."""
    message = update.effective_message
    if message is None or message.from_user is None:
        return
    target = message.reply_to_message
    if target is None or not has_image(target):
        tr = await update_translator(update, context)
        await reply_text(context.bot, message, tr.gettext(NOT_A_REPLY_TEXT))
        return
    services = get_services(context)
    job = services.jobs.of(update)
    await detect_and_reply(context.bot, services, target, message.from_user, job=job)
