"""End-to-end benchmark (not a test): photos through the webhook to replies, vs the model alone.

Run: `.venv/bin/python -m bench.e2e_bench [--photos 120] [--users 8]` (needs ../shared).

In one run, on the real model and the shared photos:
- end to end: the bot in webhook mode in this process (`bot.runner.serve`: real Application,
  handlers, pipeline, database); the TF Serving stand-in and the Bot API stand-in each in their
  own process (as TF Serving and Telegram would be); MariaDB (database `detectx_bench_e2e` on the
  server of DETECTX_TEST_MYSQL_URL, default root@127.0.0.1:3306; SQLite when no MariaDB answers).
  N photo updates from M users are POSTed to the webhook as fast as it accepts them: one sender per
  user, each posting its user's updates in order, as Telegram delivers per chat.
  Measured: photos/s (first POST to last sendPhoto), update-to-reply latency p50/p95/p99 (POST
  start to the stand-in receiving sendPhoto), webhook acknowledgement p50/p95/p99, and the CPU time
  per photo of every process involved (bot, both stand-ins, MariaDB).
  Two scenarios, each on a fresh bot instance: as shipped, and (diagnostic) with
  python-telegram-bot's flood limiter lifted.
- model only: the signature called in this process on the same photos, pre-decoded (the tensors
  the bot sends), from as many concurrent tasks as the bot's detection limit
  (MAX_CONCURRENT_DETECTIONS); measured before and after the end-to-end runs, averaged.
Targets: end-to-end throughput >= 80% of model-only; webhook ack p99 <= 50 ms.

`--compare [--rounds 3] [--idle 12] [--profile DIR]`: the bot's own cost, side by side. The bot runs
in its own process as `detectbot run` runs it (bench.serve_bot), once per variant: PTB's default
HTTPXRequest (the path before issue 11) or the shipped aiohttp request class, each on asyncio's
loop and on uvloop; the variants interleaved over the rounds. Per variant: bot CPU per answered
photo (from /proc, the bot process alone) and the other processes', over a burst of N photos as
shipped; then photos sent one at a time: update → reply p50 minus the model call as the bot timed
it (its detectx_inference_seconds). With --profile, py-spy records the bot over one more burst
(not the measured one) and the top of each profile is printed.
First printed: the issue-11 table (bot CPU per answered photo; update → reply overhead at idle
minus the model call), one column per variant, the target, and whether the shipped variant
(aiohttp, asyncio) meets it. Targets: bot CPU per photo <= 8 ms; idle overhead <= 15 ms.
`--variants aiohttp-asyncio,httpx-asyncio,httpx-uvloop,aiohttp-uvloop` picks which of these run
(default: all four), to shorten a run.
`--baseline REF` (a git commit or branch; default none) adds one more variant, "REF (before)", run
first in each round, shown in the first column and used as the "before" of the ratios: the bot as
it was at REF, from a temporary detached worktree (`git worktree add --detach`, removed with `git
worktree remove --force` at the end), started there as `python -m bench.serve_bot --http aiohttp
--loop asyncio` (or `bot.cli.main(["run"])` if REF's serve_bot has no --http/--loop) with cwd and
PYTHONPATH = the worktree, so REF's own bot/, db/ and handlers/ run (checked before the run: the
`__file__` each resolves to is printed and must lie in the worktree). The database is migrated
with this code, so REF must have the same migrations; otherwise the bench refuses. Example:
`--compare --baseline c73a2d4` (today's code path side by side in the same run, as issue 11 asks).
Full run (about 10 minutes on 2 cores; about 12 with --baseline):
`--compare --photos 120 --rounds 3 --idle 12`; short check:
`--compare --photos 24 --users 4 --rounds 1 --idle 3`.
The RSS soak is bench/soak_bench.py; crash recovery is bench/recovery_bench.py.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import ExitStack, asynccontextmanager
from dataclasses import dataclass, field, replace
from io import BytesIO
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import numpy.typing as npt
from PIL import Image
from pydantic import SecretStr
from sqlalchemy import text

import bot.app
from bench.baseline import Baseline, baseline_checkout
from bench.processes import (
    MODEL_DIR,
    PHOTOS_DIR,
    SECRET,
    BotApi,
    bot_environment,
    bot_process,
    botapi_process,
    cpu_seconds,
    find_process,
    free_port,
    prepare_database,
    tfserving_process,
)
from bench.tables import markdown_table, verdict
from bot.config import Settings
from bot.detection.inprocess import LoadedModel, load_model
from bot.runner import serve
from bot.services import create_services
from db.session import create_engine

BENCH_DATABASE = "detectx_bench_e2e"
FIRST_USER = 7_100_000_000
REPLY_TIMEOUT_S = 600.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(q * len(ordered)) - 1))]


@dataclass
class EndToEnd:
    photos: int
    wall_s: float
    reply_ms: list[float]
    ack_ms: list[float]
    rows_ok: int
    queue_notices: int
    cpu_s: dict[str, float]

    @property
    def throughput(self) -> float:
        return self.photos / self.wall_s


@dataclass
class ModelOnly:
    calls: int
    wall_s: float
    cpu_s: float

    @property
    def throughput(self) -> float:
        return self.calls / self.wall_s


# ---- CPU accounting ------------------------------------------------------------------------------


@dataclass
class CpuMeter:
    """CPU seconds used by each process of the setup between `start()` and `stop()`."""

    pids: dict[str, int | None]

    def snapshot(self) -> dict[str, float]:
        return {name: cpu_seconds(pid) for name, pid in self.pids.items()}


# ---- database ------------------------------------------------------------------------------------


async def count_ok_rows(database_url: str) -> int:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            result = await conn.execute(text("SELECT COUNT(*) FROM detections WHERE status = 'ok'"))
            return int(result.scalar_one())
    finally:
        await engine.dispose()


# ---- model only ----------------------------------------------------------------------------------


def decoded(photo: bytes) -> npt.NDArray[np.uint8]:
    with Image.open(BytesIO(photo)) as image:
        return np.asarray(image.convert("RGB"), dtype=np.uint8)[np.newaxis]


async def model_only(
    model: LoadedModel, tensors: list[npt.NDArray[Any]], calls: int, tasks: int
) -> ModelOnly:
    indices = iter(range(calls))

    async def worker() -> None:
        for i in indices:
            await asyncio.to_thread(model.run, tensors[i % len(tensors)])

    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(tasks)))
    return ModelOnly(calls, time.perf_counter() - started, time.process_time() - cpu)


# ---- end to end ----------------------------------------------------------------------------------


@asynccontextmanager
async def running_bot(settings: Settings) -> AsyncIterator[None]:
    """The bot as `detectbot run` runs it (bot.runner.serve), in this process."""
    services = await create_services(settings)
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(serve(settings, services, stop, ready=ready))
    try:
        waiter = asyncio.create_task(ready.wait())
        await asyncio.wait({task, waiter}, timeout=60, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if task.done():
            task.result()
        yield
    finally:
        stop.set()
        await task
        await services.close()


async def post_all(
    webhook_url: str, per_user: list[list[dict[str, Any]]], posted_at: dict[tuple[int, int], float]
) -> list[float]:
    """Each user's updates POSTed in order by one sender per user; returns ack latencies (ms)."""
    acks: list[float] = []
    headers = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": SECRET}
    connector = aiohttp.TCPConnector(limit=len(per_user))
    timeout = aiohttp.ClientTimeout(total=30)
    bodies = [[json.dumps(u).encode() for u in updates] for updates in per_user]

    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def sender(updates: list[dict[str, Any]], encoded: list[bytes]) -> None:
            for update, body in zip(updates, encoded, strict=True):
                message = update["message"]
                started = time.monotonic()
                posted_at[(message["chat"]["id"], message["message_id"])] = started
                async with session.post(webhook_url, data=body, headers=headers) as response:
                    await response.read()
                    if response.status != 200:
                        raise SystemExit(f"webhook answered {response.status}")
                acks.append((time.monotonic() - started) * 1000)

        await asyncio.gather(*(sender(u, b) for u, b in zip(per_user, bodies, strict=True)))
    return acks


