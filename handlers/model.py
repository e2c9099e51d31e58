"""/model: which of the served models this chat's photos go to, chosen with buttons.

Each button names a model and its median latency over its last calls in this process, as the bot
measured it. Anyone may look; in groups only administrators and the creator may choose.
Callback data: `mdl:<index>`, the index into MODEL_NAME's list.
"""

from __future__ import annotations

import logging

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest, TelegramError

from bot.database_errors import database_error
from bot.detection.models import ModelCatalog
from bot.i18n import N_, Translator
from bot.services import Services
from bot.telegram_send import reply_text
from handlers.common import Context, get_services, is_group_admin
from handlers.language import update_translator

logger = logging.getLogger(__name__)

CALLBACK_PREFIX = "mdl"
MODEL_PATTERN = rf"^{CALLBACK_PREFIX}:"
NOT_ADMIN_TEXT = N_("Only group admins can choose the model.")
UNAVAILABLE_TEXT = N_("The model choice is unavailable right now. Please try again later.")
IN_PROCESS_TEXT = N_("This bot runs its model in-process, so it serves one model: {model}.")
ONE_MODEL_TEXT = N_("This bot serves one model: {model}.")


def current_model(models: ModelCatalog, chosen: str | None) -> str:
    """The model the chat's photos go to: its choice while that model is served, else the
    default."""
    return chosen if chosen is not None and models.knows(chosen) else models.default


def latency_text(models: ModelCatalog, name: str, tr: Translator) -> str:
    median = models.median_latency_ms(name)
    if median is None:
        return tr.gettext("no photos yet")
    return tr.gettext("median {ms} ms").format(ms=tr.number(round(median)))


def model_text(models: ModelCatalog, chosen: str | None, tr: Translator) -> str:
    current = current_model(models, chosen)
    lines = [tr.gettext("Model for this chat: {model}").format(model=current), ""]
    for name in models.names:
        default = tr.gettext(" (default)") if name == models.default else ""
        lines.append(f"• {name}{default}: {latency_text(models, name, tr)}")
    return "\n".join(lines)


def model_keyboard(
    models: ModelCatalog, chosen: str | None, tr: Translator
) -> InlineKeyboardMarkup:
    current = current_model(models, chosen)
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    f"{'✓ ' if name == current else ''}{name} · {latency_text(models, name, tr)}",
                    callback_data=f"{CALLBACK_PREFIX}:{index}",
                )
            ]
            for index, name in enumerate(models.names)
        ]
    )


def single_model_text(services: Services, tr: Translator) -> str:
    template = IN_PROCESS_TEXT if not services.settings.tfserving_address else ONE_MODEL_TEXT
    return tr.gettext(template).format(model=services.models.default)


async def model_command(update: Update, context: Context) -> None:
    message = update.effective_message
    chat = update.effective_chat
    if message is None or chat is None:
        return
    services = get_services(context)
    models = services.models
    tr = await update_translator(update, context)
    if not models.choosable:
        await reply_text(context.bot, message, single_model_text(services, tr))
        return
    try:
        chat_settings = await services.repository.chat_settings.get(chat.id)
    except Exception:
        database_error(services, "get_chat_settings")
        await reply_text(context.bot, message, tr.gettext(UNAVAILABLE_TEXT))
        return
    await reply_text(
        context.bot,
        message,
        model_text(models, chat_settings.model_name, tr),
        reply_markup=model_keyboard(models, chat_settings.model_name, tr),
    )


def parse_model_data(data: str, models: ModelCatalog) -> str | None:
    """The model a button names, or None for data this bot never puts on a button."""
    prefix, _, index = data.partition(":")
    if prefix != CALLBACK_PREFIX or not index.isascii() or not index.isdigit() or len(index) > 3:
        return None
    number = int(index)
    return models.names[number] if number < len(models.names) else None


async def model_button(update: Update, context: Context) -> None:
    query = update.callback_query
    chat = update.effective_chat
    if query is None or query.data is None or chat is None or query.message is None:
        return
    services = get_services(context)
    models = services.models
    name = parse_model_data(query.data, models)
    if name is None:
        await query.answer()
        return
    tr = await update_translator(update, context)
    try:
        allowed = await is_group_admin(context.bot, chat, query.from_user)
    except TelegramError:
        logger.warning("getChatMember failed in chat %s", chat.id, exc_info=True)
        allowed = False
    if not allowed:
        await query.answer(tr.gettext(NOT_ADMIN_TEXT), show_alert=True)
        return
    chosen = None if name == models.default else name
    try:
        chat_settings = await services.repository.chat_settings.update(chat.id, model_name=chosen)
    except Exception:
        database_error(services, "update_chat_settings")
        await query.answer(tr.gettext(UNAVAILABLE_TEXT), show_alert=True)
        return
    await query.answer(tr.gettext("Model: {model}").format(model=name))
    try:
        await query.edit_message_text(
            model_text(models, chat_settings.model_name, tr),
            reply_markup=model_keyboard(models, chat_settings.model_name, tr),
        )
    except BadRequest as exc:
        if "not modified" not in str(exc):
            raise
