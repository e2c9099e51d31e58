"""The python-telegram-bot `Application`: Bot API URLs, rate limiter, concurrency and every handler.

Handlers are registered here explicitly, one callback per feature module, as in PTB's examples.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from telegram import Update
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    TypeHandler,
    filters,
)
from telegram.request import BaseRequest

from bot.limits.telegram_flood import MessageRateLimiter
from bot.log_context import update_log_context
from bot.rating_buttons import RATE_PATTERN
from bot.services import Services
from bot.telegram_request import AiohttpRequest
from handlers import (
    detect_command,
    errors,
    fallback,
    feedback,
    forget,
    help,
    history,
    language,
    menu,
    model,
    photo,
    rating,
    settings,
    start,
    stats,
    updates,
)
from handlers.common import SERVICES_KEY

logger = logging.getLogger(__name__)

AnyApplication = Application[Any, Any, Any, Any, Any, Any]

CONCURRENT_UPDATES = 32
CONNECTION_POOL_SIZE = 64
OVERALL_MAX_RATE = 30
GROUP_MAX_RATE = 20
RATE_LIMIT_RETRIES = 3
POOL_TIMEOUT_S = 30.0
MEDIA_WRITE_TIMEOUT_S = 60.0
# How the bot talks to the Bot API; PTB's HTTPXRequest takes the same arguments (bench/e2e_bench
# runs both side by side).
REQUEST_CLASS: Callable[..., BaseRequest] = AiohttpRequest


class DetectXApplication(Application[Any, Any, Any, Any, Any, Any]):
    """Registers the bot's commands (setMyCommands) whenever it is initialized, and handles each
    update inside a log context naming the update and its chat.

    PTB calls `post_init` only from `run_polling`/`run_webhook`; the runner drives the
    application itself (`async with application`), so the hook lives in `initialize`.
    """

    async def initialize(self) -> None:
        already = self._initialized
        await super().initialize()
        if not already:
            await post_init(self)

    async def process_update(self, update: object) -> None:
        with update_log_context(update):
            await super().process_update(update)


async def post_init(application: AnyApplication) -> None:
    """Tell Telegram the command lists shown in clients' menus, one per language."""
    await menu.set_command_menus(application.bot)


def build_application(services: Services, *, webhook: bool) -> AnyApplication:
    """The application for `services`; `webhook=True` leaves out the polling updater."""
    settings = services.settings
    api = settings.telegram_api_url
    builder = (
        ApplicationBuilder()
        .application_class(DetectXApplication)
        .token(settings.bot_token)
        .base_url(f"{api}/bot")
        .base_file_url(f"{api}/file/bot")
        .rate_limiter(
            MessageRateLimiter(
                overall_max_rate=OVERALL_MAX_RATE,
                overall_time_period=1,
                group_max_rate=GROUP_MAX_RATE,
                group_time_period=60,
                max_retries=RATE_LIMIT_RETRIES,
                on_rate_limited=services.metrics.count_telegram_rate_limit,
            )
        )
        .concurrent_updates(CONCURRENT_UPDATES)
        .request(
            REQUEST_CLASS(
                connection_pool_size=CONNECTION_POOL_SIZE,
                pool_timeout=POOL_TIMEOUT_S,
                media_write_timeout=MEDIA_WRITE_TIMEOUT_S,
            )
        )
        .get_updates_request(REQUEST_CLASS(connection_pool_size=1))
    )
    if webhook:
        builder = builder.updater(None)
    application: AnyApplication = builder.build()
    application.bot_data[SERVICES_KEY] = services
    register_handlers(application)
    return application


def register_handlers(application: AnyApplication) -> None:
    application.add_handler(TypeHandler(Update, updates.track_update), group=-2)

    new = filters.UpdateType.MESSAGE
    application.add_handler(CommandHandler("start", start.start, filters=new))
    application.add_handler(CommandHandler("help", help.help_command, filters=new))
    for handler, group in feedback.feedback_handlers():
        application.add_handler(handler, group=group)
    application.add_handler(CommandHandler("detect", detect_command.detect_command, filters=new))
    application.add_handler(CommandHandler("settings", settings.settings_command, filters=new))
    application.add_handler(CommandHandler("history", history.history, filters=new))
    application.add_handler(CommandHandler("forget", forget.forget_command, filters=new))
    application.add_handler(CommandHandler("stats", stats.stats, filters=new))
    application.add_handler(CommandHandler("model", model.model_command, filters=new))
    application.add_handler(CallbackQueryHandler(model.model_button, pattern=model.MODEL_PATTERN))
    application.add_handler(CommandHandler("language", language.language_command, filters=new))

    application.add_handler(CallbackQueryHandler(rating.rate, pattern=RATE_PATTERN))
    application.add_handler(
        CallbackQueryHandler(settings.settings_button, pattern=rf"^{settings.CALLBACK_PREFIX}:")
    )
    application.add_handler(
        CallbackQueryHandler(forget.forget_button, pattern=forget.FORGET_PATTERN)
    )
    application.add_handler(
        CallbackQueryHandler(language.language_button, pattern=language.LANGUAGE_PATTERN)
    )

    application.add_handler(MessageHandler(photo.ALBUM_ITEM, photo.album_item))
    application.add_handler(MessageHandler(photo.PHOTO, photo.photo))
    application.add_handler(MessageHandler(fallback.PRIVATE_OTHER, fallback.other_message))

    application.add_error_handler(errors.on_error)