async def end_to_end(
    meter: CpuMeter,
    botapi: BotApi,
    webhook_url: str,
    database_url: str,
    n: int,
    users: int,
    photo_count: int,
    *,
    first_user: int,
) -> EndToEnd:
    items = [(first_user + i % users, i % photo_count) for i in range(n)]
    updates = await botapi.photo_updates(items)
    per_user: list[list[dict[str, Any]]] = [[] for _ in range(users)]
    for i, update in enumerate(updates):
        update["update_id"] = first_user + i
        per_user[i % users].append(update)
    replies_before = len(await botapi.calls("sendPhoto"))
    notices_before = len(await botapi.calls("sendMessage"))
    rows_before = await count_ok_rows(database_url)
    posted_at: dict[tuple[int, int], float] = {}

    cpu_before = meter.snapshot()
    started = time.monotonic()
    acks = await post_all(webhook_url, per_user, posted_at)
    replies = (await botapi.wait_calls("sendPhoto", replies_before + n, REPLY_TIMEOUT_S))[
        replies_before:
    ]
    finished = max(call["at"] for call in replies)
    cpu_after = meter.snapshot()
    reply_ms = [
        (call["at"] - posted_at[(call["chat_id"], call["reply_to"])]) * 1000 for call in replies
    ]
    await asyncio.sleep(1.0)
    return EndToEnd(
        photos=n,
        wall_s=finished - started,
        reply_ms=reply_ms,
        ack_ms=acks,
        rows_ok=await count_ok_rows(database_url) - rows_before,
        queue_notices=len(await botapi.calls("sendMessage")) - notices_before,
        cpu_s={name: cpu_after[name] - cpu_before[name] for name in cpu_before},
    )


