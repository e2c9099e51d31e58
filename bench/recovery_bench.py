"""Crash recovery benchmark (not a test): how soon work a killed bot held is answered by another.

Run: `.venv/bin/python -m bench.recovery_bench [--photos 60] [--users 6] [--kill-after 20]
[--replicas 3] [--lease S]` (needs ../shared; about 2 minutes at the defaults, most of it waiting
out the lease twice). Short check: `--photos 24 --users 4 --kill-after 6 --replicas 2 --lease 5`.

Real processes: the bot as `detectbot run` runs it (bench.serve_bot, as shipped), in webhook mode
on MariaDB (database `detectx_bench_recovery` on the server of DETECTX_TEST_MYSQL_URL, default
root@127.0.0.1:3306, created fresh for each scenario), the TF Serving stand-in (real model) and
the Bot API stand-in, each in its own process. `--photos` photo updates from `--users` people are
POSTed as fast as the webhooks accept them; once `--kill-after` replies are out and the victim
holds claimed rows, it gets `kill -9` (no shutdown code runs). The rows it held are read from the
inbox right after the kill (claimed, lease owner = its worker).
- restart: one bot; killed, then started again with the same settings (as a supervisor would).
  Times from the restart (the new process spawned) to the first and the last answered takeover
  (sendPhoto of a row the dead process held), and to the last outstanding photo answered.
- replica death: `--replicas` bots on one database, updates spread round-robin as a load balancer
  does; one replica is killed, the others keep running. Times from the kill.
A takeover waits for the dead worker's lease to expire: INBOX_LEASE_S (`--lease`, default the
bot's own default) bounds both figures from below, minus the lease's age at the kill.
Also counted: photos answered twice (allowed only for a reply in flight at the kill) and never.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.processes import (
    MODEL_DIR,
    SECRET,
    BotApi,
    BotProcess,
    bot_environment,
    bot_process,
    botapi_process,
    prepare_database,
    shared_photos,
    tfserving_process,
)
from bench.tables import markdown_table
from bot.config import Settings
from db.session import create_engine

DATABASE = "detectx_bench_recovery"
FIRST_USER = 7_200_000_000
ANSWER_TIMEOUT_S = 120.0
REPLICA_TARGET_S = 60.0
REDELIVERY_PAUSE_S = 0.2

Key = tuple[int, int]
"""(chat id, message id) of a photo: what its reply's chat_id and reply_to name."""


@dataclass(frozen=True)
class Recovery:
    """What one scenario saw; times in seconds from the restart or the death."""

    held: int
    outstanding: int
    startup_s: float | None
    first_takeover_s: float | None
    last_takeover_s: float | None
    last_outstanding_s: float | None
    answered_twice: int
    never_answered: int


@dataclass
class Load:
    """The photo updates of a scenario, and which photo each update is."""

    updates: list[dict[str, Any]]
    keys: dict[int, Key]


async def make_load(botapi: BotApi, photos: int, users: int, photo_count: int, first: int) -> Load:
    items = [(first + i % users, i % photo_count) for i in range(photos)]
    updates = await botapi.photo_updates(items)
    keys = {}
    for i, update in enumerate(updates):
        update["update_id"] = first + i
        message = update["message"]
        keys[first + i] = (message["chat"]["id"], message["message_id"])
    return Load(updates, keys)


async def post_spread(urls: list[str], load: Load, users: int) -> None:
    """One sender per person posting their updates in order; update i goes to urls[i % n]. An
    update not acknowledged is posted again, to the next URL, until one answers 200: Telegram
    redelivers, and a load balancer skips a dead replica."""
    headers = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": SECRET}
    per_user: list[list[tuple[int, bytes]]] = [[] for _ in range(users)]
    for i, update in enumerate(load.updates):
        per_user[i % users].append((i, json.dumps(update).encode()))
    timeout = aiohttp.ClientTimeout(total=10)
    deadline = time.monotonic() + ANSWER_TIMEOUT_S
    async with aiohttp.ClientSession(timeout=timeout) as session:

        async def deliver(i: int, body: bytes) -> None:
            for attempt in itertools.count():
                url = urls[(i + attempt) % len(urls)]
                try:
                    async with session.post(url, data=body, headers=headers) as response:
                        if response.status == 200:
                            return
                except (aiohttp.ClientError, TimeoutError):
                    pass
                if time.monotonic() > deadline:
                    raise SystemExit(f"update {i} not accepted by any of {urls}")
                await asyncio.sleep(REDELIVERY_PAUSE_S)

        async def sender(posts: list[tuple[int, bytes]]) -> None:
            for i, body in posts:
                await deliver(i, body)

        await asyncio.gather(*(sender(posts) for posts in per_user))


