"""The processes a benchmark runs the bot against, shared by the benches (not a bench itself).

Each part runs in its own process, as in production: the TF Serving stand-in with the real model
(`bench.serve_standin`), the Bot API stand-in with a control API (`bench.serve_botapi`), the bot
as `detectbot run` runs it (`bench.serve_bot`), and a fresh MariaDB database. Also: CPU time and
resident memory of a process, read from /proc.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from db.migrate import upgrade
from db.session import mask_url

SHARED = Path(__file__).resolve().parents[2] / "shared"
MODEL_DIR = SHARED / "models" / "ssd_mobilenet_v1_coco"
PHOTOS_DIR = SHARED / "photos"
DEFAULT_MYSQL_URL = "mysql+aiomysql://root@127.0.0.1:3306/detectx_test?charset=utf8mb4"
SECRET = "e2e-bench-secret"
BOT_START_TIMEOUT_S = 120.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def shared_photos() -> list[Path]:
    return sorted(PHOTOS_DIR.glob("*.jpg"))


# ---- /proc ---------------------------------------------------------------------------------------


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU time of a process (this one when pid is None), all threads."""
    if pid is None:
        return time.process_time()
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_bytes(pid: int) -> int:
    """Resident set size of a process (VmRSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def find_process(*names: str) -> int | None:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() in names:
                    return int(entry.name)
            except OSError:
                continue
    return None


# ---- database ------------------------------------------------------------------------------------


async def prepare_database(database: str, tmp: Path) -> tuple[str, str]:
    """A fresh migrated database `database` on the MariaDB of DETECTX_TEST_MYSQL_URL (default
    root@127.0.0.1:3306), else SQLite in `tmp`; (url, note saying which)."""
    base = os.environ.get("DETECTX_TEST_MYSQL_URL", DEFAULT_MYSQL_URL)
    url = make_url(base).set(database=database).render_as_string(hide_password=False)
    admin = create_async_engine(make_url(base).set(database=None), poolclass=NullPool)
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f"DROP DATABASE IF EXISTS `{database}`"))
            await conn.execute(
                text(
                    f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
                )
            )
    except Exception as exc:
        url = f"sqlite+aiosqlite:///{tmp / 'bench.db'}"
        note = f"SQLite (MariaDB at {mask_url(base)} unavailable: {type(exc).__name__})"
    else:
        note = f"MariaDB ({mask_url(url)})"
    finally:
        await admin.dispose()
    await upgrade(url)
    return url, note


# ---- helper processes ----------------------------------------------------------------------------


@asynccontextmanager
async def helper_process(
    module: str, *args: str, ready: str, timeout_s: float
) -> AsyncIterator[tuple[list[str], int]]:
    """A `python -m module args` helper that prints `ready ...` once serving and serves until
    its stdin closes; yields the words of that line and its pid."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        module,
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    assert process.stdout is not None and process.stdin is not None
    try:
        line = (await asyncio.wait_for(process.stdout.readline(), timeout_s)).decode().split()
        if not line or line[0] != ready:
            raise SystemExit(f"{module} did not start")
        yield line, process.pid
    finally:
        process.stdin.close()
        try:
            await asyncio.wait_for(process.wait(), 10)
        except TimeoutError:
            process.kill()
            await process.wait()


@asynccontextmanager
async def tfserving_process() -> AsyncIterator[tuple[str, int]]:
    """The TF Serving stand-in serving the shared model as `detector`: (address, pid)."""
    async with helper_process(
        "bench.serve_standin", str(MODEL_DIR), ready="PORT", timeout_s=120
    ) as (line, pid):
        yield f"127.0.0.1:{line[1]}", pid


