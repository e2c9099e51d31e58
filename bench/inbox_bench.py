"""Inbox benchmark (not a test): the cost of durable intake, and the inbox's own throughput.

Run: `.venv/bin/python -m bench.inbox_bench [--seconds 60] [--rate 100] [--updates 3000]`
(about 3 minutes at these defaults). Short check: `--seconds 3 --rate 50 --updates 300`.
Needs MariaDB: database `detectx_bench_inbox` on the server of DETECTX_TEST_MYSQL_URL (default
root@127.0.0.1:3306), created fresh.

1. Webhook ack latency, side by side in one run. Two server processes, each serving the bot's
   own web app (`bot.server.create_web_app` on real `create_services` and `build_application`,
   behind aiohttp's AppRunner as `bot.runner` runs it): one with the production webhook (secret
   check, validate as an Update, `Inbox.store`, commit, 200), the other with the in-memory webhook
   the bot had before issue 9 (commit 64f00ef^: validate, `application.update_queue.put`, 200).
   No worker runs in either, so this is the acknowledgement alone. This process POSTs the same
   photo updates to both at `--rate` per second each for `--seconds`; p50 / p99 of POST → response.
2. Inbox alone, with 1 and with 3 worker processes. Each worker process runs the bot's real
   `bot.worker.Worker` (claims of WORKER_CONCURRENCY rows with an INBOX_LEASE_S lease, one task
   per row, lease renewal, album claims, housekeeping) on real Services; only the PTB handlers are
   left out: the application's `process_update` does the inbox's part of an answer and nothing
   else, in one of two ways:
   - `done`: nothing, so the worker's own `Inbox.done` finishes the row (updates without a reply);
   - `reply`: `sending_reply` then `record_reply` (bot.workflow.reply_record), as a photo's answer
     does (mark the reply as being sent; then mark it sent and the row done in one transaction).
   Measured, rows per second:
   - store: `--updates` stored one per transaction (as webhook calls do), 8 concurrent tasks;
   - claim + finish: the workers work off `--updates` rows stored beforehand;
   - store + claim + finish: the workers run while this process stores `--updates` rows (8 tasks),
     from the first store to the last row done.
Targets (issue 9): ack p99 <= 20 ms; inbox store + claim + done >= 1,000/s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hmac
import json
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any, cast

import aiohttp
from aiohttp import web
from pydantic import SecretStr
from sqlalchemy import text
from telegram import Bot, Update

from bench.processes import prepare_database
from bench.tables import markdown_table, verdict
from bot.app import build_application
from bot.config import Settings
from bot.server import APPLICATION_KEY, create_web_app
from bot.services import Services, create_services
from bot.worker import AnyApplication, Worker
from bot.workflow.reply_record import record_reply, sending_reply
from db.inbox import NewUpdate
from db.repository import Repository
from db.session import create_engine, create_sessionmaker

DATABASE = "detectx_bench_inbox"
TOKEN = "123456:bench-token"
SECRET = "inbox-bench-secret"
STORE_TASKS = 8
ACK_P99_TARGET_MS = 20.0
INBOX_TARGET = 1_000.0
FINISH_MODES = ("done", "reply")


def settings_for(url: str) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        telegram_bot_token=SecretStr(TOKEN),
        database_url=url,
        tfserving_address="127.0.0.1:1",
        model_name="detector",
        webhook_secret=SecretStr(SECRET),
        log_level="WARNING",
    )


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
    return ordered[max(0, min(len(ordered) - 1, round(q * len(ordered)) - 1))]


# ---- server processes (ack latency) --------------------------------------------------------------


async def in_memory_webhook(request: web.Request) -> web.Response:
    """The webhook before issue 9 (commit 64f00ef^), less its logging of refusals."""
    application = request.app[APPLICATION_KEY]
    given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "").encode()
    if not hmac.compare_digest(given, SECRET.encode()):
        return web.Response(status=403, text="forbidden")
    try:
        data: Any = json.loads(await request.read())
        if not isinstance(data, dict):
            raise ValueError("an update is a JSON object")
        update = Update.de_json(data, application.bot)
    except (ValueError, TypeError, KeyError):
        return web.Response(status=400, text="not a Telegram update")
    await application.update_queue.put(update)
    return web.Response(status=200)


async def serve(url: str, path: str) -> None:
    """One webhook server (`durable` or `in-memory`) until stdin closes; prints `PORT n`."""
    settings = settings_for(url)
    services = await create_services(settings)
    application = build_application(services, webhook=True)
    app = create_web_app(application, services, webhook=path == "durable")
    if path == "in-memory":
        app.router.add_post(settings.webhook_path, in_memory_webhook)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    print(f"PORT {runner.addresses[0][1]}", flush=True)
    try:
        await asyncio.to_thread(sys.stdin.read)
    finally:
        await runner.cleanup()
        await services.close()


@asynccontextmanager
async def child(*args: str, ready: str) -> AsyncIterator[tuple[asyncio.subprocess.Process, str]]:
    """`python -m bench.inbox_bench ARGS` that prints `ready ...`; stopped by closing its stdin.
    Its stderr goes to a temporary file, shown if it does not start."""
    with tempfile.TemporaryFile() as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.inbox_bench",
            *args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=log,
        )
        assert process.stdout is not None and process.stdin is not None
        try:
            line = (await asyncio.wait_for(process.stdout.readline(), 60)).decode()
            if not line.startswith(ready):
                log.seek(0)
                output = log.read().decode(errors="replace")[-2000:]
                raise SystemExit(f"bench child {args} did not start:\n{output}")
            yield process, line
        finally:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                process.stdin.close()
            try:
                await asyncio.wait_for(process.wait(), 60)
            except TimeoutError:
                process.kill()
                await process.wait()


async def ack_latency(url: str, seconds: float, rate: float) -> dict[str, list[float]]:
    paths = ("durable", "in-memory")
    async with (
        child("--serve", paths[0], "--url", url, ready="PORT") as (_, durable),
        child("--serve", paths[1], "--url", url, ready="PORT") as (_, in_memory),
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session,
    ):
        ports = {paths[0]: int(durable.split()[1]), paths[1]: int(in_memory.split()[1])}
        latencies: dict[str, list[float]] = {name: [] for name in paths}
        headers = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": SECRET}

        async def post(name: str, update_id: int, measured: bool) -> None:
            body = json.dumps(photo_update(update_id)).encode()
            started = time.perf_counter()
            async with session.post(
                f"http://127.0.0.1:{ports[name]}/telegram", data=body, headers=headers
            ) as response:
                await response.read()
                if response.status != 200:
                    raise SystemExit(f"{name} webhook answered {response.status}")
            if measured:
                latencies[name].append((time.perf_counter() - started) * 1000)

        for n in range(20):
            await asyncio.gather(*(post(name, 1_000_000 + n, False) for name in paths))
        tasks = []
        start = time.perf_counter()
        n = 0
        while time.perf_counter() - start < seconds:
            n += 1
            order = paths if n % 2 else paths[::-1]
            tasks += [asyncio.create_task(post(name, n, True)) for name in order]
            await asyncio.sleep(max(0.0, start + n / rate - time.perf_counter()))
        await asyncio.gather(*tasks)
    return latencies


# ---- worker processes (inbox alone) --------------------------------------------------------------


class InboxOnly:
    """What the worker uses of an Application (`bot`, `process_update`), with the PTB handlers
    left out: `process_update` does only the inbox's part of an answer."""

    def __init__(self, bot: Bot, services: Services, finish: str) -> None:
        self.bot = bot
        self._services = services
        self._finish = finish

    async def process_update(self, update: Update) -> None:
        if self._finish == "reply":
            job = self._services.jobs.of(update)
            await sending_reply(job)
            await record_reply(self._services, job, [], update.update_id)