async def inbox_rows(engine: AsyncEngine, sql: str, **params: Any) -> list[int]:
    async with engine.connect() as conn:
        return [int(r[0]) for r in (await conn.execute(text(sql), params)).all()]


async def held_by(engine: AsyncEngine, pid: int) -> list[int]:
    """Rows claimed by the worker of process `pid` (its name is host:pid:tail)."""
    return await inbox_rows(
        engine,
        "SELECT update_id FROM inbox WHERE state = 'claimed' AND lease_owner LIKE :owner",
        owner=f"%:{pid}:%",
    )


async def kill_when_holding(
    botapi: BotApi, engine: AsyncEngine, victim: BotProcess, kill_after: int, load: Load
) -> tuple[float, list[int], list[int]]:
    """Once `kill_after` photos are answered and the victim holds claimed rows: SIGKILL.
    (monotonic time of the kill, rows it held, updates of `load` not done then)."""
    deadline = time.monotonic() + ANSWER_TIMEOUT_S
    while not (await botapi.count("sendPhoto") >= kill_after and await held_by(engine, victim.pid)):
        if time.monotonic() > deadline:
            raise SystemExit("the victim never held claimed rows; try a larger --photos")
        await asyncio.sleep(0.02)
    victim.kill()
    killed_at = time.monotonic()
    await victim.process.wait()
    held = await held_by(engine, victim.pid)
    done = set(await inbox_rows(engine, "SELECT update_id FROM inbox WHERE state = 'done'"))
    return killed_at, held, [u for u in load.keys if u not in done]


async def wait_answered(botapi: BotApi, load: Load) -> list[dict[str, Any]]:
    """Until every photo of `load` has a reply (or ANSWER_TIMEOUT_S); all sendPhoto calls."""
    wanted = set(load.keys.values())
    deadline = time.monotonic() + ANSWER_TIMEOUT_S
    while True:
        calls = await botapi.calls("sendPhoto")
        if wanted <= {(c["chat_id"], c["reply_to"]) for c in calls}:
            return calls
        if time.monotonic() > deadline:
            return calls
        await asyncio.sleep(0.2)


def recovery(
    load: Load,
    calls: list[dict[str, Any]],
    since: float,
    held: list[int],
    outstanding_ids: list[int],
    startup_s: float | None,
) -> Recovery:
    def answered_at(update_ids: list[int]) -> list[float]:
        """Per photo, its last reply, if that came after `since`: a reply the dead process had
        in flight can still reach the Bot API a moment after the kill; the takeover's is later."""
        last: dict[Key, float] = {}
        for c in calls:
            key = (c["chat_id"], c["reply_to"])
            last[key] = max(last.get(key, c["at"]), c["at"])
        keys = {load.keys[u] for u in update_ids}
        return [last[k] - since for k in keys if k in last and last[k] > since]

    takeovers = answered_at(held)
    outstanding = answered_at(outstanding_ids)
    replies = Counter((c["chat_id"], c["reply_to"]) for c in calls)
    return Recovery(
        held=len(held),
        outstanding=len(outstanding_ids),
        startup_s=startup_s,
        first_takeover_s=min(takeovers, default=None),
        last_takeover_s=max(takeovers, default=None),
        last_outstanding_s=max(outstanding, default=None),
        answered_twice=sum(1 for key in load.keys.values() if replies[key] > 1),
        never_answered=sum(1 for key in load.keys.values() if replies[key] == 0),
    )


@dataclass
class Setup:
    botapi: BotApi
    tfserving: str
    photo_count: int
    tmp: Path
    lease: str | None

    def environment(self, database_url: str) -> dict[str, str]:
        environment = bot_environment(self.botapi, database_url, self.tfserving)
        if self.lease is not None:
            environment["INBOX_LEASE_S"] = self.lease
        return environment


@asynccontextmanager
async def database(setup: Setup) -> AsyncIterator[tuple[str, AsyncEngine]]:
    url, note = await prepare_database(DATABASE, setup.tmp)
    if not note.startswith("MariaDB"):
        raise SystemExit(f"needs MariaDB: {note}")
    engine = create_engine(url)
    try:
        yield url, engine
    finally:
        await engine.dispose()


