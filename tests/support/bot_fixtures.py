"""Bot fixtures: the Bot API stand-in, settings for a test bot, and the real Application running in
polling mode against the stand-in (TF Serving stand-in with the real model, a fresh database):
polled updates go to the inbox and the bot's worker handles them, as in `detectbot run`."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from bot.app import AnyApplication, build_application
from bot.config import Settings
from bot.inbox import to_new_update
from bot.polling import Poller
from bot.rating_buttons import parse_rating_data, rating_key
from bot.services import Services, create_services
from bot.worker import Worker
from db.repository import Repository
from tests.support.botapi_standin import ApiCall, BotApiStandIn, JSONDict
from tests.support.tfserving_standin import TFServingStandIn

ADMIN_ID = 9_000_000_001
POLL_TIMEOUT_S = 1


@dataclass
class RunningBot:
    """A started bot and the stand-in it talks to."""

    application: AnyApplication
    services: Services
    api: BotApiStandIn
    settings: Settings
    worker: Worker
    poller: Poller

    @property
    def repository(self) -> Repository:
        return self.services.repository

    def push(self, update: JSONDict) -> JSONDict:
        return self.api.push_update(update)

    async def deliver_directly(self, update: JSONDict) -> None:
        """Store an update as the webhook server does (no getUpdates offset): how Telegram's
        redelivery of an unacknowledged update reaches the bot."""
        row, _ = to_new_update(json.loads(json.dumps(update)), self.application.bot)
        if await self.repository.inbox.store([row]):
            self.worker.wake()
        else:
            self.services.metrics.duplicate_updates.inc()

    async def send(
        self,
        update: JSONDict,
        method: str,
        timeout: float = 30.0,  # noqa: ASYNC109
    ) -> ApiCall:
        """Push `update` and return the next successful `method` call the bot makes after it."""
        before = len([c for c in self.api.calls_to(method) if c.ok])
        self.api.push_update(update)
        calls = await self.api.wait_for(method, before + 1, timeout)
        return calls[before]

    def rated(self, call: ApiCall) -> list[tuple[int, int] | None]:
        """(detection id, rating) of each rating button `call` sent, read with the bot's key for
        the chat it went to (None: a button that would not count there)."""
        assert isinstance(call.chat_id, int)
        key = rating_key(self.settings)
        return [parse_rating_data(key, call.chat_id, data) for data in call.callback_data]

    async def wait_idle(self, timeout: float = 60.0) -> None:  # noqa: ASYNC109
        """Wait until the bot has fetched every pushed update, finished handling each, answered
        every album it holds and finished every detection; so what the stand-in recorded by
        then is everything the bot will ever do about those updates."""

        async def settle() -> None:
            while True:
                await self.api.wait_acknowledged()
                calls = len(self.api.calls)
                await self._worked_off()
                if not self.api.pending_updates and len(self.api.calls) == calls:
                    return

        await asyncio.wait_for(settle(), timeout)

    async def _worked_off(self) -> None:
        """Until the inbox holds nothing due, every album is answered and the worker is idle
        (a database that is down holds nothing the worker could take)."""
        repository = self.repository
        while True:
            try:
                due = await repository.inbox.due() + await repository.albums.unanswered()
                claiming = self.worker.claiming
            except Exception:
                due, claiming = 0, False
            if not due and not claiming and not self.worker.busy:
                return
            await asyncio.sleep(0.02)

    async def stop(self) -> None:
        application = self.application
        try:
            await self.poller.stop()
            await self.worker.stop(30)
            if application.running:
                await application.stop()
            await application.shutdown()
        finally:
            await self.services.close()


def make_bot_settings(
    api: BotApiStandIn, database_url: str, tfserving: TFServingStandIn, **overrides: Any
) -> Settings:
    values: dict[str, Any] = {
        "telegram_bot_token": api.token,
        "telegram_api_url": api.url,
        "database_url": database_url,
        "tfserving_address": tfserving.address,
        "model_name": tfserving.model_name,
        "model_signature": "serving_default",
        "label_map": None,
        "min_score": 0.5,
        "admin_ids": frozenset({ADMIN_ID}),
        "webhook_url": None,
        "listen_host": "127.0.0.1",
        "listen_port": 0,
        "tfserving_timeout_s": 10.0,
        "tfserving_retries": 1,
        "max_concurrent_detections": 4,
        "queue_notice_s": 5.0,
        "user_rate_limit_per_minute": 1000,
        "album_quiet_s": 0.4,
        "log_level": "INFO",
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
async def botapi() -> AsyncIterator[BotApiStandIn]:
    """A running Bot API stand-in on 127.0.0.1:<free port>."""
    api = BotApiStandIn()
    await api.start()
    yield api
    await api.stop()


@pytest.fixture
def bot_settings(
    botapi: BotApiStandIn, database_url: str, tfserving_standin: TFServingStandIn
) -> Settings:
    """Settings of a test bot: the stand-ins, the test database, ADMIN_ID as the only admin."""
    return make_bot_settings(botapi, database_url, tfserving_standin)


async def start_polling_bot(settings: Settings, api: BotApiStandIn) -> RunningBot:
    services = await create_services(settings)
    application = build_application(services, webhook=True)
    worker = Worker(application, services, idle_poll_s=0.05)
    poller = Poller(
        application.bot, services.repository.inbox, worker.wake, poll_timeout_s=POLL_TIMEOUT_S
    )
    bot = RunningBot(application, services, api, settings, worker, poller)
    try:
        await application.initialize()
        await application.start()
        await worker.start()
        await poller.start()
    except BaseException:
        await bot.stop()
        raise
    return bot


StartBot = Callable[..., Awaitable[RunningBot]]


@pytest.fixture
async def start_bot(bot_settings: Settings, botapi: BotApiStandIn) -> AsyncIterator[StartBot]:
    """Factory: `await start_bot(**setting_overrides)` starts a bot; all are stopped afterwards."""
    started: list[RunningBot] = []

    async def start(**overrides: Any) -> RunningBot:
        settings = bot_settings.model_copy(update=overrides) if overrides else bot_settings
        bot = await start_polling_bot(settings, botapi)
        started.append(bot)
        return bot

    yield start
    for bot in reversed(started):
        await asyncio.wait_for(bot.stop(), 30)


@pytest.fixture
async def running_bot(start_bot: StartBot) -> RunningBot:
    """The bot with the default test settings, polling the stand-in."""
    return await start_bot()
