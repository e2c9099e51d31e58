"""Inbox benchmark (not a test): the cost of durable intake, and the inbox's own throughput.

Run: `.venv/bin/python -m bench.inbox_bench [--seconds 60] [--rate 100] [--updates 3000]`.
Uses MariaDB (database `detectx_inbox_bench` on the server of DETECTX_TEST_MYSQL_URL, default
root@127.0.0.1:3306), created fresh.

1. Webhook ack latency, side by side in one run: two aiohttp servers in this process receive the
   same photo updates at `--rate` per second each for `--seconds`: one answers after the webhook's
   durable path (validate as an Update, `Inbox.store`, commit), the other after today's in-memory
   path (validate, put on an asyncio queue). p50 / p99 of POST → response, from the client.
2. Inbox alone: `--updates` updates stored one per transaction (as webhook calls do), then claimed
   and marked done by 1 and by 3 worker processes (claim batches of 8, one `done` per row):
   rows per second for store and for claim + done.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from typing import Any

import aiohttp
from aiohttp import web
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool
from telegram import Bot

from bot.inbox import parse_json, to_new_update
from db.inbox import Inbox, NewUpdate
from db.migrate import upgrade
from db.repository import Repository
from db.session import create_engine, create_sessionmaker

DEFAULT_URL = "mysql+aiomysql://root@127.0.0.1:3306/detectx_test?charset=utf8mb4"
DATABASE = "detectx_inbox_bench"
TOKEN = "123456:bench-token"


def bench_url() -> str:
    base = os.environ.get("DETECTX_TEST_MYSQL_URL", DEFAULT_URL)
    return make_url(base).set(database=DATABASE).render_as_string(hide_password=False)


async def fresh_database(url: str) -> None:
    admin = create_async_engine(make_url(url).set(database="mysql"), poolclass=NullPool)
    async with admin.connect() as conn:
        await conn.execute(text(f"DROP DATABASE IF EXISTS `{DATABASE}`"))
        await conn.execute(text(f"CREATE DATABASE `{DATABASE}` CHARACTER SET utf8mb4"))
    await admin.dispose()
    await upgrade(url)


def photo_update(update_id: int) -> dict[str, Any]:
    user = 1_000 + update_id % 50
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": 1_700_000_000,
            "chat": {"id": user, "type": "private", "first_name": "Bench"},
            "from": {"id": user, "is_bot": False, "first_name": "Bench"},
            "photo": [
                {
                    "file_id": f"f{update_id}",
                    "file_unique_id": f"u{update_id}",
                    "width": 90,
                    "height": 60,
                    "file_size": 2000,
                },
                {
                    "file_id": f"g{update_id}",
                    "file_unique_id": f"v{update_id}",
                    "width": 1280,
                    "height": 960,
                    "file_size": 150000,
                },
            ],
        },
    }


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def ack_latency(url: str, seconds: float, rate: float) -> dict[str, list[float]]:
    engine = create_engine(url)
    inbox = Repository(create_sessionmaker(engine), wait_timeout_s=5).inbox
    bot = Bot(TOKEN)
    queue: asyncio.Queue[Any] = asyncio.Queue()

    async def durable(request: web.Request) -> web.Response:
        row, _ = to_new_update(parse_json(await request.read()), bot)
        await inbox.store([row])
        return web.Response()

    async def in_memory(request: web.Request) -> web.Response:
        _, update = to_new_update(parse_json(await request.read()), bot)
        await queue.put(update)
        return web.Response()

    runners = []
    ports = {}
    for name, handler in (("durable", durable), ("in-memory", in_memory)):
        app = web.Application()
        app.router.add_post("/telegram", handler)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        ports[name] = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        runners.append(runner)
    latencies: dict[str, list[float]] = {name: [] for name in ports}
    async with aiohttp.ClientSession() as session:

        async def post(name: str, update_id: int) -> None:
            body = json.dumps(photo_update(update_id)).encode()
            started = time.perf_counter()
            async with session.post(
                f"http://127.0.0.1:{ports[name]}/telegram", data=body
            ) as response:
                await response.read()
                assert response.status == 200
            latencies[name].append((time.perf_counter() - started) * 1000)

        tasks = []
        start = time.perf_counter()
        n = 0
        while time.perf_counter() - start < seconds:
            n += 1
            for name in ports:
                tasks.append(asyncio.create_task(post(name, n)))
            await asyncio.sleep(max(0.0, start + n / rate - time.perf_counter()))
        await asyncio.gather(*tasks)
    for runner in runners:
        await runner.cleanup()
    await engine.dispose()
    return latencies


async def store_many(url: str, count: int) -> float:
    engine = create_engine(url)
    inbox = Repository(create_sessionmaker(engine)).inbox
    rows = [
        NewUpdate(10_000_000 + i, json.dumps(photo_update(i)), 1_000 + i % 50, 1_000 + i % 50)
        for i in range(count)
    ]
    started = time.perf_counter()

    async def store_part(part: list[NewUpdate]) -> None:
        for row in part:
            await inbox.store([row])

    await asyncio.gather(*(store_part(rows[i::8]) for i in range(8)))
    elapsed = time.perf_counter() - started
    await engine.dispose()
    return count / elapsed


async def work_off(url: str, name: str) -> int:
    engine = create_engine(url)
    inbox: Inbox = Repository(create_sessionmaker(engine)).inbox
    handled = 0
    while True:
        items = await inbox.claim(name, 8, 60)
        if not items:
            if (await inbox.backlog()).pending == 0:
                break
            continue
        for item in items:
            await inbox.done(name, item.update_id)
            handled += 1
    await engine.dispose()
    return handled


async def claim_and_done(url: str, workers: int, count: int) -> float:
    await fresh_database(url)
    await store_many(url, count)
    started = time.perf_counter()
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.inbox_bench", "--worker", f"w{n}", "--url", url
        )
        for n in range(workers)
    ]
    for process in processes:
        await process.wait()
    return count / (time.perf_counter() - started)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--rate", type=float, default=100)
    parser.add_argument("--updates", type=int, default=3000)
    parser.add_argument("--worker")
    parser.add_argument("--url")
    args = parser.parse_args()
    if args.worker:
        await work_off(args.url, args.worker)
        return
    url = bench_url()
    await fresh_database(url)
    latencies = await ack_latency(url, args.seconds, args.rate)
    print(f"webhook ack at {args.rate:g} updates/s for {args.seconds:g} s (side by side):")
    for name, values in latencies.items():
        print(
            f"  {name:9}: n={len(values)} p50 {statistics.median(values):.1f} ms, "
            f"p99 {percentile(values, 0.99):.1f} ms"
        )
    await fresh_database(url)
    stored = await store_many(url, args.updates)
    print(f"inbox store, one update per transaction, 8 tasks: {stored:.0f}/s")
    for workers in (1, 3):
        rate = await claim_and_done(url, workers, args.updates)
        print(f"inbox claim + done, {workers} worker process(es): {rate:.0f}/s")


if __name__ == "__main__":
    asyncio.run(main())
