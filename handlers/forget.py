"""/forget: ask for confirmation, then delete every row stored about the person."""

from __future__ import annotations

import re

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update

from bot.identity import requester_of
from handlers.common import Context, database_error, get_services, reply_text

CALLBACK_PREFIX = "forget"
FORGET_PATTERN = re.compile(rf"^{CALLBACK_PREFIX}:(yes|no):(\d+)$")

CONFIRM_TEXT = (
    "This deletes everything I stored about you: your detections, ratings and feedback. "
    "It cannot be undone. Delete?"
)
DONE_TEXT = "Done: I deleted everything I stored about you."
KEPT_TEXT = "Okay, nothing was deleted."
NOT_YOURS_TEXT = "Only the person who asked can confirm this."
SHARED_ACCOUNT_TEXT = (
    "You are writing anonymously or as a channel, an account Telegram shares with others. "
    "Send /forget from your own account."
)
FAILED_TEXT = "Sorry, I couldn't delete your data right now. Please try again later."


async def forget_command(update: Update, context: Context) -> None:
    message = update.effective_message
    user = update.effective_user
    if message is None or user is None:
        return
    requester = requester_of(message)
    if requester is not None and requester.is_shared_account:
        await reply_text(context.bot, message, SHARED_ACCOUNT_TEXT)
        return
    keyboard = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    "Delete my data", callback_data=f"{CALLBACK_PREFIX}:yes:{user.id}"
                ),
                InlineKeyboardButton("Cancel", callback_data=f"{CALLBACK_PREFIX}:no:{user.id}"),
            ]
        ]
    )
    await reply_text(context.bot, message, CONFIRM_TEXT, reply_markup=keyboard)


async def forget_button(update: Update, context: Context) -> None:
    query = update.callback_query
    if query is None or query.data is None:
        return
    match = FORGET_PATTERN.match(query.data)
    if match is None:
        await query.answer()
        return
    if int(match.group(2)) != query.from_user.id:
        await query.answer(NOT_YOURS_TEXT, show_alert=True)
        return
    if match.group(1) == "no":
        await query.answer()
        await query.edit_message_text(KEPT_TEXT)
        return
    services = get_services(context)
    try:
        await services.repository.forget_user(query.from_user.id)
    except Exception:
        database_error(services, "forget_user")
        await query.answer(FAILED_TEXT, show_alert=True)
        return
    await query.answer()
    await query.edit_message_text(DONE_TEXT)