# ---- the run -------------------------------------------------------------------------------------


def bot_settings(botapi: BotApi, database_url: str, tfserving: str) -> Settings:
    port = free_port()
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        telegram_bot_token=SecretStr(botapi.token),
        telegram_api_url=botapi.url,
        database_url=database_url,
        tfserving_address=tfserving,
        model_name="detector",
        webhook_url=f"http://127.0.0.1:{port}/telegram",
        webhook_secret=SecretStr(SECRET),
        listen_host="127.0.0.1",
        listen_port=port,
        user_rate_limit_per_minute=10_000,
        log_level="WARNING",
    )


SCENARIOS = (
    ("as shipped", None),
    # Diagnostic only: python-telegram-bot's flood limiter (30 requests/s overall) lifted, to
    # show what the bot's own code path costs. Telegram enforces that limit anyway.
    ("flood limit lifted", 100_000),
)


async def run(n: int, users: int) -> None:
    photo_paths = sorted(PHOTOS_DIR.glob("*.jpg"))
    photos = [p.read_bytes() for p in photo_paths]
    model = await asyncio.to_thread(load_model, MODEL_DIR, "serving_default", "detector")
    tensors = [decoded(p) for p in photos]
    results: dict[str, EndToEnd] = {}
    shipped_rate = bot.app.OVERALL_MAX_RATE

    with tempfile.TemporaryDirectory() as tmp:
        database_url, database_note = await prepare_database(BENCH_DATABASE, Path(tmp))
        async with (
            tfserving_process() as (tfserving, tfserving_pid),
            botapi_process(photo_paths) as botapi,
        ):
            pids: dict[str, int | None] = {
                "bot (this process)": None,
                "TF Serving stand-in": tfserving_pid,
                "Bot API stand-in": botapi.pid,
            }
            if database_note.startswith("MariaDB") and (
                mariadb := find_process("mariadbd", "mysqld")
            ):
                pids["MariaDB server"] = mariadb
            meter = CpuMeter(pids)
            concurrency = Settings(_env_file=None).max_concurrent_detections  # type: ignore[call-arg]
            await model_only(model, tensors, 2 * concurrency, concurrency)
            before = await model_only(model, tensors, n, concurrency)
            for k, (name, overall_rate) in enumerate(SCENARIOS):
                bot.app.OVERALL_MAX_RATE = overall_rate or shipped_rate
                settings = bot_settings(botapi, database_url, tfserving)
                assert settings.webhook_url is not None
                first_user = FIRST_USER + 10_000 * k
                async with running_bot(settings):
                    await end_to_end(
                        meter,
                        botapi,
                        settings.webhook_url,
                        database_url,
                        2 * users,
                        users,
                        len(photos),
                        first_user=first_user,
                    )
                    results[name] = await end_to_end(
                        meter,
                        botapi,
                        settings.webhook_url,
                        database_url,
                        n,
                        users,
                        len(photos),
                        first_user=first_user + 1_000,
                    )
            bot.app.OVERALL_MAX_RATE = shipped_rate
            after = await model_only(model, tensors, n, concurrency)
    report(results, before, after, concurrency, users, database_note, len(photos))


