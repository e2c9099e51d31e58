"""/settings: this chat's threshold, class filter and (groups) auto mode, as an inline keyboard.

Anyone may look; in groups only administrators and the creator may change anything.
Callback data: `cfg:t:<percent>` threshold, `cfg:a` auto mode, `cfg:c:<page>` class page,
`cfg:x:<index>:<page>` toggle a class, `cfg:all` every class, `cfg:m` back to the main view.
"""

from __future__ import annotations

import logging

from telegram import Chat, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest, TelegramError

from bot.detection.summary import format_percent
from bot.services import Services
from db.records import ChatSettings
from handlers.common import Context, database_error, get_services, is_group_admin, reply_text

logger = logging.getLogger(__name__)

CALLBACK_PREFIX = "cfg"
THRESHOLDS = (30, 50, 70, 90)
CLASSES_PER_PAGE = 18
CLASS_COLUMNS = 3
NOT_ADMIN_TEXT = "Only group admins can change these settings."
UNAVAILABLE_TEXT = "Settings are unavailable right now. Please try again later."


def _classes_text(wanted: ChatSettings) -> str:
    if not wanted.class_filter:
        return "all"
    names = sorted(wanted.class_filter)
    shown = ", ".join(names[:8])
    return shown + (f" and {len(names) - 8} more" if len(names) > 8 else "")


def settings_text(services: Services, chat: Chat, wanted: ChatSettings) -> str:
    min_score = wanted.threshold(services.settings.min_score)
    lines = [
        "Settings for this chat:",
        f"Threshold: {format_percent(min_score)}",
        f"Classes: {_classes_text(wanted)}",
    ]
    if chat.type != Chat.PRIVATE:
        lines.append(f"Auto mode: {'on — every photo' if wanted.auto_mode else 'off'}")
    return "\n".join(lines)


def main_keyboard(services: Services, chat: Chat, wanted: ChatSettings) -> InlineKeyboardMarkup:
    min_score = wanted.threshold(services.settings.min_score)
    current = round(min_score * 100)
    rows = [
        [
            InlineKeyboardButton(
                f"{'✓ ' if pct == current else ''}{pct}%",
                callback_data=f"{CALLBACK_PREFIX}:t:{pct}",
            )
            for pct in THRESHOLDS
        ],
        [
            InlineKeyboardButton(
                f"Classes: {'all' if not wanted.class_filter else len(wanted.class_filter)} ▸",
                callback_data=f"{CALLBACK_PREFIX}:c:0",
            )
        ],
    ]
    if chat.type != Chat.PRIVATE:
        rows.append(
            [
                InlineKeyboardButton(
                    f"Auto mode: {'on' if wanted.auto_mode else 'off'}",
                    callback_data=f"{CALLBACK_PREFIX}:a",
                )
            ]
        )
    return InlineKeyboardMarkup(rows)


def classes_keyboard(services: Services, wanted: ChatSettings, page: int) -> InlineKeyboardMarkup:
    choices = services.labels.class_choices()
    pages = max(1, -(-len(choices) // CLASSES_PER_PAGE))
    page = min(max(page, 0), pages - 1)
    start = page * CLASSES_PER_PAGE
    buttons = [
        InlineKeyboardButton(
            f"{'✓ ' if name in wanted.class_filter else ''}{name}",
            callback_data=f"{CALLBACK_PREFIX}:x:{index}:{page}",
        )
        for index, name in enumerate(choices[start : start + CLASSES_PER_PAGE], start=start)
    ]
    rows = [buttons[i : i + CLASS_COLUMNS] for i in range(0, len(buttons), CLASS_COLUMNS)]
    navigation = []
    if page > 0:
        navigation.append(
            InlineKeyboardButton("◂", callback_data=f"{CALLBACK_PREFIX}:c:{page - 1}")
        )
    navigation.append(
        InlineKeyboardButton(
            f"{'✓ ' if not wanted.class_filter else ''}All classes",
            callback_data=f"{CALLBACK_PREFIX}:all:{page}",
        )
    )
    if page < pages - 1:
        navigation.append(
            InlineKeyboardButton("▸", callback_data=f"{CALLBACK_PREFIX}:c:{page + 1}")
        )
    rows.append(navigation)
    rows.append([InlineKeyboardButton("Done", callback_data=f"{CALLBACK_PREFIX}:m")])
    return InlineKeyboardMarkup(rows)


async def settings_command(update: Update, context: Context) -> None:
    message = update.effective_message
    chat = update.effective_chat
    if message is None or chat is None:
        return
    services = get_services(context)
    try:
        wanted = await services.repository.get_chat_settings(chat.id)
    except Exception:
        database_error(services, "get_chat_settings")
        await reply_text(context.bot, message, UNAVAILABLE_TEXT)
        return
    await reply_text(
        context.bot,
        message,
        settings_text(services, chat, wanted),
        reply_markup=main_keyboard(services, chat, wanted),
    )


async def settings_button(update: Update, context: Context) -> None:
    query = update.callback_query
    chat = update.effective_chat
    if query is None or query.data is None or chat is None or query.message is None:
        return
    services = get_services(context)
    try:
        allowed = await is_group_admin(context.bot, chat, query.from_user)
    except TelegramError:
        logger.warning("getChatMember failed in chat %s", chat.id, exc_info=True)
        allowed = False
    if not allowed:
        await query.answer(NOT_ADMIN_TEXT, show_alert=True)
        return
    parts = query.data.split(":")[1:]
    repository = services.repository
    try:
        wanted = await repository.get_chat_settings(chat.id)
        page: int | None = None
        match parts:
            case ["t", percent] if percent.isdigit() and int(percent) in THRESHOLDS:
                wanted = await repository.update_chat_settings(
                    chat.id, min_score=int(percent) / 100
                )
            case ["a"] if chat.type != Chat.PRIVATE:
                wanted = await repository.update_chat_settings(
                    chat.id, auto_mode=not wanted.auto_mode
                )
            case ["c", number] if number.isdigit():
                page = int(number)
            case ["x", index, number] if index.isdigit() and number.isdigit():
                choices = services.labels.class_choices()
                page = int(number)
                if int(index) < len(choices):
                    wanted = await repository.update_chat_settings(
                        chat.id, class_filter=wanted.class_filter ^ {choices[int(index)]}
                    )
            case ["all", number] if number.isdigit():
                page = int(number)
                wanted = await repository.update_chat_settings(chat.id, class_filter=frozenset())
            case _:
                pass
    except Exception:
        database_error(services, "chat settings")
        await query.answer(UNAVAILABLE_TEXT, show_alert=True)
        return
    markup = (
        main_keyboard(services, chat, wanted)
        if page is None
        else classes_keyboard(services, wanted, page)
    )
    await query.answer()
    try:
        await query.edit_message_text(settings_text(services, chat, wanted), reply_markup=markup)
    except BadRequest as exc:
        if "not modified" not in str(exc):
            raise
