"""Long polling while the database cannot store updates: the bot confirms nothing it has not
stored and handles nothing outside the inbox; once the database is back, every photo is answered
once. MariaDB goes away behind a proxy; SQLite has its write lock held by another connection."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.support.bot_fixtures import StartBot
from tests.support.botapi_standin import BotApiStandIn, JSONDict
from tests.support.db_locks import database_frozen
from tests.support.replicas import replies_by_message
from tests.support.sql import fetch
from tests.support.tcp_proxy import TcpProxy

USER = 5_000_004_001
OUTAGE_PHOTOS = 4
STORE_ATTEMPTS_S = 4.0
"""Long enough for the poller to fail to store the batch a few times (backoff 1 s, 2 s)."""


class DatabaseOutage:
    """The bot's way to its database, and a way to take the database away for a while."""

    def __init__(self, database_url: str) -> None:
        self._database_url = database_url
        self._proxy: TcpProxy | None = None
        self.url = database_url

    async def __aenter__(self) -> DatabaseOutage:
        url = make_url(self._database_url)
        if url.get_backend_name() != "sqlite":
            self._proxy = TcpProxy(url.host or "127.0.0.1", url.port or 3306)
            await self._proxy.up()
            self.url = url.set(port=self._proxy.port).render_as_string(hide_password=False)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._proxy is not None:
            await self._proxy.down()

    @asynccontextmanager
    async def down(self) -> AsyncIterator[None]:
        if self._proxy is None:
            async with database_frozen(self._database_url):
                yield
            return
        await self._proxy.down()
        try:
            yield
        finally:
            await self._proxy.up()


async def test_polling_during_a_database_outage_confirms_only_stored_updates_and_answers_once(
    start_bot: StartBot,
    database_url: str,
    photos_dir: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    photo = (photos_dir / "cat_chelsea.jpg").read_bytes()
    async with DatabaseOutage(database_url) as outage:
        bot = await start_bot(database_url=outage.url, db_timeout_s=1.0)
        api = bot.api
        before = [bot.push(api.private_photo_update(USER, photo))]
        await api.wait_for("sendPhoto", 1, timeout=60)
        await bot.wait_idle()

        with caplog.at_level(logging.WARNING, logger="bot.polling"):
            async with outage.down():
                polls_before = len(api.polls)
                during = [
                    bot.push(api.private_photo_update(USER + 1 + i % 2, photo))
                    for i in range(OUTAGE_PHOTOS)
                ]
                await _until_fetched(api, during[0]["update_id"])
                await asyncio.sleep(STORE_ATTEMPTS_S)
                answered_during = len(api.calls_to("sendPhoto"))
                offsets_during = [poll.offset for poll in api.polls[polls_before:]]
            await bot.wait_idle()

    first_unstored = during[0]["update_id"]
    assert answered_during == 1, "a photo was answered while it could not be stored"
    assert max(offsets_during) <= first_unstored, "getUpdates confirmed an unstored update"
    answers = replies_by_message(api)
    for update in before + during:
        assert answers.get(_key(update)) == 1, (_key(update), answers.get(_key(update)))
    stored = {row[0] for row in await fetch(database_url, "SELECT update_id FROM inbox")}
    for poll in api.polls:
        confirmed = {u["update_id"] for u in before + during if u["update_id"] < poll.offset}
        assert confirmed <= stored
    failures = [r for r in caplog.records if "cannot store" in r.getMessage()]
    assert len(failures) == 1, [r.getMessage() for r in failures]
    assert any("stored" in r.getMessage() and "failing" in r.getMessage() for r in caplog.records)


async def _until_fetched(api: BotApiStandIn, update_id: int) -> None:
    """Until a getUpdates answer carried `update_id` to the bot."""
    deadline = time.monotonic() + 30
    while not any(update_id in poll.update_ids for poll in api.polls):
        assert time.monotonic() < deadline, "the bot never fetched the update"
        await asyncio.sleep(0.02)


async def _until_store_failed(caplog: pytest.LogCaptureFixture) -> None:
    deadline = time.monotonic() + 30
    while not any("cannot store" in r.getMessage() for r in caplog.records):
        assert time.monotonic() < deadline, "storing never failed"
        await asyncio.sleep(0.02)


def _key(update: JSONDict) -> tuple[int, int]:
    return update["message"]["chat"]["id"], update["message"]["message_id"]


async def test_polling_stopped_during_a_database_outage_leaves_the_unstored_batch_to_telegram(
    start_bot: StartBot, database_url: str, photos_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    photo = (photos_dir / "cat_chelsea.jpg").read_bytes()
    async with DatabaseOutage(database_url) as outage:
        bot = await start_bot(database_url=outage.url, db_timeout_s=1.0)
        api = bot.api
        async with outage.down():
            with caplog.at_level(logging.WARNING, logger="bot.polling"):
                update = bot.push(api.private_photo_update(USER, photo))
                await _until_store_failed(caplog)
                await asyncio.wait_for(bot.poller.stop(), 15)
            assert api.pending_updates == 1
            assert max(poll.offset for poll in api.polls) <= update["update_id"]
    assert api.calls_to("sendPhoto") == []