def report(
    results: dict[str, EndToEnd],
    before: ModelOnly,
    after: ModelOnly,
    concurrency: int,
    users: int,
    database_note: str,
    photo_count: int,
) -> None:
    shipped = results[SCENARIOS[0][0]]
    model_throughput = statistics.mean([before.throughput, after.throughput])
    model_cpu_ms = 1000 * (before.cpu_s + after.cpu_s) / (before.calls + after.calls)
    print(
        f"\n{shipped.photos} photos from {users} users ({photo_count} shared photos cycled); "
        f"real model ssd_mobilenet_v1_coco; detection limit {concurrency}; {os.cpu_count()} CPUs"
    )
    print(f"database: {database_note}; TF Serving and Bot API stand-ins in their own processes\n")
    print("| what                                 | photos/s | p50 ms | p95 ms | p99 ms |")
    print("|--------------------------------------|----------|--------|--------|--------|")
    for name, m in (("before", before), ("after", after)):
        label = f"model only, {name} (conc {concurrency})"
        print(f"| {label:<36} | {m.throughput:>8.1f} |" + 3 * "        |")
    for name, run in results.items():
        q = [percentile(run.reply_ms, x) for x in (0.5, 0.95, 0.99)]
        a = [percentile(run.ack_ms, x) for x in (0.5, 0.95, 0.99)]
        print(
            f"| {'update → reply, ' + name:<36} | {run.throughput:>8.1f} "
            f"| {q[0]:>6.0f} | {q[1]:>6.0f} | {q[2]:>6.0f} |"
        )
        print(
            f"| {'webhook ack, ' + name:<36} |          "
            f"| {a[0]:>6.1f} | {a[1]:>6.1f} | {a[2]:>6.1f} |"
        )

    print("\nCPU per photo (ms, all threads), end to end vs the model alone:")
    names = list(shipped.cpu_s)
    print("| " + " | ".join(["scenario".ljust(20), *names, "total"]) + " |")
    print("|" + "|".join("-" * (len(h) + 2) for h in ["scenario".ljust(20), *names, "total"]) + "|")
    for name, run in results.items():
        per_photo = [1000 * run.cpu_s[n] / run.photos for n in names]
        cells = [f"{v:>{len(n)}.1f}" for v, n in zip(per_photo, names, strict=True)]
        print(f"| {name:<20} | " + " | ".join(cells) + f" | {sum(per_photo):>5.1f} |")
    print(f"model only (in-process): {model_cpu_ms:.1f} ms per image")
    for name, run in results.items():
        print(
            f"{name}: {run.rows_ok}/{run.photos} 'ok' rows written, "
            f"{run.queue_notices} 'queued' notices sent"
        )

    print("\nratios (target in brackets):")
    for name, run in results.items():
        print(
            f"- end-to-end / model-only throughput, {name}: "
            f"{run.throughput / model_throughput:.0%} [>= 80%]"
        )
        print(f"- webhook ack p99, {name}: {percentile(run.ack_ms, 0.99):.1f} ms [<= 50 ms]")
    print(
        "('flood limit lifted' is a diagnostic: the bot's message rate limiter raised from "
        "30 messages/s;\n Telegram itself allows about 30 messages/s, so the shipped bot stays "
        "under that.)"
    )


# ---- side by side: the bot in its own process, per HTTP layer and event loop ---------------------


@dataclass(frozen=True)
class Variant:
    """One way of running the bot: bench.serve_bot's --http and --loop, or (a baseline) another
    command, working directory and environment."""

    name: str
    http: str = "aiohttp"
    loop: str = "asyncio"
    argv: tuple[str, ...] | None = None
    cwd: Path | None = None
    environment: dict[str, str] = field(default_factory=dict)


# By --variants key; httpx-asyncio is the bot's path before issue 11 (PTB's default request class).
VARIANTS = {
    "httpx-asyncio": Variant("httpx, asyncio", "httpx", "asyncio"),
    "aiohttp-asyncio": Variant("aiohttp, asyncio", "aiohttp", "asyncio"),
    "httpx-uvloop": Variant("httpx, uvloop", "httpx", "uvloop"),
    "aiohttp-uvloop": Variant("aiohttp, uvloop", "aiohttp", "uvloop"),
}
SHIPPED_VARIANT = "aiohttp, asyncio"
IDLE_PAUSE_S = 0.3