@dataclass
class BotApi:
    """The Bot API stand-in process: its Bot API URL and token, and its control API."""

    url: str
    token: str
    control: str
    session: aiohttp.ClientSession
    pid: int

    async def photo_updates(self, items: list[tuple[int, int]]) -> list[dict[str, Any]]:
        """Private photo updates, one per (user id, shared photo index), without update ids."""
        async with self.session.post(f"{self.control}/photo_updates", json={"items": items}) as r:
            r.raise_for_status()
            updates: list[dict[str, Any]] = await r.json()
            return updates

    async def calls(self, method: str, since: int = 0) -> list[dict[str, Any]]:
        """Successful `method` calls among the calls from the `since`-th on (all methods)."""
        async with self.session.get(f"{self.control}/calls", params={"since": since}) as r:
            r.raise_for_status()
            calls: list[dict[str, Any]] = await r.json()
        return [c for c in calls if c["method"] == method and c["status"] == 200]

    async def counts(self) -> tuple[int, dict[str, int]]:
        """Calls recorded so far (all), and successful ones per method."""
        async with self.session.get(f"{self.control}/counts") as r:
            r.raise_for_status()
            body: dict[str, Any] = await r.json()
        return int(body["total"]), {k: int(v) for k, v in body["ok"].items()}

    async def count(self, method: str) -> int:
        return (await self.counts())[1].get(method, 0)

    async def wait_count(self, method: str, count: int, within_s: float) -> None:
        deadline = time.monotonic() + within_s
        while (seen := await self.count(method)) < count:
            if time.monotonic() > deadline:
                raise SystemExit(f"only {seen} of {count} {method} calls arrived")
            await asyncio.sleep(0.1)

    async def wait_calls(self, method: str, count: int, within_s: float) -> list[dict[str, Any]]:
        await self.wait_count(method, count, within_s)
        return await self.calls(method)


@asynccontextmanager
async def botapi_process(photo_paths: list[Path]) -> AsyncIterator[BotApi]:
    async with (
        helper_process(
            "bench.serve_botapi", *map(str, photo_paths), ready="PORTS", timeout_s=60
        ) as (line, pid),
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session,
    ):
        yield BotApi(
            f"http://127.0.0.1:{line[1]}", line[3], f"http://127.0.0.1:{line[2]}", session, pid
        )


# ---- the bot in its own process ------------------------------------------------------------------


def bot_environment(botapi: BotApi, database_url: str, tfserving: str) -> dict[str, str]:
    """Settings of a bot on these stand-ins and database, webhook on a free port."""
    port = free_port()
    return {
        "TELEGRAM_BOT_TOKEN": botapi.token,
        "TELEGRAM_API_URL": botapi.url,
        "DATABASE_URL": database_url,
        "TFSERVING_ADDRESS": tfserving,
        "MODEL_NAME": "detector",
        "WEBHOOK_URL": f"http://127.0.0.1:{port}/telegram",
        "WEBHOOK_SECRET": SECRET,
        "LISTEN_HOST": "127.0.0.1",
        "LISTEN_PORT": str(port),
        "USER_RATE_LIMIT_PER_MINUTE": "10000",
        "LOG_LEVEL": "WARNING",
    }


@dataclass
class BotProcess:
    """A running `bench.serve_bot`."""

    process: asyncio.subprocess.Process
    environment: dict[str, str]

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def webhook_url(self) -> str:
        return self.environment["WEBHOOK_URL"]

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in an OOM kill or a node failure."""
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGKILL)


@asynccontextmanager
async def bot_process(
    botapi: BotApi,
    environment: dict[str, str],
    log: Path,
    *,
    http: str = "aiohttp",
    loop: str = "asyncio",
    argv: Sequence[str] | None = None,
    cwd: Path | None = None,
) -> AsyncIterator[BotProcess]:
    """`bench.serve_bot` (`detectbot run`) with these settings, once its webhook is registered;
    stopped with SIGTERM at the end unless it was killed. `argv` (after `python`) and `cwd`
    replace that command and the working directory, as for a baseline checkout."""
    registered = await botapi.count("setWebhook")
    command = argv or ("-m", "bench.serve_bot", "--http", http, "--loop", loop)
    with log.open("ab") as stderr:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            *command,
            cwd=cwd,
            env={**os.environ, **environment},
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=stderr,
        )
    try:
        deadline = time.monotonic() + BOT_START_TIMEOUT_S
        while await botapi.count("setWebhook") <= registered:
            if process.returncode is not None or time.monotonic() > deadline:
                output = await asyncio.to_thread(log.read_text)
                raise SystemExit(f"bot ({' '.join(command)}) did not start:\n{output[-2000:]}")
            await asyncio.sleep(0.05)
        yield BotProcess(process, environment)
    finally:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 60)
            except TimeoutError:
                process.kill()
                await process.wait()
