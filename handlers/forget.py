"""/forget: ask for confirmation, then delete every row stored about the person."""

from __future__ import annotations

import re

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update

from bot.database_errors import database_error
from bot.i18n import N_
from bot.identity import requester_of
from bot.telegram_send import reply_text
from handlers.common import Context, get_services
from handlers.language import update_translator

CALLBACK_PREFIX = "forget"
FORGET_PATTERN = re.compile(rf"^{CALLBACK_PREFIX}:(yes|no):(\d+)$")

CONFIRM_TEXT = N_(
    "This deletes everything I stored about you: your detections, ratings and feedback. "
    "It cannot be undone. Delete?"
)
DONE_TEXT = N_("Done: I deleted everything I stored about you.")
KEPT_TEXT = N_("Okay, nothing was deleted.")
NOT_YOURS_TEXT = N_("Only the person who asked can confirm this.")
SHARED_ACCOUNT_TEXT = N_(
    "You are writing anonymously or as a channel, an account Telegram shares with others. "
    "Send /forget from your own account."
)
FAILED_TEXT = N_("Sorry, I couldn't delete your data right now. Please try again later.")


async def forget_command(update: Update, context: Context) -> None:
    message = update.effective_message
    user = update.effective_user
    if message is None or user is None:
        return
    tr = await update_translator(update, context)
    requester = requester_of(message)
    if requester is not None and requester.is_shared_account:
        await reply_text(context.bot, message, tr.gettext(SHARED_ACCOUNT_TEXT))
        return
    keyboard = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    tr.gettext("Delete my data"), callback_data=f"{CALLBACK_PREFIX}:yes:{user.id}"
                ),
                InlineKeyboardButton(
                    tr.gettext("Cancel"), callback_data=f"{CALLBACK_PREFIX}:no:{user.id}"
                ),
            ]
        ]
    )
    await reply_text(context.bot, message, tr.gettext(CONFIRM_TEXT), reply_markup=keyboard)


async def forget_button(update: Update, context: Context) -> None:
    query = update.callback_query
    if query is None or query.data is None:
        return
    match = FORGET_PATTERN.match(query.data)
    if match is None:
        await query.answer()
        return
    tr = await update_translator(update, context)
    if int(match.group(2)) != query.from_user.id:
        await query.answer(tr.gettext(NOT_YOURS_TEXT), show_alert=True)
        return
    if match.group(1) == "no":
        await query.answer()
        await query.edit_message_text(tr.gettext(KEPT_TEXT))
        return
    services = get_services(context)
    try:
        await services.repository.people.forget(query.from_user.id)
    except Exception:
        database_error(services, "forget_user")
        await query.answer(tr.gettext(FAILED_TEXT), show_alert=True)
        return
    await query.answer()
    await query.edit_message_text(tr.gettext(DONE_TEXT))