def chosen_variants(keys: list[str], baseline: Baseline | None) -> list[Variant]:
    """The variants in the order run and shown; the first is the "before" of the ratios: the
    baseline when there is one, else httpx-asyncio marked "(before)" when chosen."""
    variants = [VARIANTS[key] for key in keys]
    if baseline is not None:
        return [
            Variant(
                baseline.name,
                argv=baseline.argv,
                cwd=baseline.checkout,
                environment=baseline.environment,
            ),
            *variants,
        ]
    return [
        replace(v, name=f"{v.name} (before)") if v is VARIANTS["httpx-asyncio"] else v
        for v in variants
    ]


@dataclass
class VariantRun:
    """One variant's figures over every round: CPU per photo of each process, idle latencies."""

    cpu_ms: dict[str, list[float]]
    idle: list[Idle]
    profile: Path | None = None
    photos_per_s: list[float] = field(default_factory=list)
    """Burst throughput per round (first POST to last sendPhoto)."""

    @property
    def idle_reply_ms(self) -> float:
        return statistics.median(ms for idle in self.idle for ms in idle.reply_ms)

    @property
    def idle_model_call_ms(self) -> float:
        return statistics.mean(idle.model_call_ms for idle in self.idle)


@dataclass
class Idle:
    """Photos sent one at a time: update → reply (ms) each, and the bot's mean model call (ms),
    from its own `detectx_inference_seconds` histogram over the same photos."""

    reply_ms: list[float]
    model_call_ms: float


async def inference_totals(session: aiohttp.ClientSession, metrics_url: str) -> tuple[float, int]:
    async with session.get(metrics_url) as response:
        text = await response.text()
    values = dict(
        line.split(" ", 1)
        for line in text.splitlines()
        if line.startswith(("detectx_inference_seconds_sum", "detectx_inference_seconds_count"))
    )
    return float(values["detectx_inference_seconds_sum"]), int(
        float(values["detectx_inference_seconds_count"])
    )


async def idle_run(
    botapi: BotApi, webhook_url: str, count: int, photo_count: int, first_user: int
) -> Idle:
    updates = await botapi.photo_updates([(first_user, i % photo_count) for i in range(count)])
    headers = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": SECRET}
    metrics_url = webhook_url.rsplit("/", 1)[0] + "/metrics"
    latencies = []
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        model_s, calls = await inference_totals(session, metrics_url)
        for i, update in enumerate(updates):
            update["update_id"] = first_user + i
            replies = len(await botapi.calls("sendPhoto"))
            await asyncio.sleep(IDLE_PAUSE_S)
            posted = time.monotonic()
            async with session.post(webhook_url, data=json.dumps(update), headers=headers) as r:
                if r.status != 200:
                    raise SystemExit(f"webhook answered {r.status}")
            reply = (await botapi.wait_calls("sendPhoto", replies + 1, 60))[replies]
            latencies.append((reply["at"] - posted) * 1000)
        model_after, calls_after = await inference_totals(session, metrics_url)
    return Idle(latencies, 1000 * (model_after - model_s) / max(1, calls_after - calls))


@asynccontextmanager
async def profiling(pid: int, out: Path) -> AsyncIterator[None]:
    """py-spy sampling the bot (all threads, idle excluded) while the block runs."""
    process = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).with_name("py-spy")),
        "record",
        "--pid",
        str(pid),
        "--rate",
        "250",
        "--format",
        "raw",
        "--output",
        str(out),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    await asyncio.sleep(1.0)
    try:
        yield
    finally:
        process.send_signal(2)
        await process.wait()


