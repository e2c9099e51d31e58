"""The flood limiter holds messages to Telegram's rate, and lets calls that send none through."""

from __future__ import annotations

import asyncio

import pytest
from telegram.constants import ChatAction
from telegram.error import RetryAfter
from telegram.ext import ExtBot

from bot.limits.telegram_flood import MessageRateLimiter
from tests.support.botapi_standin import BotApiStandIn

CHAT_ID = 4242


def make_bot(api: BotApiStandIn, limiter: MessageRateLimiter) -> ExtBot[int]:
    api.private_chat(CHAT_ID)
    return ExtBot(
        api.token,
        base_url=f"{api.url}/bot",
        base_file_url=f"{api.url}/file/bot",
        rate_limiter=limiter,
    )


async def test_chat_action_is_not_held_behind_a_saturated_flood_limit(
    botapi: BotApiStandIn,
) -> None:
    limiter = MessageRateLimiter(overall_max_rate=1, overall_time_period=2, max_retries=0)
    async with make_bot(botapi, limiter) as bot:
        await bot.send_message(CHAT_ID, "first")
        queued = asyncio.create_task(bot.send_message(CHAT_ID, "second"))
        await asyncio.sleep(0.05)
        assert not queued.done(), "the flood limit should hold the second message"
        assert await asyncio.wait_for(bot.send_chat_action(CHAT_ID, ChatAction.UPLOAD_PHOTO), 1)
        assert not queued.done()
        second = await asyncio.wait_for(queued, 10)

    methods = [c.method for c in botapi.calls if c.method != "getMe"]
    assert methods == ["sendMessage", "sendChatAction", "sendMessage"]
    assert second.text == "second"


async def test_retry_after_on_an_exempt_call_reaches_the_caller(botapi: BotApiStandIn) -> None:
    botapi.fail_next("sendChatAction", 429, retry_after=5)
    limiter = MessageRateLimiter(overall_max_rate=30, overall_time_period=1, max_retries=3)
    async with make_bot(botapi, limiter) as bot:
        with pytest.raises(RetryAfter):
            await asyncio.wait_for(bot.send_chat_action(CHAT_ID, ChatAction.TYPING), 2)
        assert (await bot.send_message(CHAT_ID, "still works")).text == "still works"
