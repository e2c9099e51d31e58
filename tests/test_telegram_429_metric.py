"""Every 429 Telegram answers is counted in detectx_telegram_rate_limited_total, by method, also
when the rate limiter's retry then succeeds (the alert "429s from Telegram" reads it)."""

from __future__ import annotations

from pathlib import Path

from tests.support.bot_fixtures import RunningBot

USER = 5_000_000_429


async def test_a_429_on_send_photo_is_counted_and_the_reply_still_arrives(
    running_bot: RunningBot, photos_dir: Path
) -> None:
    api = running_bot.api
    api.fail_next("sendPhoto", 429, retry_after=1)
    api.fail_next("sendChatAction", 429, retry_after=1)
    photo = (photos_dir / "cat_chelsea.jpg").read_bytes()

    reply = await running_bot.send(api.private_photo_update(USER, photo), "sendPhoto")

    assert reply.chat_id == USER
    registry = running_bot.services.metrics.registry
    sample = registry.get_sample_value
    assert sample("detectx_telegram_rate_limited_total", {"method": "sendPhoto"}) == 1
    assert sample("detectx_telegram_rate_limited_total", {"method": "sendChatAction"}) == 1
    assert sample("detectx_telegram_rate_limited_total", {"method": "sendMessage"}) is None