# Each busy sample goes to the first part with a frame on its stack, so the shares add up to 100 %.
PROFILE_PARTS = (
    ("database (SQLAlchemy, aiomysql, db/)", ("(sqlalchemy/", "(aiomysql/", "(pymysql/", "(db/")),
    (
        "Bot API calls (PTB Bot methods + HTTP layer)",
        (
            "(telegram/_bot.py",
            "(telegram/request/",
            "(bot/telegram_request.py",
            "(aiohttp/client",
            "(httpx/",
            "(httpcore/",
            "(anyio/",
            "(h11/",
        ),
    ),
    (
        "image work (decode, resize, draw, encode)",
        ("(PIL/", "(numpy/", "(bot/detection/images.py", "(bot/detection/annotate.py"),
    ),
    ("gRPC call to TF Serving", ("(grpc/", "(google/protobuf", "(bot/detection/tfserving.py")),
    ("webhook server (aiohttp web)", ("(aiohttp/web", "(bot/server.py")),
    ("PTB dispatch, handlers, workflow", ("(telegram/", "(handlers/", "(bot/")),
    ("event loop (asyncio/uvloop)", ("(asyncio/", "(uvloop/", "(selectors.py")),
)
# Leaves where a thread waits rather than runs; py-spy counts some of them as active.
IDLE_LEAVES = (
    "select (selectors.py",
    "_worker (concurrent/futures/thread.py:81",
    "wait (threading.py",
    "Thread.run (threading.py",
)
_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def summarize_profile(raw: Path, top: int = 12) -> list[str]:
    """py-spy's collapsed stacks as shares of the busy samples: by part of the work, by library
    (self time), and the hottest functions (self time)."""
    stacks: list[tuple[list[str], int]] = []
    for line in raw.read_text().splitlines():
        joined, _, count = line.rpartition(" ")
        if (
            joined
            and count.isdigit()
            and not any(i in joined.rsplit(";", 1)[-1] for i in IDLE_LEAVES)
        ):
            stacks.append((joined.split(";"), int(count)))
    total = sum(count for _, count in stacks) or 1
    lines = [f"{total} busy samples", "  by part of the work:"]
    parts = dict.fromkeys([name for name, _ in PROFILE_PARTS] + ["other"], 0)
    for frames, samples in stacks:
        stack = ";".join(frames)
        part = next(
            (n for n, needles in PROFILE_PARTS if any(x in stack for x in needles)), "other"
        )
        parts[part] += samples
    for part, samples in parts.items():
        lines.append(f"  {100 * samples / total:5.1f} %  {part}")
    by_library: dict[str, int] = {}
    by_function: dict[str, int] = {}
    for frames, samples in stacks:
        match = _FRAME.match(frames[-1])
        function, file = (match["function"], match["file"]) if match else (frames[-1], "?")
        library = file.split("/", 1)[0] if "/" in file else file.removesuffix(".py")
        by_library[library] = by_library.get(library, 0) + samples
        name = f"{function} ({file})"
        by_function[name] = by_function.get(name, 0) + samples
    lines.append("  by library (self):")
    for name, samples in sorted(by_library.items(), key=lambda kv: -kv[1])[:top]:
        lines.append(f"  {100 * samples / total:5.1f} %  {name}")
    lines.append("  hottest functions (self):")
    for name, samples in sorted(by_function.items(), key=lambda kv: -kv[1])[:top]:
        lines.append(f"  {100 * samples / total:5.1f} %  {name}")
    return lines


