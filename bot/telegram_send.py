"""Sending to Telegram: replying to a message, and sends retried through network errors."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from telegram import Bot, Message, ReplyParameters
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError

if TYPE_CHECKING:
    from bot.services import Services

logger = logging.getLogger(__name__)

T = TypeVar("T")

SEND_ATTEMPTS = 3
SEND_BACKOFF_S = 0.5


def reply_parameters(message: Message) -> ReplyParameters:
    return ReplyParameters(message_id=message.message_id, allow_sending_without_reply=True)


async def reply_text(bot: Bot, message: Message, text: str, **kwargs: Any) -> Message | None:
    """Answer `message` in its chat as a reply; errors are logged, never raised."""
    try:
        return await bot.send_message(
            message.chat_id, text, reply_parameters=reply_parameters(message), **kwargs
        )
    except TelegramError:
        logger.warning("could not reply in chat %s", message.chat_id, exc_info=True)
        return None


async def send_with_retry(
    send: Callable[[], Awaitable[T]], *, what: str, services: Services
) -> T | None:
    """Send, retrying network errors and Telegram 5xx with backoff; None when it gave up.

    429 is retried by the application's AIORateLimiter (it waits `retry_after`); a 400/403 is
    not going to change on retry, so it is logged once.
    """
    for attempt in range(1, SEND_ATTEMPTS + 1):
        try:
            return await send()
        except (BadRequest, Forbidden) as exc:
            logger.error("%s refused by Telegram: %s", what, exc)
            services.metrics.errors.labels(kind="telegram_refused").inc()
            return None
        except RetryAfter as exc:
            logger.error("%s: still rate limited after retries (%s)", what, exc)
            services.metrics.errors.labels(kind="telegram_rate_limited").inc()
            return None
        except NetworkError as exc:
            if attempt == SEND_ATTEMPTS:
                logger.error("%s failed %d times, giving up: %s", what, attempt, exc)
                services.metrics.errors.labels(kind="telegram_send").inc()
                return None
            delay = SEND_BACKOFF_S * 2 ** (attempt - 1)
            logger.warning("%s failed (%s); retry %d in %.1f s", what, exc, attempt, delay)
            await asyncio.sleep(delay)
    return None
