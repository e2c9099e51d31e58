"""/help: what the bot does and every command."""

from __future__ import annotations

from telegram import BotCommand, Update

from handlers.common import Context, reply_text

COMMANDS = (
    BotCommand("start", "what this bot does"),
    BotCommand("help", "how to use it"),
    BotCommand("detect", "reply to a photo to find objects in it"),
    BotCommand("settings", "confidence threshold, classes, auto mode"),
    BotCommand("model", "which detection model this chat uses"),
    BotCommand("history", "your recent detections"),
    BotCommand("feedback", "tell us what you think"),
    BotCommand("forget", "delete everything stored about you"),
    BotCommand("stats", "usage statistics (admins)"),
)

HELP_TEXT = (
    "Send me a photo (or an image file: JPEG, PNG, WebP) and I'll answer with the objects I "
    "found marked on it and a count per class. Rate each answer with 👍 or 👎.\n\n"
    "In groups I only look when asked: reply /detect to a photo, or mention me or write /detect "
    "in a photo's caption. Group admins can turn on auto mode in /settings.\n\n"
    "/settings — confidence threshold, which classes to count, auto mode\n"
    "/model — which detection model this chat uses\n"
    "/history — your last 10 detections\n"
    "/feedback — send a message to the people running this bot\n"
    "/forget — delete everything I stored about you\n"
    "/stats — usage statistics (admins only)"
)


async def help_command(update: Update, context: Context) -> None:
    if update.effective_message is not None:
        await reply_text(context.bot, update.effective_message, HELP_TEXT)