async def compare(
    n: int,
    users: int,
    rounds: int,
    idle: int,
    profile_dir: Path | None,
    variants: list[Variant],
    baseline: Baseline | None,
) -> None:
    photo_paths = sorted(PHOTOS_DIR.glob("*.jpg"))
    photos = [p.read_bytes() for p in photo_paths]
    model = await asyncio.to_thread(load_model, MODEL_DIR, "serving_default", "detector")
    tensors = [decoded(p) for p in photos]
    runs = {variant.name: VariantRun({}, []) for variant in variants}

    with tempfile.TemporaryDirectory() as tmp:
        database_url, database_note = await prepare_database(BENCH_DATABASE, Path(tmp))
        async with (
            tfserving_process() as (tfserving, tfserving_pid),
            botapi_process(photo_paths) as botapi,
        ):
            await model_only(model, tensors, 8, 1)
            single = [await model_only(model, tensors, 1, 1) for _ in range(3 * len(tensors))]
            model_ms = statistics.median(1000 * m.wall_s for m in single)
            mariadb = find_process("mariadbd", "mysqld")
            for r in range(rounds):
                for k, variant in enumerate(variants):
                    name = variant.name
                    first_user = FIRST_USER + 100_000 * r + 10_000 * k
                    environment = {
                        **bot_environment(botapi, database_url, tfserving),
                        **variant.environment,
                    }
                    log = Path(tmp) / f"bot-{k}.log"
                    async with bot_process(
                        botapi,
                        environment,
                        log,
                        http=variant.http,
                        loop=variant.loop,
                        argv=variant.argv,
                        cwd=variant.cwd,
                    ) as running:
                        pids: dict[str, int | None] = {
                            "bot": running.pid,
                            "TF Serving stand-in": tfserving_pid,
                            "Bot API stand-in": botapi.pid,
                        }
                        if database_note.startswith("MariaDB") and mariadb:
                            pids["MariaDB server"] = mariadb
                        meter = CpuMeter(pids)
                        webhook = environment["WEBHOOK_URL"]
                        args = (meter, botapi, webhook, database_url)
                        await end_to_end(
                            *args, 2 * users, users, len(photos), first_user=first_user
                        )
                        burst = await end_to_end(
                            *args, n, users, len(photos), first_user=first_user + 1_000
                        )
                        for process_name, seconds in burst.cpu_s.items():
                            per_photo = 1000 * seconds / burst.photos
                            runs[name].cpu_ms.setdefault(process_name, []).append(per_photo)
                        runs[name].photos_per_s.append(burst.throughput)
                        runs[name].idle.append(
                            await idle_run(botapi, webhook, idle, len(photos), first_user + 5_000)
                        )
                        if profile_dir is not None and r == rounds - 1:
                            out = profile_dir / f"profile-{k}-{variant.http}-{variant.loop}.txt"
                            async with profiling(running.pid, out):
                                await end_to_end(
                                    *args, n, users, len(photos), first_user=first_user + 7_000
                                )
                            runs[name].profile = out
    report_compare(runs, model_ms, n, users, rounds, idle, database_note, baseline)


CPU_TARGET_MS = 8.0
IDLE_OVERHEAD_TARGET_MS = 15.0


def targets_table(runs: dict[str, VariantRun]) -> str:
    """The issue-11 rows this mode measures: one column per variant, then the target, and
    whether the shipped variant (aiohttp, asyncio) meets it ("not run" when it was left out)."""
    cpu = {name: statistics.mean(run.cpu_ms["bot"]) for name, run in runs.items()}
    idle = {name: run.idle_reply_ms - run.idle_model_call_ms for name, run in runs.items()}

    def shipped_verdict(figures: dict[str, float], target: float) -> str:
        return (
            verdict(figures[SHIPPED_VARIANT] <= target) if SHIPPED_VARIANT in figures else "not run"
        )

    header = ["figure", *runs, "target", "shipped"]
    rows = [
        [
            "bot CPU per answered photo (ms)",
            *(f"{cpu[name]:.1f}" for name in runs),
            f"<= {CPU_TARGET_MS:g}",
            shipped_verdict(cpu, CPU_TARGET_MS),
        ],
        [
            "update → reply overhead at idle minus the model call (ms)",
            *(f"{idle[name]:.1f}" for name in runs),
            f"<= {IDLE_OVERHEAD_TARGET_MS:g}",
            shipped_verdict(idle, IDLE_OVERHEAD_TARGET_MS),
        ],
    ]
    return markdown_table(header, rows)


