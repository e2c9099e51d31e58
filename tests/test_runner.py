"""`python -m bot run` as a real process: both modes, graceful SIGTERM, and start-up failures.

The Bot API and TF Serving stand-ins run in this test process; the bot talks to them over loopback.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.support.botapi_standin import BotApiStandIn
from tests.support.sql import fetch
from tests.support.tfserving_standin import TFServingStandIn

PROJECT_ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT_S = 90.0
WAIT_S = 30.0
SECRET = "runner-secret_42"
USER = 5_000_000_001


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class BotProcess:
    process: asyncio.subprocess.Process
    port: int
    stderr_path: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    async def get(self, path: str) -> tuple[int, Any]:
        timeout = aiohttp.ClientTimeout(total=10)
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.get(self.base_url + path) as response,
        ):
            if response.content_type == "application/json":
                return response.status, await response.json()
            return response.status, await response.text()

    async def wait_serving(self) -> None:
        """Wait until /healthz answers 200 (the process migrated, started and listens)."""
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.returncode is not None:
                raise AssertionError(f"bot exited with {self.process.returncode}:\n{self.stderr}")
            try:
                status, _ = await self.get("/healthz")
                if status == 200:
                    return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
        raise AssertionError(
            f"bot did not serve /healthz within {START_TIMEOUT_S}s:\n{self.stderr}"
        )

    async def terminate(self) -> int:
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        return await asyncio.wait_for(self.process.wait(), WAIT_S + 30)


def _env(**values: str) -> dict[str, str]:
    """A clean environment: only what the bot needs, nothing inherited that could change it."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "LANG": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    env.update(values)
    return env


