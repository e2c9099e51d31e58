"""Photos and image documents: every one in a private chat; in groups only when asked (see
`handlers.detect_command`) or in auto mode; albums are collected and answered together."""

from __future__ import annotations

from telegram import Message, Update
from telegram.ext import filters

from handlers.album import answer_album, collect_album_item
from handlers.common import Context, get_services
from handlers.detect_command import asks_for_detection
from handlers.detection import chat_settings, detect_and_reply, is_image_document


class _InMediaGroup(filters.MessageFilter):
    """Messages that are items of an album."""

    __slots__ = ()

    def filter(self, message: Message) -> bool:
        return message.media_group_id is not None


IN_ALBUM = _InMediaGroup(name="IN_ALBUM")
IMAGE_LIKE = filters.PHOTO | filters.Document.ALL
NEW_MESSAGE = filters.UpdateType.MESSAGE
ALBUM_ITEM = NEW_MESSAGE & IN_ALBUM & (filters.PHOTO | filters.Document.ALL | filters.VIDEO)
PRIVATE_PHOTO = NEW_MESSAGE & filters.ChatType.PRIVATE & IMAGE_LIKE & ~IN_ALBUM
GROUP_PHOTO = NEW_MESSAGE & filters.ChatType.GROUPS & IMAGE_LIKE & ~IN_ALBUM


async def private_photo(update: Update, context: Context) -> None:
    """A photo or a document in a private chat: detect it (non-images get a short reply)."""
    message = update.effective_message
    if message is None or message.from_user is None:
        return
    services = get_services(context)
    job = services.jobs.of(update)
    await detect_and_reply(context.bot, services, message, message.from_user, job=job)


async def group_photo(update: Update, context: Context) -> None:
    """A photo in a group: detected when its caption asks for it or the group is in auto mode."""
    message = update.effective_message
    if message is None or message.from_user is None:
        return
    services = get_services(context)
    job = services.jobs.of(update)
    if asks_for_detection(message, context.bot.username, context.bot.id):
        await detect_and_reply(context.bot, services, message, message.from_user, job=job)
        return
    document = message.document
    if document is not None and not is_image_document(document.mime_type, document.file_name):
        return
    wanted = await chat_settings(services, message.chat_id)
    if wanted.auto_mode:
        await detect_and_reply(context.bot, services, message, message.from_user, wanted, job)


async def album_item(update: Update, context: Context) -> None:
    """An album item: collected in the database; a late one is answered on its own."""
    message = update.effective_message
    if message is None or message.from_user is None:
        return
    services = get_services(context)
    if await collect_album_item(context.bot, services, update):
        return
    await answer_album(context.bot, services, [message], services.jobs.of(update))
