"""python-telegram-bot's flood limiter, applied to messages only.

Telegram's flood limits (about 30 messages/s overall, 20/min per group) count messages sent.
PTB's `AIORateLimiter` counts every call that names a chat, so a burst of photos spends half of
the 30/s on "uploading photo…" chat actions, and each reply waits behind its own chat action.
Calls that send no message skip the limiter; a 429 on one of them still reaches the caller as
`RetryAfter`.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from telegram.ext import AIORateLimiter

JSONDict = dict[str, Any]

NOT_MESSAGES = frozenset(
    {
        "sendChatAction",
        "answerCallbackQuery",
        "getChatMember",
        "getChatAdministrators",
        "getUpdates",
        "getFile",
    }
)


class MessageRateLimiter(AIORateLimiter):
    """`AIORateLimiter` for messages; the Bot API methods in NOT_MESSAGES are sent at once."""

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | JSONDict | list[JSONDict]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> bool | JSONDict | list[JSONDict]:
        if endpoint in NOT_MESSAGES:
            return await callback(*args, **kwargs)
        return await super().process_request(
            callback, args, kwargs, endpoint, data, rate_limit_args
        )