async def _start(env: dict[str, str], cwd: Path, stderr: Any) -> asyncio.subprocess.Process:
    """`python -m bot run`, as an operator starts it, with only `env` as its environment."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "run",
        env=env,
        cwd=cwd,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=stderr,
    )


async def _run_to_end(env: dict[str, str], cwd: Path) -> tuple[int, str]:
    process = await _start(env, cwd, asyncio.subprocess.PIPE)
    _, stderr = await asyncio.wait_for(process.communicate(), START_TIMEOUT_S)
    assert process.returncode is not None
    return process.returncode, stderr.decode()


@asynccontextmanager
async def bot_process(env: dict[str, str], cwd: Path) -> AsyncIterator[BotProcess]:
    port = int(env["LISTEN_PORT"])
    stderr_path = cwd / "bot.stderr"
    with stderr_path.open("wb") as stderr:
        process = await _start(env, cwd, stderr)
    bot = BotProcess(process, port, stderr_path)
    try:
        yield bot
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


@pytest.fixture
def bot_env(
    botapi: BotApiStandIn, tfserving_standin: TFServingStandIn, tmp_path: Path
) -> dict[str, str]:
    return _env(
        TELEGRAM_BOT_TOKEN=botapi.token,
        TELEGRAM_API_URL=botapi.url,
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'data' / 'bot.db'}",
        TFSERVING_ADDRESS=tfserving_standin.address,
        MODEL_NAME=tfserving_standin.model_name,
        LISTEN_HOST="127.0.0.1",
        LISTEN_PORT=str(_free_port()),
        LOG_LEVEL="INFO",
    )


@pytest.fixture
def photo(photos_dir: Path) -> bytes:
    return (photos_dir / "cat_chelsea.jpg").read_bytes()


async def _detections(database_url: str) -> list[tuple[Any, ...]]:
    return await fetch(database_url, "SELECT chat_id, message_id, status FROM detections")


async def test_polling_mode_answers_a_photo_and_stops_cleanly_on_sigterm(
    botapi: BotApiStandIn, bot_env: dict[str, str], photo: bytes, tmp_path: Path
) -> None:
    async with bot_process(bot_env, tmp_path) as bot:
        await bot.wait_serving()
        update = botapi.push_update(botapi.private_photo_update(USER, photo))

        (reply,) = await botapi.wait_for("sendPhoto", timeout=WAIT_S)

        assert reply.chat_id == USER
        assert reply.reply_to == update["message"]["message_id"]
        assert botapi.commands, "setMyCommands was not called"
        assert await bot.terminate() == 0
    assert "polling mode" in bot.stderr
    assert botapi.token not in bot.stderr
    rows = await _detections(bot_env["DATABASE_URL"])
    assert rows == [(USER, update["message"]["message_id"], "ok")]


async def test_webhook_mode_registers_the_webhook_with_its_secret_and_serves_healthz(
    botapi: BotApiStandIn, bot_env: dict[str, str], photo: bytes, tmp_path: Path
) -> None:
    port = bot_env["LISTEN_PORT"]
    webhook_url = f"http://127.0.0.1:{port}/hooks/telegram"
    env = {
        **bot_env,
        "WEBHOOK_URL": webhook_url,
        "WEBHOOK_PATH": "/hooks/telegram",
        "WEBHOOK_SECRET": SECRET,
    }
    async with bot_process(env, tmp_path) as bot:
        await bot.wait_serving()
        (call,) = await botapi.wait_for("setWebhook", timeout=WAIT_S)
        assert call.params["url"] == webhook_url
        assert call.params["secret_token"] == SECRET
        status, health = await bot.get("/healthz")
        assert status == 200
        assert (health["database"], health["detector"]) == ("up", "up")

        update = botapi.private_photo_update(USER, photo)
        assert await botapi.deliver_webhook(update) == 200
        await botapi.wait_for("sendPhoto", timeout=WAIT_S)
        assert await bot.terminate() == 0
    assert "webhook mode" in bot.stderr
    assert SECRET not in bot.stderr
    assert botapi.token not in bot.stderr


async def _wait_in_flight(bot: BotProcess) -> None:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        _, metrics = await bot.get("/metrics")
        if "detectx_detections_in_flight 1.0" in metrics:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the detection never started")


async def test_sigterm_during_a_detection_sends_its_reply_and_records_it_before_exit(
    botapi: BotApiStandIn,
    tfserving_standin: TFServingStandIn,
    bot_env: dict[str, str],
    photo: bytes,
    tmp_path: Path,
) -> None:
    async with bot_process(bot_env, tmp_path) as bot:
        await bot.wait_serving()
        tfserving_standin.latency_s = 2.0
        update = botapi.push_update(botapi.private_photo_update(USER, photo))
        await _wait_in_flight(bot)
        assert botapi.calls_to("sendPhoto") == []

        assert await bot.terminate() == 0
    (reply,) = botapi.calls_to("sendPhoto")
    assert reply.reply_to == update["message"]["message_id"]
    rows = await _detections(bot_env["DATABASE_URL"])
    assert rows == [(USER, update["message"]["message_id"], "ok")]


async def test_an_unreachable_database_stops_start_up_with_one_line_and_a_masked_password(
    bot_env: dict[str, str], tmp_path: Path
) -> None:
    closed_port = _free_port()
    env = {
        **bot_env,
        "DATABASE_URL": f"mysql+aiomysql://detectx:hunter2pw@127.0.0.1:{closed_port}/detectbot",
    }

    code, stderr = await _run_to_end(env, tmp_path)

    assert code != 0
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "database unavailable" in lines[0]
    assert f"127.0.0.1:{closed_port}" in lines[0]
    assert "hunter2pw" not in stderr
    assert "***" in lines[0]


async def test_a_missing_token_stops_start_up_with_a_clear_line(
    bot_env: dict[str, str], tmp_path: Path
) -> None:
    env = {k: v for k, v in bot_env.items() if k != "TELEGRAM_BOT_TOKEN"}

    code, stderr = await _run_to_end(env, tmp_path)

    assert code != 0
    assert stderr.strip().splitlines() == [
        "detectbot: TELEGRAM_BOT_TOKEN: required; get one from @BotFather"
    ]
    assert not (tmp_path / "data").exists(), "nothing should start without a token"


async def test_plain_http_bot_api_off_this_machine_is_warned_about_at_start(
    bot_env: dict[str, str], tmp_path: Path
) -> None:
    env = {
        **bot_env,
        "TELEGRAM_API_URL": "http://192.0.2.10:8081",
        "DATABASE_URL": f"mysql+aiomysql://root@127.0.0.1:{_free_port()}/detectbot",
    }

    code, stderr = await _run_to_end(env, tmp_path)

    assert code != 0
    warnings = [line for line in stderr.splitlines() if "travels unencrypted" in line]
    assert len(warnings) == 1, stderr
    assert "WARNING" in warnings[0] and "http:// to 192.0.2.10" in warnings[0]
    assert env["TELEGRAM_BOT_TOKEN"] not in stderr
