"""The command menu (setMyCommands): one list per language, so each client shows its own."""

from __future__ import annotations

import logging

from telegram import Bot, BotCommand, BotCommandScopeChat
from telegram.error import TelegramError

from bot.i18n import DEFAULT_LANGUAGE, N_, Translator, available_languages, translator

logger = logging.getLogger(__name__)

COMMANDS = (
    ("start", N_("what this bot does")),
    ("help", N_("how to use it")),
    ("detect", N_("reply to a photo to find objects in it")),
    ("settings", N_("threshold, classes, auto mode")),
    ("history", N_("your recent detections")),
    ("language", N_("the language I answer in")),
    ("model", N_("which model looks at your photos")),
    ("feedback", N_("tell us what you think")),
    ("forget", N_("delete everything stored about you")),
    ("stats", N_("usage statistics (admins)")),
)


def command_menu(tr: Translator) -> list[BotCommand]:
    return [BotCommand(command, tr.gettext(description)) for command, description in COMMANDS]


async def set_command_menus(bot: Bot) -> None:
    """The default menu in English, and one for each language's `language_code`."""
    for language in available_languages():
        code = None if language == DEFAULT_LANGUAGE else language
        try:
            await bot.set_my_commands(command_menu(translator(language)), language_code=code)
        except TelegramError as exc:
            logger.warning("setMyCommands (%s) failed: %s", language, exc)


async def set_chat_menu(bot: Bot, chat_id: int, tr: Translator | None) -> None:
    """After /language: this chat's menu in the chosen language; None goes back to the menus
    chosen by each client's language. Best effort."""
    scope = BotCommandScopeChat(chat_id)
    try:
        if tr is None:
            await bot.delete_my_commands(scope=scope)
        else:
            await bot.set_my_commands(command_menu(tr), scope=scope)
    except TelegramError as exc:
        logger.warning("command menu of chat %s not changed: %s", chat_id, exc)
