"""The database down for 10 s under load (real process, MariaDB behind a proxy that goes away):
the webhook answers 503 meanwhile, every photo Telegram posts again afterwards is answered, and
nothing is answered twice."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.support.botapi_standin import BotApiStandIn, JSONDict
from tests.support.replicas import client_session, cluster, replica_env, replies_by_message
from tests.support.tcp_proxy import TcpProxy
from tests.support.tfserving_standin import TFServingStandIn

pytestmark = pytest.mark.parametrize("database_url", ["mariadb"], indirect=True)

USER = 5_000_003_001
OUTAGE_S = 10.0


async def test_webhook_answers_503_while_the_database_is_down_and_loses_nothing(
    botapi: BotApiStandIn,
    tfserving_standin: TFServingStandIn,
    database_url: str,
    photos_dir: Path,
    tmp_path: Path,
) -> None:
    photo = (photos_dir / "cat_chelsea.jpg").read_bytes()
    url = make_url(database_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 3306)
    await proxy.up()
    proxied = url.set(port=proxy.port).render_as_string(hide_password=False)
    env = replica_env(botapi, tfserving_standin, proxied, DB_TIMEOUT_S="2")
    statuses: dict[int, list[int]] = {}
    updates: list[JSONDict] = []
    async with cluster(env, tmp_path) as bots, client_session() as session:
        bot = await bots.start()

        async def post(update: JSONDict) -> int:
            status = await bot.post(update, session)
            statuses.setdefault(update["update_id"], []).append(status)
            return status

        for _ in range(3):
            updates.append(botapi.push_update(botapi.private_photo_update(USER, photo)))
            assert await post(updates[-1]) == 200
        await botapi.wait_for("sendPhoto", 3, timeout=60)

        await proxy.down()
        outage_end = time.monotonic() + OUTAGE_S
        during: list[int] = []
        while time.monotonic() < outage_end:
            updates.append(botapi.push_update(botapi.private_photo_update(USER + 1, photo)))
            during.append(await post(updates[-1]))
            await asyncio.sleep(0.5)
        await proxy.up()

        deadline = time.monotonic() + 60
        for update in updates:
            while statuses[update["update_id"]][-1] != 200:
                assert time.monotonic() < deadline, "the bot never took the update again"
                await asyncio.sleep(0.5)
                await post(update)
        await _until_answered(botapi, updates)
        await botapi.wait_idle(quiet=1.0)
        await proxy.down()

    print(f"\nduring the outage: {len(during)} posts, statuses {sorted(set(during))}")
    assert during and all(status == 503 for status in during)
    answers = replies_by_message(botapi)
    for update in updates:
        key = (update["message"]["chat"]["id"], update["message"]["message_id"])
        assert answers.get(key) == 1, (key, answers.get(key))


async def _until_answered(api: BotApiStandIn, updates: list[JSONDict]) -> None:
    keys = {(u["message"]["chat"]["id"], u["message"]["message_id"]) for u in updates}
    deadline = time.monotonic() + 60
    while not keys <= set(replies_by_message(api)):
        assert time.monotonic() < deadline, keys - set(replies_by_message(api))
        await asyncio.sleep(0.1)
