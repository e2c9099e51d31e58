"""/language: a group's admins choose the group's language, anyone their own (the language a
reply is written in is chosen in `bot.reply_language`).
Callback data: `lang:<code>` picks a language, `lang:auto` goes back to Telegram's.
"""

from __future__ import annotations

import logging
import re

from telegram import Chat, InlineKeyboardButton, InlineKeyboardMarkup, Update, User
from telegram.error import BadRequest, TelegramError

from bot.database_errors import database_error
from bot.i18n import (
    Translator,
    available_languages,
    choose_language,
    supported_language,
    translator,
)
from bot.reply_language import label_names, stored_choices, translator_for
from bot.services import Services
from bot.telegram_send import reply_text
from db.languages import LanguageChoices
from handlers.common import Context, get_services, is_group_admin
from handlers.menu import set_chat_menu

logger = logging.getLogger(__name__)

CALLBACK_PREFIX = "lang"
AUTOMATIC = "auto"
LANGUAGE_PATTERN = re.compile(rf"^{CALLBACK_PREFIX}:([a-z]{{2,3}}|{AUTOMATIC})$")
LANGUAGE_COLUMNS = 2


def _translator(services: Services, user: User | None, choices: LanguageChoices) -> Translator:
    language = choose_language(
        chat_choice=choices.chat,
        user_choice=choices.user,
        language_code=user.language_code if user is not None else None,
    )
    return translator(language, label_names(services))


async def update_translator(update: Update, context: Context) -> Translator:
    """The translator for replies to this update's sender in its chat."""
    return await translator_for(get_services(context), update.effective_user, update.effective_chat)


def _is_group(chat: Chat) -> bool:
    return chat.type != Chat.PRIVATE


def language_text(
    tr: Translator, chat: Chat, choices: LanguageChoices, language_code: str | None
) -> str:
    """What /language says: whose language applies here, and what one may choose."""
    chosen = choices.chat if _is_group(chat) else choices.user
    if _is_group(chat):
        if chosen is None:
            return tr.gettext(
                "This group has no language of its own: I answer each person in theirs. "
                "Group admins can set one:"
            )
        return tr.gettext("Language of this group: {language}. Group admins can change it:").format(
            language=tr.language_name
        )
    if chosen is None and supported_language(language_code) == tr.language:
        return tr.gettext(
            "I answer in {language}, the language of your Telegram app. Choose another:"
        ).format(language=tr.language_name)
    return tr.gettext("I answer in {language}. Choose another:").format(language=tr.language_name)


def _button_name(language: str) -> str:
    """The language's own name, capitalized: "Русский", "Español"."""
    name = translator(language).language_name
    return name[:1].upper() + name[1:]


def language_keyboard(tr: Translator, chosen: str | None) -> InlineKeyboardMarkup:
    buttons = [
        InlineKeyboardButton(
            f"{'✓ ' if language == chosen else ''}{_button_name(language)}",
            callback_data=f"{CALLBACK_PREFIX}:{language}",
        )
        for language in available_languages()
    ]
    rows = [buttons[i : i + LANGUAGE_COLUMNS] for i in range(0, len(buttons), LANGUAGE_COLUMNS)]
    automatic = tr.gettext("Telegram's language")
    rows.append(
        [
            InlineKeyboardButton(
                f"{'✓ ' if chosen is None else ''}{automatic}",
                callback_data=f"{CALLBACK_PREFIX}:{AUTOMATIC}",
            )
        ]
    )
    return InlineKeyboardMarkup(rows)


async def language_command(update: Update, context: Context) -> None:
    message = update.effective_message
    chat = update.effective_chat
    user = update.effective_user
    if message is None or chat is None or user is None:
        return
    services = get_services(context)
    choices = await stored_choices(services, user, chat)
    tr = _translator(services, user, choices)
    chosen = choices.chat if _is_group(chat) else choices.user
    await reply_text(
        context.bot,
        message,
        language_text(tr, chat, choices, user.language_code),
        reply_markup=language_keyboard(tr, chosen),
    )


async def language_button(update: Update, context: Context) -> None:
    query = update.callback_query
    chat = update.effective_chat
    if query is None or query.data is None or chat is None:
        return
    match = LANGUAGE_PATTERN.match(query.data)
    services = get_services(context)
    if match is None:
        await query.answer()
        return
    picked = None if match.group(1) == AUTOMATIC else match.group(1)
    if picked is not None and picked not in available_languages():
        await query.answer()
        return
    group = _is_group(chat)
    if group:
        try:
            allowed = await is_group_admin(context.bot, chat, query.from_user)
        except TelegramError:
            logger.warning("getChatMember failed in chat %s", chat.id, exc_info=True)
            allowed = False
        if not allowed:
            tr = await translator_for(services, query.from_user, chat)
            await query.answer(
                tr.gettext("Only group admins can change the group's language."), show_alert=True
            )
            return
    try:
        if group:
            await services.repository.languages.choose("chat", chat.id, picked)
        else:
            await services.repository.languages.choose("user", query.from_user.id, picked)
    except Exception:
        database_error(services, "choosing a language")
        tr = await translator_for(services, query.from_user, chat)
        await query.answer(
            tr.gettext("Sorry, I couldn't save that right now. Please try again later."),
            show_alert=True,
        )
        return
    choices = await stored_choices(services, query.from_user, chat)
    tr = _translator(services, query.from_user, choices)
    await query.answer()
    await set_chat_menu(context.bot, chat.id, tr if picked is not None else None)
    if query.message is None:
        return
    try:
        await query.edit_message_text(
            language_text(tr, chat, choices, query.from_user.language_code),
            reply_markup=language_keyboard(tr, picked),
        )
    except BadRequest as exc:
        if "not modified" not in str(exc):
            raise
