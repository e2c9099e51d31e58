"""The probes the Kubernetes manifests use: `/healthz?probe=live` says only that the server
answers, `/healthz?probe=ready` that updates can be stored; plain /healthz keeps the contract."""

from __future__ import annotations

import asyncio
import socket

import aiohttp
from pydantic import SecretStr

from bot.config import Settings
from bot.server import HEALTH_CACHE_S
from tests.support.botapi_standin import BotApiStandIn
from tests.support.tfserving_standin import TFServingStandIn
from tests.test_server import running_webhook_bot


def _settings(botapi: BotApiStandIn, database_url: str, tfserving: TFServingStandIn) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        telegram_bot_token=SecretStr(botapi.token),
        telegram_api_url=botapi.url,
        database_url=database_url,
        tfserving_address=tfserving.address,
        model_name=tfserving.model_name,
        tfserving_timeout_s=2.0,
        tfserving_retries=1,
    )


async def _status(base_url: str, path: str) -> int:
    timeout = aiohttp.ClientTimeout(total=10)
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        session.get(base_url + path) as response,
    ):
        return response.status


async def _status_within(base_url: str, path: str, wanted: int, timeout_s: float) -> int:
    """The status of `path` once it is `wanted`, or the last one seen after `timeout_s`: /healthz
    answers from a short cache, so a change shows after at most HEALTH_CACHE_S."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        status = await _status(base_url, path)
        if status == wanted or asyncio.get_running_loop().time() > deadline:
            return status
        await asyncio.sleep(0.2)


async def test_with_tf_serving_down_the_bot_stays_live_and_ready_while_healthz_says_503(
    botapi: BotApiStandIn, database_url: str, tfserving_standin: TFServingStandIn
) -> None:
    async with running_webhook_bot(_settings(botapi, database_url, tfserving_standin)) as bot:
        for path in ("/healthz", "/healthz?probe=live", "/healthz?probe=ready"):
            assert await _status(bot.base_url, path) == 200, path

        await tfserving_standin.stop()

        assert await _status_within(bot.base_url, "/healthz", 503, HEALTH_CACHE_S + 3.0) == 503
        assert await _status(bot.base_url, "/healthz?probe=live") == 200
        assert await _status(bot.base_url, "/healthz?probe=ready") == 200


async def test_with_the_database_down_the_bot_is_live_but_not_ready(
    botapi: BotApiStandIn, tfserving_standin: TFServingStandIn
) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as closed:
        closed.bind(("127.0.0.1", 0))
        url = f"mysql+aiomysql://bot:pw@127.0.0.1:{closed.getsockname()[1]}/detectbot"
        async with running_webhook_bot(_settings(botapi, url, tfserving_standin)) as bot:
            assert await _status(bot.base_url, "/healthz?probe=live") == 200
            assert await _status(bot.base_url, "/healthz?probe=ready") == 503
            assert await _status(bot.base_url, "/healthz") == 503
