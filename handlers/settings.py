"""/settings: this chat's threshold, class filter and (groups) auto mode, as an inline keyboard.

Anyone may look; in groups only administrators and the creator may change anything.
Callback data: `cfg:t:<percent>` threshold, `cfg:a` auto mode, `cfg:c:<page>` class page,
`cfg:x:<index>:<page>` toggle a class, `cfg:all:<page>` every class, `cfg:m` back to the main view.
"""

from __future__ import annotations

import logging

from telegram import Chat, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest, TelegramError

from bot.database_errors import database_error
from bot.detection.summary import format_percent
from bot.i18n import N_, Translator
from bot.services import Services
from bot.telegram_send import reply_text
from db.records import ChatSettings
from handlers.common import Context, get_services, is_group_admin
from handlers.language import update_translator

logger = logging.getLogger(__name__)

CALLBACK_PREFIX = "cfg"
THRESHOLDS = (30, 50, 70, 90)
CLASSES_PER_PAGE = 18
CLASS_COLUMNS = 3
MAX_NUMBER_DIGITS = 6
NOT_ADMIN_TEXT = N_("Only group admins can change these settings.")
UNAVAILABLE_TEXT = N_("Settings are unavailable right now. Please try again later.")
SHOWN_CLASSES = 8


def _classes_text(chat_settings: ChatSettings, tr: Translator) -> str:
    if not chat_settings.class_filter:
        return tr.gettext("Classes: all")
    names = sorted(tr.label(name) for name in chat_settings.class_filter)
    shown = ", ".join(names[:SHOWN_CLASSES])
    hidden = len(names) - SHOWN_CLASSES
    if hidden > 0:
        shown = tr.ngettext("{classes} and {count} more", "{classes} and {count} more", hidden)
        shown = shown.format(classes=", ".join(names[:SHOWN_CLASSES]), count=tr.number(hidden))
    return tr.gettext("Classes: {classes}").format(classes=shown)


def settings_text(
    services: Services, chat: Chat, chat_settings: ChatSettings, tr: Translator
) -> str:
    min_score = chat_settings.threshold(services.settings.min_score)
    lines = [
        tr.gettext("Settings for this chat:"),
        tr.gettext("Threshold: {threshold}").format(threshold=format_percent(min_score, tr)),
        _classes_text(chat_settings, tr),
    ]
    if chat.type != Chat.PRIVATE:
        lines.append(
            tr.gettext("Auto mode: on — every photo")
            if chat_settings.auto_mode
            else tr.gettext("Auto mode: off")
        )
    return "\n".join(lines)


def main_keyboard(
    services: Services, chat: Chat, chat_settings: ChatSettings, tr: Translator
) -> InlineKeyboardMarkup:
    min_score = chat_settings.threshold(services.settings.min_score)
    current = round(min_score * 100)
    chosen = chat_settings.class_filter
    rows = [
        [
            InlineKeyboardButton(
                f"{'✓ ' if pct == current else ''}{format_percent(pct / 100, tr)}",
                callback_data=f"{CALLBACK_PREFIX}:t:{pct}",
            )
            for pct in THRESHOLDS
        ],
        [
            InlineKeyboardButton(
                tr.gettext("Classes: {count} ▸").format(count=tr.number(len(chosen)))
                if chosen
                else tr.gettext("Classes: all ▸"),
                callback_data=f"{CALLBACK_PREFIX}:c:0",
            )
        ],
    ]
    if chat.type != Chat.PRIVATE:
        rows.append(
            [
                InlineKeyboardButton(
                    tr.gettext("Auto mode: on")
                    if chat_settings.auto_mode
                    else tr.gettext("Auto mode: off"),
                    callback_data=f"{CALLBACK_PREFIX}:a",
                )
            ]
        )
    return InlineKeyboardMarkup(rows)


