"""The bot's HTTP server in webhook mode: the real runner, Application and services in this process,
talking to the Bot API stand-in and the TF Serving stand-in, on SQLite and MariaDB."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from pydantic import SecretStr

from bot.config import Settings
from bot.runner import serve
from bot.server import HEALTH_CACHE_S
from bot.services import Services, create_services
from db.inbox import NewUpdate
from tests.support.botapi_standin import BotApiStandIn
from tests.support.sql import fetch
from tests.support.tfserving_standin import TFServingStandIn

SECRET = "s3cret-token_for-tests"
USER = 424_242_424_242
WAIT_S = 30.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RunningBot:
    settings: Settings
    services: Services

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.listen_port}"

    @property
    def webhook_url(self) -> str:
        assert self.settings.webhook_url is not None
        return self.settings.webhook_url


@asynccontextmanager
async def running_webhook_bot(settings: Settings) -> AsyncIterator[RunningBot]:
    """`bot.runner.serve` in webhook mode on a free port, stopped as SIGTERM would stop it."""
    port = _free_port()
    settings = settings.model_copy(
        update={
            "listen_host": "127.0.0.1",
            "listen_port": port,
            "webhook_url": f"http://127.0.0.1:{port}{settings.webhook_path}",
        }
    )
    services = await create_services(settings)
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(serve(settings, services, stop, ready=ready))
    try:
        waiter = asyncio.create_task(ready.wait())
        await asyncio.wait({task, waiter}, timeout=WAIT_S, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if task.done():
            task.result()
        assert ready.is_set(), "the bot did not start"
        yield RunningBot(settings, services)
    finally:
        stop.set()
        try:
            await asyncio.wait_for(task, WAIT_S)
        finally:
            await services.close()


@pytest.fixture
def edge_settings(
    botapi: BotApiStandIn, database_url: str, tfserving_standin: TFServingStandIn
) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        telegram_bot_token=SecretStr(botapi.token),
        telegram_api_url=botapi.url,
        database_url=database_url,
        tfserving_address=tfserving_standin.address,
        model_name=tfserving_standin.model_name,
        webhook_secret=SecretStr(SECRET),
        tfserving_timeout_s=5.0,
        tfserving_retries=1,
        log_level="DEBUG",
    )


@pytest.fixture
def photo(photos_dir: Path) -> bytes:
    return (photos_dir / "cat_chelsea.jpg").read_bytes()


async def _post(url: str, body: bytes, headers: dict[str, str]) -> int:
    timeout = aiohttp.ClientTimeout(total=10)
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        session.post(url, data=body, headers=headers) as response,
    ):
        return response.status


async def _get(url: str) -> tuple[int, str, Any]:
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(timeout=timeout) as session, session.get(url) as response:
        body = await response.text()
        data = await response.json() if response.content_type == "application/json" else None
        return response.status, response.headers["Content-Type"], data if data is not None else body


async def test_webhook_acknowledges_a_photo_at_once_and_replies_with_the_detection(
    botapi: BotApiStandIn,
    edge_settings: Settings,
    tfserving_standin: TFServingStandIn,
    photo: bytes,
    real_model: bool,
) -> None:
    tfserving_standin.latency_s = 1.0
    async with running_webhook_bot(edge_settings):
        assert botapi.webhook is not None
        update = botapi.private_photo_update(USER, photo)

        status = await botapi.deliver_webhook(update)

        assert status == 200
        assert botapi.calls_to("sendPhoto") == [], "the webhook waited for the detection"
        (reply,) = await botapi.wait_for("sendPhoto", timeout=WAIT_S)
        assert reply.chat_id == USER
        assert reply.reply_to == update["message"]["message_id"]
        if real_model:
            assert reply.params["caption"] == "1 × cat (1 object)"
        rows = await fetch(
            edge_settings.database_url,
            "SELECT user_id, chat_id, message_id, status FROM detections",
        )
        assert rows == [(USER, USER, update["message"]["message_id"], "ok")]


@pytest.mark.parametrize("secret", [None, "wrong-secret"], ids=["missing", "wrong"])
async def test_webhook_refuses_a_request_without_the_right_secret_and_processes_nothing(
    botapi: BotApiStandIn, edge_settings: Settings, photo: bytes, secret: str | None
) -> None:
    async with running_webhook_bot(edge_settings) as bot:
        update = botapi.private_photo_update(USER, photo)
        update["update_id"] = 900_000_001
        headers = {"Content-Type": "application/json"}
        if secret is not None:
            headers["X-Telegram-Bot-Api-Secret-Token"] = secret
        status = await _post(bot.webhook_url, json.dumps(update).encode(), headers)

        assert status == 403
        await botapi.wait_idle(quiet=1.0)
        assert [c.method for c in botapi.calls if c.method.startswith("send")] == []
        url = edge_settings.database_url
        assert await fetch(url, "SELECT id FROM detections") == []
        assert await fetch(url, "SELECT id FROM users") == []
        assert await fetch(url, "SELECT update_id FROM inbox") == []

        assert await botapi.deliver_webhook(update) == 200
        await botapi.wait_for("sendPhoto", timeout=WAIT_S)


DEEPLY_NESTED = b'{"update_id": 1, "message": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[1, 2]",
        b'{"no_update_id": true}',
        b'{"update_id": 1, "message": 5}',
        b'{"update_id": "one"}',
        b'{"update_id": 1, "message": {"message_id": 1, "date": 0, "chat": 7}}',
        DEEPLY_NESTED,
        b"\xff\xfe",
    ],
    ids=[
        "not-json",
        "array",
        "no-update-id",
        "message-is-a-number",
        "update-id-is-text",
        "chat-is-a-number",
        "deeply-nested",
        "not-utf8",
    ],
)
async def test_webhook_answers_400_to_a_body_that_is_not_an_update(
    botapi: BotApiStandIn, edge_settings: Settings, body: bytes
) -> None:
    async with running_webhook_bot(edge_settings) as bot:
        headers = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": SECRET}

        assert await _post(bot.webhook_url, body, headers) == 400

        await botapi.wait_idle(quiet=0.5)
        assert [c.method for c in botapi.calls if c.method.startswith("send")] == []
        assert await fetch(edge_settings.database_url, "SELECT update_id FROM inbox") == []


async def test_the_same_update_posted_twice_is_answered_once(
    botapi: BotApiStandIn, edge_settings: Settings, photo: bytes
) -> None:
    async with running_webhook_bot(edge_settings) as bot:
        update = botapi.private_photo_update(USER, photo)

        first = await botapi.deliver_webhook(update)
        second = await botapi.deliver_webhook(dict(update))

        assert (first, second) == (200, 200)
        await botapi.wait_for("sendPhoto", timeout=WAIT_S)
        await botapi.wait_idle(quiet=1.0)
        assert len(botapi.calls_to("sendPhoto")) == 1
        assert len(await fetch(edge_settings.database_url, "SELECT id FROM detections")) == 1
        _, _, metrics = await _get(f"{bot.base_url}/metrics")
        assert "detectx_duplicate_updates_total 1.0" in metrics


async def test_an_update_redelivered_after_a_restart_is_not_answered_again(
    botapi: BotApiStandIn, edge_settings: Settings, photo: bytes
) -> None:
    update = botapi.private_photo_update(USER, photo)
    async with running_webhook_bot(edge_settings):
        assert await botapi.deliver_webhook(update) == 200
        await botapi.wait_for("sendPhoto", timeout=WAIT_S)

    async with running_webhook_bot(edge_settings):
        assert await botapi.deliver_webhook(dict(update)) == 200
        await botapi.wait_idle(quiet=1.0)

    assert len(botapi.calls_to("sendPhoto")) == 1
    assert len(await fetch(edge_settings.database_url, "SELECT id FROM detections")) == 1


async def test_healthz_is_200_when_database_and_detector_are_up_and_503_without_the_detector(
    edge_settings: Settings, tfserving_standin: TFServingStandIn
) -> None:
    async with running_webhook_bot(edge_settings) as bot:
        status, _, health = await _get(f"{bot.base_url}/healthz")
        assert status == 200
        assert health["database"] == "up"
        assert health["detector"] == "up"
        assert health["model"]

        await tfserving_standin.stop()
        await asyncio.sleep(HEALTH_CACHE_S)
        status, _, health = await _get(f"{bot.base_url}/healthz")
        assert status == 503
        assert (health["database"], health["detector"]) == ("up", "down")

        await tfserving_standin.start()
        deadline = asyncio.get_running_loop().time() + WAIT_S
        while status != 200 and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.2)
            status, _, health = await _get(f"{bot.base_url}/healthz")
        assert status == 200, "the detector did not come back after TF Serving restarted"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_healthz_is_503_and_names_the_database_when_it_is_down(
    edge_settings: Settings,
) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        settings = edge_settings.model_copy(
            update={"database_url": f"mysql+aiomysql://bot:pw@127.0.0.1:{port}/detectbot"}
        )
        async with running_webhook_bot(settings) as bot:
            status, _, health = await _get(f"{bot.base_url}/healthz")

    assert status == 503
    assert (health["database"], health["detector"]) == ("down", "up")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_webhook_answers_503_while_the_database_cannot_store_the_update(
    botapi: BotApiStandIn, edge_settings: Settings, photo: bytes
) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        settings = edge_settings.model_copy(
            update={"database_url": f"mysql+aiomysql://bot:pw@127.0.0.1:{port}/detectbot"}
        )
        async with running_webhook_bot(settings) as bot:
            update = botapi.private_photo_update(USER, photo)
            statuses = [await botapi.deliver_webhook(update) for _ in range(3)]
            _, _, metrics = await _get(f"{bot.base_url}/metrics")

    assert statuses == [503, 503, 503]
    assert "detectx_webhook_refused_total 3.0" in metrics
    assert botapi.calls_to("sendPhoto") == []


async def test_healthz_reports_the_inbox_backlog_and_the_oldest_pending_age(
    botapi: BotApiStandIn, edge_settings: Settings
) -> None:
    async with running_webhook_bot(edge_settings) as bot:
        _, _, health = await _get(f"{bot.base_url}/healthz")
        assert (health["backlog"], health["oldest_pending_s"]) == (0, None)
        await bot.services.repository.inbox.store([NewUpdate(1, '{"update_id": 1}', None, None)])
        await bot.services.repository.inbox.store([NewUpdate(2, '{"update_id": 2}', None, None)])
        await bot.services.repository.work_claims.claim("elsewhere", 1, 60)
        await asyncio.sleep(HEALTH_CACHE_S)
        _, _, health = await _get(f"{bot.base_url}/healthz")
        _, _, metrics = await _get(f"{bot.base_url}/metrics")

    assert health["backlog"] >= 1
    assert health["oldest_pending_s"] >= 0
    assert "detectx_inbox_backlog" in metrics


async def test_a_flood_of_health_probes_costs_one_check(edge_settings: Settings) -> None:
    async with running_webhook_bot(edge_settings) as bot:
        calls = 0
        real_health = bot.services.health

        async def counted() -> dict[str, object]:
            nonlocal calls
            calls += 1
            return await real_health()

        bot.services.health = counted  # type: ignore[method-assign]
        await asyncio.sleep(HEALTH_CACHE_S)
        answers = await asyncio.gather(*(_get(f"{bot.base_url}/healthz") for _ in range(50)))

    assert {status for status, _, _ in answers} == {200}
    assert calls == 1


async def test_metrics_expose_detectx_series_and_count_a_detection(
    botapi: BotApiStandIn, edge_settings: Settings, photo: bytes
) -> None:
    async with running_webhook_bot(edge_settings) as bot:
        status, content_type, before = await _get(f"{bot.base_url}/metrics")
        assert status == 200
        assert content_type.startswith("text/plain")
        assert 'detectx_detections_total{status="ok"}' not in before

        assert await botapi.deliver_webhook(botapi.private_photo_update(USER, photo)) == 200
        await botapi.wait_for("sendPhoto", timeout=WAIT_S)
        await botapi.wait_idle(quiet=0.5)

        _, _, after = await _get(f"{bot.base_url}/metrics")
        assert 'detectx_detections_total{status="ok"} 1.0' in after
        assert "detectx_inference_seconds_count 1.0" in after
        assert "detectx_detection_seconds_count 1.0" in after
        assert 'detectx_updates_total{type="message"} 1.0' in after
        assert "detectx_detections_in_flight 0.0" in after
        assert "detectx_detection_queue_length 0.0" in after