async def work(url: str, name: str, finish: str) -> None:
    """A worker process: `READY`, then on a line on stdin the worker runs until stdin closes."""
    services = await create_services(settings_for(url))
    application = cast(AnyApplication, InboxOnly(Bot(TOKEN), services, finish))
    worker = Worker(application, services, name=name)
    await services.repository.inbox.backlog()
    print("READY", flush=True)
    await asyncio.to_thread(sys.stdin.readline)
    await worker.start()
    await asyncio.to_thread(sys.stdin.read)
    await worker.stop(10)
    await services.close()


def rows(count: int, first: int) -> list[NewUpdate]:
    return [
        NewUpdate(u, json.dumps(photo_update(u)), 1_000 + u % 50, 1_000 + u % 50)
        for u in range(first, first + count)
    ]


async def store_all(url: str, updates: list[NewUpdate]) -> float:
    """Store one update per transaction from STORE_TASKS tasks, on the inbox the webhook
    stores with (the same Repository create_services builds); seconds taken."""
    settings = settings_for(url)
    engine = create_engine(settings.database_url)
    inbox = Repository(create_sessionmaker(engine), wait_timeout_s=settings.db_timeout_s).inbox

    async def store_part(part: list[NewUpdate]) -> None:
        for row in part:
            await inbox.store([row])

    started = time.perf_counter()
    await asyncio.gather(*(store_part(updates[i::STORE_TASKS]) for i in range(STORE_TASKS)))
    elapsed = time.perf_counter() - started
    await engine.dispose()
    return elapsed


async def empty_inbox(url: str) -> None:
    engine = create_engine(url)
    async with engine.begin() as conn:
        await conn.execute(text("DELETE FROM inbox"))
    await engine.dispose()


async def wait_all_done(url: str, count: int) -> float:
    """Until `count` rows are done (polled every 20 ms); perf_counter at that moment."""
    engine = create_engine(url)
    try:
        while True:
            async with engine.connect() as conn:
                done = (
                    await conn.execute(text("SELECT COUNT(*) FROM inbox WHERE state = 'done'"))
                ).scalar_one()
            if done >= count:
                return time.perf_counter()
            await asyncio.sleep(0.02)
    finally:
        await engine.dispose()