def classes_keyboard(
    services: Services, chat_settings: ChatSettings, page: int, tr: Translator
) -> InlineKeyboardMarkup:
    choices = services.labels.class_choices()
    pages = max(1, -(-len(choices) // CLASSES_PER_PAGE))
    page = min(max(page, 0), pages - 1)
    start = page * CLASSES_PER_PAGE
    buttons = [
        InlineKeyboardButton(
            f"{'✓ ' if name in chat_settings.class_filter else ''}{tr.label(name)}",
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
            f"{'✓ ' if not chat_settings.class_filter else ''}{tr.gettext('All classes')}",
            callback_data=f"{CALLBACK_PREFIX}:all:{page}",
        )
    )
    if page < pages - 1:
        navigation.append(
            InlineKeyboardButton("▸", callback_data=f"{CALLBACK_PREFIX}:c:{page + 1}")
        )
    rows.append(navigation)
    rows.append([InlineKeyboardButton(tr.gettext("Done"), callback_data=f"{CALLBACK_PREFIX}:m")])
    return InlineKeyboardMarkup(rows)


async def settings_command(update: Update, context: Context) -> None:
    message = update.effective_message
    chat = update.effective_chat
    if message is None or chat is None:
        return
    services = get_services(context)
    tr = await update_translator(update, context)
    try:
        chat_settings = await services.repository.chat_settings.get(chat.id)
    except Exception:
        database_error(services, "get_chat_settings")
        await reply_text(context.bot, message, tr.gettext(UNAVAILABLE_TEXT))
        return
    await reply_text(
        context.bot,
        message,
        settings_text(services, chat, chat_settings, tr),
        reply_markup=main_keyboard(services, chat, chat_settings, tr),
    )


def _number(text: str) -> int | None:
    """A non-negative number written in ASCII digits (`'²'.isdigit()` is true, `int('²')` fails)."""
    if not text or len(text) > MAX_NUMBER_DIGITS or not text.isascii() or not text.isdigit():
        return None
    return int(text)


SettingsAction = tuple[str] | tuple[str, int] | tuple[str, int, int]


def parse_settings_data(data: str) -> SettingsAction | None:
    """The action of a settings button, or None for data this bot never puts on a button."""
    prefix, _, rest = data.partition(":")
    if prefix != CALLBACK_PREFIX:
        return None
    name, *values = rest.split(":")
    numbers = [_number(value) for value in values]
    if any(n is None for n in numbers):
        return None
    match name, numbers:
        case (("a" | "m"), []):
            return (name,)
        case "t", [int(percent)] if percent in THRESHOLDS:
            return (name, percent)
        case (("c" | "all"), [int(page)]):
            return (name, page)
        case "x", [int(index), int(page)]:
            return (name, index, page)
    return None


async def settings_button(update: Update, context: Context) -> None:
    query = update.callback_query
    chat = update.effective_chat
    if query is None or query.data is None or chat is None or query.message is None:
        return
    action = parse_settings_data(query.data)
    if action is None:
        await query.answer()
        return
    services = get_services(context)
    tr = await update_translator(update, context)
    try:
        allowed = await is_group_admin(context.bot, chat, query.from_user)
    except TelegramError:
        logger.warning("getChatMember failed in chat %s", chat.id, exc_info=True)
        allowed = False
    if not allowed:
        await query.answer(tr.gettext(NOT_ADMIN_TEXT), show_alert=True)
        return
    repository = services.repository
    try:
        chat_settings = await repository.chat_settings.get(chat.id)
        page: int | None = None
        match action:
            case ("t", percent):
                chat_settings = await repository.chat_settings.update(
                    chat.id, min_score=percent / 100
                )
            case ("a",) if chat.type != Chat.PRIVATE:
                chat_settings = await repository.chat_settings.update(
                    chat.id, auto_mode=not chat_settings.auto_mode
                )
            case ("c", number):
                page = number
            case ("x", index, number):
                choices = services.labels.class_choices()
                page = number
                if index < len(choices):
                    chat_settings = await repository.chat_settings.update(
                        chat.id, class_filter=chat_settings.class_filter ^ {choices[index]}
                    )
            case ("all", number):
                page = number
                chat_settings = await repository.chat_settings.update(
                    chat.id, class_filter=frozenset()
                )
            case _:
                pass
    except Exception:
        database_error(services, "chat settings")
        await query.answer(tr.gettext(UNAVAILABLE_TEXT), show_alert=True)
        return
    markup = (
        main_keyboard(services, chat, chat_settings, tr)
        if page is None
        else classes_keyboard(services, chat_settings, page, tr)
    )
    await query.answer()
    try:
        await query.edit_message_text(
            settings_text(services, chat, chat_settings, tr), reply_markup=markup
        )
    except BadRequest as exc:
        if "not modified" not in str(exc):
            raise
