"""Photos and image documents: every one in a private chat; in groups only when asked (see
`bot.workflow.triggers`) or in auto mode; albums are collected and answered together."""

from __future__ import annotations

from telegram import Message, Update
from telegram.ext import filters

from bot.workflow.album import answer_album, collect_album_item
from bot.workflow.photo import answer_photo
from handlers.common import Context, get_services


class _InMediaGroup(filters.MessageFilter):
    """Messages that are items of an album."""

    __slots__ = ()

    def filter(self, message: Message) -> bool:
        return message.media_group_id is not None


IN_ALBUM = _InMediaGroup(name="IN_ALBUM")
IMAGE_LIKE = filters.PHOTO | filters.Document.ALL
NEW_MESSAGE = filters.UpdateType.MESSAGE
CHATS = filters.ChatType.PRIVATE | filters.ChatType.GROUPS
ALBUM_ITEM = NEW_MESSAGE & IN_ALBUM & (filters.PHOTO | filters.Document.ALL | filters.VIDEO)
PHOTO = NEW_MESSAGE & CHATS & IMAGE_LIKE & ~IN_ALBUM


async def photo(update: Update, context: Context) -> None:
    """A photo or a document outside an album."""
    message = update.effective_message
    if message is None or message.from_user is None:
        return
    services = get_services(context)
    await answer_photo(context.bot, services, message, message.from_user, services.jobs.of(update))


async def album_item(update: Update, context: Context) -> None:
    """An album item: collected in the database; a late one is answered on its own."""
    message = update.effective_message
    if message is None or message.from_user is None:
        return
    services = get_services(context)
    if await collect_album_item(services, update):
        return
    await answer_album(context.bot, services, [message], services.jobs.of(update))
