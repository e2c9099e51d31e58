"""python-telegram-bot's flood limiter, applied to messages only.

Telegram's flood limits (about 30 messages/s overall, 20/min per group) count messages sent.
PTB's `AIORateLimiter` counts every call that names a chat, so a burst of photos spends half of
the 30/s on "uploading photo…" chat actions, and each reply waits behind its own chat action.
Calls that send no message skip the limiter; a 429 on one of them still reaches the caller as
`RetryAfter`. Every 429 Telegram answers, retried or not, is reported to `on_rate_limited`.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from telegram.error import RetryAfter
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

    def __init__(
        self, *, on_rate_limited: Callable[[str], None] | None = None, **limits: Any
    ) -> None:
        super().__init__(**limits)
        self._on_rate_limited = on_rate_limited

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | JSONDict | list[JSONDict]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> bool | JSONDict | list[JSONDict]:
        async def reported(*call_args: Any, **call_kwargs: Any) -> bool | JSONDict | list[JSONDict]:
            try:
                return await callback(*call_args, **call_kwargs)
            except RetryAfter:
                if self._on_rate_limited is not None:
                    self._on_rate_limited(endpoint)
                raise

        if endpoint in NOT_MESSAGES:
            return await reported(*args, **kwargs)
        return await super().process_request(
            reported, args, kwargs, endpoint, data, rate_limit_args
        )
