"""Real `python -m bot run` processes in webhook mode, several on one database, and a client that
posts updates to them the way Telegram (through a load balancer) does."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from tests.support.botapi_standin import BotApiStandIn, JSONDict
from tests.support.tfserving_standin import TFServingStandIn

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SECRET = "replica-secret_1"
START_TIMEOUT_S = 60.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Replica:
    name: str
    process: asyncio.subprocess.Process
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    @property
    def alive(self) -> bool:
        return self.process.returncode is None

    async def post(self, update: JSONDict, session: aiohttp.ClientSession) -> int:
        """POST the update to this replica's webhook; the status (0 when nothing answered)."""
        headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
        try:
            async with session.post(f"{self.url}/telegram", json=update, headers=headers) as r:
                return r.status
        except (aiohttp.ClientError, TimeoutError):
            return 0

    async def wait_serving(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        timeout = aiohttp.ClientTimeout(total=5)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while time.monotonic() < deadline:
                if not self.alive:
                    raise AssertionError(f"{self.name} exited:\n{self.log}")
                try:
                    async with session.get(f"{self.url}/healthz") as response:
                        if response.status == 200:
                            return
                except (aiohttp.ClientError, TimeoutError):
                    pass
                await asyncio.sleep(0.1)
        raise AssertionError(f"{self.name} did not start:\n{self.log}")

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in an OOM kill or a node failure."""
        if self.alive:
            self.process.send_signal(signal.SIGKILL)

    async def terminate(self, timeout: float = 60) -> int:  # noqa: ASYNC109
        if self.alive:
            self.process.send_signal(signal.SIGTERM)
        return await asyncio.wait_for(self.process.wait(), timeout)


@dataclass
class Cluster:
    """Replicas sharing settings and a database, and a round-robin "load balancer"."""

    env: dict[str, str]
    workdir: Path
    replicas: list[Replica] = field(default_factory=list)
    _names: itertools.count[int] = field(default_factory=itertools.count)
    _turn: itertools.count[int] = field(default_factory=itertools.count)

    async def start(self, **overrides: str) -> Replica:
        n = next(self._names)
        port = free_port()
        env = {
            **self.env,
            **overrides,
            "LISTEN_PORT": str(port),
            "WEBHOOK_URL": f"http://127.0.0.1:{port}/telegram",
        }
        log_path = self.workdir / f"replica{n}.log"
        with log_path.open("wb") as log:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot",
                "run",
                env=env,
                cwd=PROJECT_ROOT,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=log,
            )
        replica = Replica(f"replica{n}", process, port, log_path)
        self.replicas.append(replica)
        await replica.wait_serving()
        return replica

    def alive(self) -> list[Replica]:
        return [r for r in self.replicas if r.alive]

    async def post_round_robin(
        self, updates: list[JSONDict], session: aiohttp.ClientSession
    ) -> list[int]:
        """Each update to the next live replica, as a load balancer spreads requests."""
        statuses = []
        for update in updates:
            live = self.alive()
            replica = live[next(self._turn) % len(live)]
            statuses.append(await replica.post(update, session))
        return statuses

    async def stop(self) -> None:
        for replica in self.replicas:
            replica.kill()
        for replica in self.replicas:
            await replica.process.wait()


def replica_env(
    botapi: BotApiStandIn, tfserving: TFServingStandIn, database_url: str, **values: str
) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "LANG": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
        "TELEGRAM_BOT_TOKEN": botapi.token,
        "TELEGRAM_API_URL": botapi.url,
        "DATABASE_URL": database_url,
        "TFSERVING_ADDRESS": tfserving.address,
        "MODEL_NAME": tfserving.model_name,
        "WEBHOOK_SECRET": SECRET,
        "LISTEN_HOST": "127.0.0.1",
        "INBOX_LEASE_S": "3",
        "ALBUM_QUIET_S": "0.5",
        "QUEUE_NOTICE_S": "30",
        "USER_RATE_LIMIT_PER_MINUTE": "1000",
        "LOG_LEVEL": "INFO",
    }
    env.update(values)
    return env


@asynccontextmanager
async def cluster(env: dict[str, str], workdir: Path) -> AsyncIterator[Cluster]:
    running = Cluster(env, workdir)
    try:
        yield running
    finally:
        await running.stop()


def client_session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15))


def replies_by_message(api: BotApiStandIn, chat_ids: set[int] | None = None) -> dict[Any, int]:
    """How many photo/album answers each (chat, message) got."""
    counts: dict[Any, int] = {}
    for call in api.calls:
        if call.ok and call.method in ("sendPhoto", "sendMediaGroup"):
            if chat_ids is not None and call.chat_id not in chat_ids:
                continue
            key = (call.chat_id, call.reply_to)
            counts[key] = counts.get(key, 0) + 1
    return counts
