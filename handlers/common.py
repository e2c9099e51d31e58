"""What every handler module uses: the services of the application, and who is a group admin."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from telegram import Bot, Chat, User
from telegram.constants import ChatMemberStatus
from telegram.ext import ContextTypes

if TYPE_CHECKING:
    from bot.services import Services

SERVICES_KEY = "services"
ADMIN_STATUSES = frozenset({ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.OWNER})

Context = ContextTypes.DEFAULT_TYPE


def get_services(context: Context) -> Services:
    return cast("Services", context.bot_data[SERVICES_KEY])


async def is_group_admin(bot: Bot, chat: Chat, user: User) -> bool:
    """True in private chats, and for a group's administrators and creator."""
    if chat.type == Chat.PRIVATE:
        return True
    member = await bot.get_chat_member(chat.id, user.id)
    return member.status in ADMIN_STATUSES
