"""TF Serving up but without the model yet (its base dir still empty, or still loading).

TF Serving keeps its port open and answers NOT_FOUND "Servable not found". `detectbot run` must
keep running, say so once in its log and in /healthz (503), answer photos with the "detector
unavailable" reply, and serve as soon as the model appears.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path
from typing import Any, Literal

import aiohttp
import pytest

from tests.support.botapi_standin import BotApiStandIn
from tests.support.tfserving_standin import TFServingStandIn
from tests.test_runner import WAIT_S, BotProcess, _env, _free_port, bot_process

USER = 6_100_000_001
UNAVAILABLE_REPLY = "The detector is not reachable right now. Please try again in a minute."


async def _health_becomes(bot: BotProcess, status: int) -> dict[str, Any]:
    deadline = time.monotonic() + WAIT_S * 3
    code, body = 0, None
    while True:
        assert bot.process.returncode is None, f"the bot exited:\n{bot.stderr}"
        with contextlib.suppress(aiohttp.ClientConnectionError):
            code, body = await bot.get("/healthz")
        if code == status:
            assert isinstance(body, dict)
            return body
        assert time.monotonic() < deadline, f"/healthz stayed {code}: {body}"
        await asyncio.sleep(0.2)


@pytest.mark.parametrize("state", ["absent", "loading"])
async def test_bot_waits_for_the_model_says_so_and_serves_once_it_is_loaded(
    botapi: BotApiStandIn,
    tfserving_standin: TFServingStandIn,
    photos_dir: Path,
    tmp_path: Path,
    state: Literal["absent", "loading"],
) -> None:
    tfserving_standin.model_state = state
    env = _env(
        TELEGRAM_BOT_TOKEN=botapi.token,
        TELEGRAM_API_URL=botapi.url,
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'data' / 'bot.db'}",
        TFSERVING_ADDRESS=tfserving_standin.address,
        MODEL_NAME=tfserving_standin.model_name,
        LISTEN_HOST="127.0.0.1",
        LISTEN_PORT=str(_free_port()),
    )
    photo = await asyncio.to_thread((photos_dir / "cat_chelsea.jpg").read_bytes)
    async with bot_process(env, tmp_path) as bot:
        health = await _health_becomes(bot, 503)
        assert (health["database"], health["detector"]) == ("up", "down")

        first = botapi.push_update(botapi.private_photo_update(USER, photo))
        (refusal,) = await botapi.wait_for("sendMessage", timeout=WAIT_S)
        assert refusal.params["text"] == UNAVAILABLE_REPLY
        assert refusal.reply_to == first["message"]["message_id"]
        assert botapi.calls_to("sendPhoto") == []
        assert bot.process.returncode is None

        tfserving_standin.model_state = "available"
        await _health_becomes(bot, 200)
        second = botapi.push_update(botapi.private_photo_update(USER, photo))
        (reply,) = await botapi.wait_for("sendPhoto", timeout=WAIT_S)
        assert reply.reply_to == second["message"]["message_id"]
        assert "cat" in reply.params["caption"]
        assert await bot.terminate() == 0
    notices = [line for line in bot.stderr.splitlines() if "has no version of model" in line]
    assert len(notices) == 1, bot.stderr
    assert "'detector' (MODEL_NAME)" in notices[0]
