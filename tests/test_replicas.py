"""Several `detectbot run` processes on one MariaDB behave as one bot (real processes).

Updates are POSTed round-robin to the replicas' webhooks, as a load balancer spreads Telegram's
deliveries; the Bot API and TF Serving stand-ins run in the test process.
"""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.botapi_standin import BotApiStandIn
from tests.support.replicas import client_session, cluster, replica_env, replies_by_message
from tests.support.sql import fetch
from tests.support.tfserving_standin import TFServingStandIn

pytestmark = pytest.mark.parametrize("database_url", ["mariadb"], indirect=True)

USER = 5_000_000_901


@pytest.fixture
def photo(photos_dir: Path) -> bytes:
    return (photos_dir / "cat_chelsea.jpg").read_bytes()


async def test_three_replicas_answer_albums_copies_feedback_and_limits_as_one_bot(
    botapi: BotApiStandIn,
    tfserving_standin: TFServingStandIn,
    database_url: str,
    photo: bytes,
    tmp_path: Path,
) -> None:
    env = replica_env(botapi, tfserving_standin, database_url, USER_HOURLY_LIMIT="3")
    async with cluster(env, tmp_path) as bots, client_session() as session:
        await asyncio.gather(*(bots.start() for _ in range(3)))
        a, b, c = bots.replicas

        album = botapi.album_updates(USER, USER, [photo, photo, photo])
        for update in album:
            botapi.push_update(update)
        statuses = [await r.post(u, session) for r, u in zip((a, b, c), album, strict=True)]
        assert statuses == [200] * 3
        (group,) = await botapi.wait_for("sendMediaGroup", timeout=60)
        assert len(group.params["media"]) == 3

        single = botapi.push_update(botapi.private_photo_update(USER + 1, photo))
        both = await asyncio.gather(a.post(single, session), b.post(single, session))
        assert list(both) == [200, 200]

        ask = botapi.push_update(botapi.command_update(USER + 2, USER + 2, "/feedback"))
        answer = botapi.push_update(botapi.text_update(USER + 2, USER + 2, "replicas are fine"))
        assert await b.post(ask, session) == 200
        await _until_sent(botapi, USER + 2, 1)
        assert await c.post(answer, session) == 200
        await _until_sent(botapi, USER + 2, 2)

        capped = [
            botapi.push_update(botapi.private_photo_update(USER + 3, photo)) for _ in range(4)
        ]
        for replica, update in zip((a, b, c, a), capped, strict=True):
            assert await replica.post(update, session) == 200
            await _until_sent(botapi, USER + 3, capped.index(update) + 1, timeout=60)
        await botapi.wait_idle(quiet=1.5)

    assert replies_by_message(botapi, {USER + 1}) == {
        (USER + 1, single["message"]["message_id"]): 1
    }
    assert await fetch(database_url, "SELECT text FROM feedback") == [("replicas are fine",)]
    capped_calls = botapi.sent(USER + 3)
    assert [c.method for c in capped_calls] == ["sendPhoto"] * 3 + ["sendMessage"]
    assert "come back" in capped_calls[3].params["text"]
    assert len(botapi.calls_to("sendMediaGroup")) == 1


async def _until_sent(
    api: BotApiStandIn,
    chat_id: int,
    count: int,
    timeout: float = 30,  # noqa: ASYNC109
) -> None:
    deadline = time.monotonic() + timeout
    while len(api.sent(chat_id)) < count:
        assert time.monotonic() < deadline, f"chat {chat_id}: {count} answers not seen"
        await asyncio.sleep(0.05)


async def test_work_of_a_killed_replica_is_finished_by_the_others_within_60_s(
    botapi: BotApiStandIn,
    tfserving_standin: TFServingStandIn,
    database_url: str,
    photo: bytes,
    tmp_path: Path,
) -> None:
    env = replica_env(botapi, tfserving_standin, database_url, MAX_CONCURRENT_DETECTIONS="2")
    tfserving_standin.latency_s = 0.3
    async with cluster(env, tmp_path) as bots, client_session() as session:
        await asyncio.gather(*(bots.start() for _ in range(3)))
        victim = bots.replicas[0]
        updates = [botapi.private_photo_update(USER + i % 6, photo) for i in range(24)]
        for update in updates:
            botapi.push_update(update)
        statuses = await bots.post_round_robin(updates, session)
        assert statuses == [200] * len(updates)
        await botapi.wait_for("sendPhoto", 4, timeout=60)
        victim.kill()
        killed_at = time.monotonic()
        await botapi.wait_for("sendPhoto", len(updates), timeout=60)
        recovered_s = time.monotonic() - killed_at
        await botapi.wait_idle(quiet=1.0)
        takeovers = await _metric_sum(bots.alive(), "detectx_inbox_takeovers_total")

    answers = replies_by_message(botapi)
    wanted = {(u["message"]["chat"]["id"], u["message"]["message_id"]) for u in updates}
    print(
        f"\nkilled replica: all answered {recovered_s:.1f} s after kill -9; takeovers {takeovers}"
    )
    assert set(answers) == wanted
    assert recovered_s < 60
    twice = [key for key, n in answers.items() if n > 1]
    assert len(twice) <= 2, f"answered twice beyond the in-flight replies: {twice}"


async def _until_predicting(tfserving: TFServingStandIn) -> None:
    deadline = time.monotonic() + 30
    while tfserving.predicts_in_flight == 0:
        assert time.monotonic() < deadline, "no detection started"
        await asyncio.sleep(0.02)


async def _metric_sum(replicas: list[Any], name: str) -> float:
    total = 0.0
    async with client_session() as session:
        for replica in replicas:
            async with session.get(f"{replica.url}/metrics") as response:
                for line in (await response.text()).splitlines():
                    if line.startswith(name + " "):
                        total += float(line.split()[1])
    return total


async def test_graceful_sigterm_gives_back_work_not_started_to_another_replica_at_once(
    botapi: BotApiStandIn,
    tfserving_standin: TFServingStandIn,
    database_url: str,
    photo: bytes,
    tmp_path: Path,
) -> None:
    env = replica_env(
        botapi, tfserving_standin, database_url, INBOX_LEASE_S="60", MAX_CONCURRENT_DETECTIONS="1"
    )
    async with cluster(env, tmp_path) as bots, client_session() as session:
        leaving, staying = await asyncio.gather(
            bots.start(), bots.start(MAX_CONCURRENT_DETECTIONS="4")
        )
        tfserving_standin.latency_s = 3.0
        updates = [botapi.private_photo_update(USER + i, photo) for i in range(4)]
        for update in updates:
            botapi.push_update(update)
        assert await asyncio.gather(*(leaving.post(u, session) for u in updates)) == [200] * 4
        await _until_predicting(tfserving_standin)
        tfserving_standin.latency_s = 0.1
        started = time.monotonic()
        assert await leaving.terminate() == 0
        await botapi.wait_for("sendPhoto", 4, timeout=30)
        elapsed = time.monotonic() - started
        assert staying.alive

    print(f"\nSIGTERM: all 4 answered {elapsed:.1f} s after it (lease 60 s)")
    assert elapsed < 15, "the released work waited for its lease instead"
    assert re.search(r"released [1-3] updates", leaving.log), leaving.log
    assert set(replies_by_message(botapi).values()) == {1}