async def after_restart(setup: Setup, args: argparse.Namespace) -> Recovery:
    async with database(setup) as (url, engine):
        environment = setup.environment(url)
        log = setup.tmp / "restart.log"
        load = await make_load(setup.botapi, args.photos, args.users, setup.photo_count, FIRST_USER)
        async with bot_process(setup.botapi, environment, log) as first:
            poster = asyncio.create_task(post_spread([first.webhook_url], load, args.users))
            _, held, outstanding = await kill_when_holding(
                setup.botapi, engine, first, args.kill_after, load
            )
        restarted = time.monotonic()
        async with bot_process(setup.botapi, environment, log):
            startup_s = time.monotonic() - restarted
            calls = await wait_answered(setup.botapi, load)
            await poster
    return recovery(load, calls, restarted, held, outstanding, startup_s)


async def after_replica_death(setup: Setup, args: argparse.Namespace) -> Recovery:
    async with database(setup) as (url, engine), AsyncExitStack() as stack:
        replicas = [
            await stack.enter_async_context(
                bot_process(setup.botapi, setup.environment(url), setup.tmp / f"replica{n}.log")
            )
            for n in range(args.replicas)
        ]
        load = await make_load(
            setup.botapi, args.photos, args.users, setup.photo_count, FIRST_USER + 1_000_000
        )
        before = await setup.botapi.count("sendPhoto")
        urls = [r.webhook_url for r in replicas]
        poster = asyncio.create_task(post_spread(urls, load, args.users))
        killed_at, held, outstanding = await kill_when_holding(
            setup.botapi, engine, replicas[0], before + args.kill_after, load
        )
        calls = await wait_answered(setup.botapi, load)
        await poster
    return recovery(load, calls, killed_at, held, outstanding, None)


def seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def report(restart: Recovery, death: Recovery, args: argparse.Namespace, lease: str) -> None:
    print(
        f"\ncrash recovery: {args.photos} photos from {args.users} people, kill -9 after "
        f"{args.kill_after} replies; INBOX_LEASE_S {lease}; MariaDB; stand-ins in own processes"
    )
    header = [
        "figure",
        "restart (1 bot)",
        f"replica death ({args.replicas} bots, {args.replicas - 1} left)",
        "target",
    ]
    rows = [
        ["rows the killed process held (claimed)", str(restart.held), str(death.held), ""],
        [
            "photos not done at the kill",
            str(restart.outstanding),
            str(death.outstanding),
            "",
        ],
        ["restart → new process serving (s)", seconds(restart.startup_s), "-", ""],
        [
            "→ first answered takeover (s)",
            seconds(restart.first_takeover_s),
            seconds(death.first_takeover_s),
            "",
        ],
        [
            "→ last answered takeover (s)",
            seconds(restart.last_takeover_s),
            seconds(death.last_takeover_s),
            f"replicas: <= {REPLICA_TARGET_S:g} (issue 9 test)",
        ],
        [
            "→ last outstanding photo answered (s)",
            seconds(restart.last_outstanding_s),
            seconds(death.last_outstanding_s),
            "",
        ],
        [
            "photos answered twice (in flight at the kill)",
            str(restart.answered_twice),
            str(death.answered_twice),
            "in flight at the kill only",
        ],
        ["photos never answered", str(restart.never_answered), str(death.never_answered), "0"],
    ]
    print(markdown_table(header, rows))
    print(
        "times from the restart (process spawned) or from the kill (replica death); "
        "a takeover waits for the lease to expire"
    )


async def run(args: argparse.Namespace) -> None:
    photo_paths = shared_photos()
    lease = args.lease or f"{Settings.model_fields['inbox_lease_s'].default:g} (the default)"
    with tempfile.TemporaryDirectory() as tmp:
        async with tfserving_process() as (tfserving, _), botapi_process(photo_paths) as botapi:
            setup = Setup(botapi, tfserving, len(photo_paths), Path(tmp), args.lease)
            restart = await after_restart(setup, args)
            death = await after_replica_death(setup, args)
    report(restart, death, args, lease)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photos", type=int, default=60)
    parser.add_argument("--users", type=int, default=6)
    parser.add_argument("--kill-after", type=int, default=20, help="replies out before the kill")
    parser.add_argument("--replicas", type=int, default=3, help="bots in the replica scenario")
    parser.add_argument("--lease", help="INBOX_LEASE_S for the bots (default: the bot's default)")
    args = parser.parse_args()
    if not MODEL_DIR.is_dir():
        raise SystemExit(f"needs the shared model at {MODEL_DIR}")
    if args.replicas < 2:
        raise SystemExit("--replicas must be at least 2 (one dies, another keeps running)")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