async def with_workers(
    url: str, workers: int, finish: str, during: Callable[[], Awaitable[object]], count: int
) -> float:
    """Start `workers` worker processes; once all are ready, let them go and run `during`;
    rows per second from the go to `count` rows done."""
    async with contextlib.AsyncExitStack() as stack:
        processes = [
            (
                await stack.enter_async_context(
                    child("--work", finish, "--name", f"bench-{n}", "--url", url, ready="READY")
                )
            )[0]
            for n in range(workers)
        ]
        started = time.perf_counter()
        for process in processes:
            assert process.stdin is not None
            process.stdin.write(b"GO\n")
            await process.stdin.drain()
        await during()
        finished = await wait_all_done(url, count)
    return count / (finished - started)


async def nothing() -> None:
    return None


async def inbox_alone(url: str, count: int) -> dict[str, float]:
    figures: dict[str, float] = {}
    await empty_inbox(url)
    figures["store"] = count / await store_all(url, rows(count, 10_000_000))
    first = 20_000_000
    for finish in FINISH_MODES:
        for workers in (1, 3):
            await empty_inbox(url)
            await store_all(url, rows(count, first))
            figures[f"claim {finish} {workers}"] = await with_workers(
                url, workers, finish, nothing, count
            )
            first += count
            await empty_inbox(url)
            batch = rows(count, first)
            figures[f"together {finish} {workers}"] = await with_workers(
                url, workers, finish, partial(store_all, url, batch), count
            )
            first += count
    return figures


# ---- report --------------------------------------------------------------------------------------


def report(
    latencies: dict[str, list[float]], figures: dict[str, float], args: argparse.Namespace
) -> None:
    durable, in_memory = latencies["durable"], latencies["in-memory"]
    print(
        f"\nwebhook ack, side by side: {len(durable)} + {len(in_memory)} photo updates at "
        f"{args.rate:g}/s each for {args.seconds:g} s, MariaDB, server processes of their own"
    )
    p99 = percentile(durable, 0.99)
    print(
        markdown_table(
            ["figure", "durable (store + commit)", "in-memory (before issue 9)", "target", ""],
            [
                [
                    "ack p50 (ms)",
                    f"{statistics.median(durable):.1f}",
                    f"{statistics.median(in_memory):.1f}",
                    "",
                    "",
                ],
                [
                    "ack p99 (ms)",
                    f"{p99:.1f}",
                    f"{percentile(in_memory, 0.99):.1f}",
                    f"<= {ACK_P99_TARGET_MS:g}",
                    verdict(p99 <= ACK_P99_TARGET_MS),
                ],
            ],
        )
    )
    print(
        f"\ninbox alone on MariaDB, {args.updates} updates per figure, rows per second "
        "(bot.worker.Worker, PTB handlers left out):"
    )
    table = [
        [
            "store, one update per transaction (8 tasks, no workers)",
            f"{figures['store']:.0f}",
            "",
            "",
            "",
        ]
    ]
    for finish, label in (("done", "Inbox.done"), ("reply", "sending_reply + record_reply")):
        table.append(
            [
                f"claim + finish ({label}), stored beforehand",
                f"{figures[f'claim {finish} 1']:.0f}",
                f"{figures[f'claim {finish} 3']:.0f}",
                "",
                "",
            ]
        )
        one, three = figures[f"together {finish} 1"], figures[f"together {finish} 3"]
        table.append(
            [
                f"store + claim + finish ({label}), at once",
                f"{one:.0f}",
                f"{three:.0f}",
                f">= {INBOX_TARGET:,.0f}",
                verdict(min(one, three) >= INBOX_TARGET),
            ]
        )
    print(markdown_table(["figure", "1 worker process", "3 worker processes", "target", ""], table))


async def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url, note = await prepare_database(DATABASE, Path(tmp))
        if not note.startswith("MariaDB"):
            raise SystemExit(f"needs MariaDB: {note}")
        latencies = await ack_latency(url, args.seconds, args.rate)
        figures = await inbox_alone(url, args.updates)
    report(latencies, figures, args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60, help="ack: seconds of posting")
    parser.add_argument("--rate", type=float, default=100, help="ack: updates/s to each server")
    parser.add_argument("--updates", type=int, default=3000, help="inbox: rows per figure")
    parser.add_argument("--serve", choices=("durable", "in-memory"), help=argparse.SUPPRESS)
    parser.add_argument("--work", choices=FINISH_MODES, help=argparse.SUPPRESS)
    parser.add_argument("--name", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.url, args.serve))
    elif args.work:
        asyncio.run(work(args.url, args.name, args.work))
    else:
        asyncio.run(run(args))


if __name__ == "__main__":
    main()