def report_compare(
    runs: dict[str, VariantRun],
    model_ms: float,
    n: int,
    users: int,
    rounds: int,
    idle: int,
    database_note: str,
    baseline: Baseline | None,
) -> None:
    print(
        f"\nbot in its own process (bench.serve_bot, webhook mode, as shipped); {rounds} rounds of "
        f"{n} photos from {users} users per variant, variants interleaved; {os.cpu_count()} CPUs"
    )
    print(f"database: {database_note}; TF Serving and Bot API stand-ins in their own processes\n")
    if baseline is not None:
        print(f"baseline {baseline.describe()}\n")
    before_name = next(iter(runs))
    print(f"issue 11 targets (first column = before: {before_name}):")
    print(targets_table(runs))
    print()
    names = list(next(iter(runs.values())).cpu_ms)
    width = max(24, *map(len, runs))
    header = ["variant".ljust(width), *(f"{p} CPU ms/photo" for p in names)]
    tail = ["burst photos/s", "idle reply p50 ms", "bot's model call ms", "idle overhead ms"]
    print("| " + " | ".join(header + tail) + " |")
    print("|" + "|".join("-" * (len(h) + 2) for h in header + tail) + "|")
    before = runs[before_name]
    for name, run in runs.items():
        cells = [
            f"{statistics.mean(run.cpu_ms[p]):>{len(h)}.1f}"
            for p, h in zip(names, header[1:], strict=True)
        ]
        reply, model_call = run.idle_reply_ms, run.idle_model_call_ms
        cells += [
            f"{statistics.mean(run.photos_per_s):>14.1f}",
            f"{reply:>17.1f}",
            f"{model_call:>19.1f}",
            f"{reply - model_call:>16.1f}",
        ]
        print(f"| {name:<{width}} | " + " | ".join(cells) + " |")
    print(
        f"\nidle: {idle} photos per round, one at a time, {IDLE_PAUSE_S} s apart; overhead = reply "
        "p50 minus the model call (gRPC to the stand-in) as the bot timed it [target <= 15 ms];\n"
        f"the model alone in this process, concurrency 1: median {model_ms:.1f} ms"
    )
    print("\nbot CPU per photo, per round (ms):")
    for name, run in runs.items():
        per_round = ", ".join(f"{v:.1f}" for v in run.cpu_ms["bot"])
        ratio = statistics.mean(run.cpu_ms["bot"]) / statistics.mean(before.cpu_ms["bot"])
        print(f"- {name}: {per_round}  ({ratio:.2f}× {before_name}) [target <= 8 ms]")
    print("\nburst throughput, photos/s per round (issue 9: not below the before's, >= 95 %):")
    for name, run in runs.items():
        per_round = ", ".join(f"{v:.1f}" for v in run.photos_per_s)
        ratio = statistics.mean(run.photos_per_s) / statistics.mean(before.photos_per_s)
        print(f"- {name}: {per_round}  ({ratio:.0%} of {before_name})")
    for name, run in runs.items():
        if run.profile is not None and run.profile.exists():
            print(f"\nprofile of the bot, {name} ({run.profile.name}):")
            print("\n".join(summarize_profile(run.profile)))


def variant_keys(value: str) -> list[str]:
    keys = [key.strip() for key in value.split(",") if key.strip()]
    unknown = [key for key in keys if key not in VARIANTS]
    if unknown or not keys:
        raise argparse.ArgumentTypeError(
            f"unknown variant(s) {', '.join(unknown) or '(none given)'}; choose from "
            + ",".join(VARIANTS)
        )
    return list(dict.fromkeys(keys))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photos", type=int, default=120, help="photo updates (N)")
    parser.add_argument("--users", type=int, default=8, help="distinct users (M)")
    parser.add_argument(
        "--compare",
        action="store_true",
        help="side by side: the bot in its own process, HTTPXRequest vs aiohttp, asyncio vs uvloop",
    )
    parser.add_argument("--rounds", type=int, default=2, help="--compare: rounds per variant")
    parser.add_argument("--idle", type=int, default=12, help="--compare: idle photos per round")
    parser.add_argument(
        "--profile", type=Path, default=None, help="--compare: write py-spy profiles into DIR"
    )
    parser.add_argument(
        "--baseline",
        metavar="REF",
        default=None,
        help="--compare: also run the bot as it was at this git commit/branch, first, as 'before'",
    )
    parser.add_argument(
        "--variants",
        type=variant_keys,
        default=list(VARIANTS),
        help=f"--compare: comma-separated, of {','.join(VARIANTS)} (default: all)",
    )
    args = parser.parse_args()
    if not MODEL_DIR.is_dir():
        raise SystemExit(f"needs the shared model at {MODEL_DIR}")
    if args.compare:
        if args.profile is not None:
            args.profile.mkdir(parents=True, exist_ok=True)
        with ExitStack() as stack:
            baseline = None
            if args.baseline is not None:
                baseline = stack.enter_context(baseline_checkout(args.baseline))
                print(f"baseline {baseline.describe()}", flush=True)
            variants = chosen_variants(args.variants, baseline)
            asyncio.run(
                compare(
                    args.photos,
                    args.users,
                    args.rounds,
                    args.idle,
                    args.profile,
                    variants,
                    baseline,
                )
            )
    else:
        asyncio.run(run(args.photos, args.users))


if __name__ == "__main__":
    main()
