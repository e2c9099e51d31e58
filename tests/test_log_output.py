"""What `detectbot run` writes. The bot token never reaches any output, even at DEBUG and when
Telegram rejects it: stdout, stderr, /healthz and /metrics are searched for it. With
LOG_FORMAT=json every log line is one JSON object naming the update, chat and detection.

The bot runs as a real process against the Bot API and TF Serving stand-ins of this test process.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from tests.support.botapi_standin import BotApiStandIn
from tests.support.tfserving_standin import TFServingStandIn

TOKEN = "246813579:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawQ"
TOKEN_SECRET = TOKEN.split(":", 1)[1]
START_TIMEOUT_S = 90.0
WAIT_S = 30.0
USER = 5_000_000_077


class FileServerDown(BotApiStandIn):
    """The stand-in, except that files stored under `broken/` cannot be downloaded (502)."""

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["path"].startswith("broken/"):
            return web.Response(status=502, text="Bad Gateway")
        return await super()._handle_file(request)


@pytest.fixture
async def botapi() -> AsyncIterator[BotApiStandIn]:
    api = FileServerDown(token=TOKEN)
    await api.start()
    yield api
    await api.stop()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def bot_env(
    botapi: BotApiStandIn, tfserving_standin: TFServingStandIn, tmp_path: Path
) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "LANG": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_URL": botapi.url,
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'data' / 'bot.db'}",
        "TFSERVING_ADDRESS": tfserving_standin.address,
        "MODEL_NAME": tfserving_standin.model_name,
        "LISTEN_HOST": "127.0.0.1",
        "LISTEN_PORT": str(_free_port()),
        "LOG_LEVEL": "DEBUG",
    }


class Output:
    """Everything a `detectbot run` process wrote, plus what its HTTP endpoints answered."""

    def __init__(self, tmp_path: Path) -> None:
        self.stdout_path = tmp_path / "bot.stdout"
        self.stderr_path = tmp_path / "bot.stderr"
        self.http: list[str] = []

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    @property
    def everything(self) -> str:
        stdout = self.stdout_path.read_text(encoding="utf-8", errors="replace")
        return "\n".join([stdout, self.stderr, *self.http])

    def assert_no_token(self) -> None:
        text = self.everything
        assert TOKEN_SECRET not in text, _around(text, TOKEN_SECRET)
        assert TOKEN_SECRET.replace(":", "%3A") not in text


def _around(text: str, needle: str) -> str:
    at = text.find(needle)
    return text[max(0, at - 300) : at + 100]


async def _start(env: dict[str, str], cwd: Path, output: Output) -> asyncio.subprocess.Process:
    with output.stdout_path.open("wb") as stdout, output.stderr_path.open("wb") as stderr:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "run", env=env, cwd=cwd, stdout=stdout, stderr=stderr
        )


async def _get(port: str, path: str) -> tuple[int, str]:
    timeout = aiohttp.ClientTimeout(total=10)
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        session.get(f"http://127.0.0.1:{port}{path}") as response,
    ):
        return response.status, await response.text()


async def _wait_serving(process: asyncio.subprocess.Process, port: str, output: Output) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.returncode is not None:
            raise AssertionError(f"bot exited with {process.returncode}:\n{output.stderr}")
        try:
            if (await _get(port, "/healthz"))[0] == 200:
                return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.2)
    raise AssertionError(f"bot did not serve within {START_TIMEOUT_S}s:\n{output.stderr}")


async def _run_until_exit(env: dict[str, str], cwd: Path) -> tuple[int, Output]:
    output = Output(cwd)
    process = await _start(env, cwd, output)
    try:
        code = await asyncio.wait_for(process.wait(), START_TIMEOUT_S)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    return code, output


async def test_a_token_the_bot_api_rejects_with_401_is_not_printed(
    bot_env: dict[str, str], tmp_path: Path
) -> None:
    """The stand-in knows another token, so getMe answers 401 and PTB raises InvalidToken with
    the token in its message."""
    wrong = "135792468:AAFakeTokenTheServerDoesNotKnow_0987654"
    env = {**bot_env, "TELEGRAM_BOT_TOKEN": wrong}

    code, output = await _run_until_exit(env, tmp_path)

    assert code == 1
    assert "rejected" in output.stderr
    assert wrong.split(":", 1)[1] not in output.everything, output.stderr
    assert "135792468:***" in output.stderr


async def test_a_wrong_api_path_answered_with_404_does_not_print_the_token(
    botapi: BotApiStandIn, bot_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**bot_env, "TELEGRAM_API_URL": f"{botapi.url}/not-the-bot-api"}

    code, output = await _run_until_exit(env, tmp_path)

    assert code == 1
    assert "rejected" in output.stderr
    output.assert_no_token()
    assert "246813579:***" in output.stderr


@pytest.mark.parametrize("log_format", ["text", "json"])
async def test_failing_file_downloads_leave_no_token_in_logs_healthz_or_metrics(
    botapi: BotApiStandIn,
    bot_env: dict[str, str],
    photos_dir: Path,
    tmp_path: Path,
    log_format: str,
) -> None:
    """getFile failing with 500, and a file whose download fails (File.file_path holds the
    token), both at DEBUG, where every Bot API URL is logged."""
    env = {**bot_env, "LOG_FORMAT": log_format}
    port = env["LISTEN_PORT"]
    photo = (photos_dir / "cat_chelsea.jpg").read_bytes()
    output = Output(tmp_path)
    process = await _start(env, tmp_path, output)
    try:
        await _wait_serving(process, port, output)
        botapi.fail_next("getFile", 500, times=20)
        botapi.push_update(botapi.private_photo_update(USER, photo))
        (first,) = await botapi.wait_for("sendMessage", timeout=WAIT_S)
        botapi.clear_failures()
        file_id, unique_id = botapi.add_file(photo, folder="broken")
        update = botapi.private_photo_update(USER, photo)
        for size in update["message"]["photo"]:
            size["file_id"], size["file_unique_id"] = file_id, unique_id
        botapi.push_update(update)
        await botapi.wait_for("sendMessage", count=2, timeout=WAIT_S)
        for path in ("/healthz", "/metrics"):
            status, body = await _get(port, path)
            assert status == 200
            output.http.append(body)
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), WAIT_S + 30) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()

    assert first.chat_id == USER
    output.assert_no_token()
    # At DEBUG the request URLs are logged: the redaction point did its work, nothing was muted.
    assert "bot246813579:***/getFile" in output.stderr
    # PTB percent-encodes the file URL, ':' included.
    assert re.search(r"file/bot246813579(:|%3A)\*\*\*/broken/", output.stderr)
    if log_format == "json":
        json_lines(output.stderr)


# TensorFlow's C++ runtime writes to the file descriptor itself, outside Python's logging.
_TENSORFLOW_NATIVE_LINE = re.compile(
    r"^([IWEF]\d{4} \d\d:\d\d:\d\d|WARNING: All log messages before absl)"
)


def json_lines(stderr: str) -> list[dict[str, Any]]:
    """The log records of `stderr`, asserting that every line is one JSON object."""
    records = []
    for line in stderr.splitlines():
        if _TENSORFLOW_NATIVE_LINE.match(line):
            continue
        record = json.loads(line)
        assert isinstance(record, dict), line
        assert {"time", "level", "logger", "message"} <= record.keys(), line
        records.append(record)
    return records


async def test_json_log_lines_name_the_update_chat_and_detection_they_are_about(
    botapi: BotApiStandIn, bot_env: dict[str, str], photos_dir: Path, tmp_path: Path
) -> None:
    env = {**bot_env, "LOG_FORMAT": "json", "LOG_LEVEL": "INFO"}
    port = env["LISTEN_PORT"]
    photo = (photos_dir / "cat_chelsea.jpg").read_bytes()
    output = Output(tmp_path)
    process = await _start(env, tmp_path, output)
    try:
        await _wait_serving(process, port, output)
        botapi.fail_next("getFile", 500, times=20)
        failed_download = botapi.push_update(botapi.private_photo_update(USER, photo))
        await botapi.wait_for("sendMessage", timeout=WAIT_S)
        botapi.clear_failures()
        botapi.fail_next("sendPhoto", 400, description="Bad Request: PHOTO_INVALID_DIMENSIONS")
        refused_reply = botapi.push_update(botapi.private_photo_update(USER, photo))
        await botapi.wait_for("sendPhoto", timeout=WAIT_S, ok_only=False)
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), WAIT_S + 30) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()

    records = json_lines(output.stderr)
    (download,) = [r for r in records if r["message"].startswith("download of")]
    assert download["level"] == "WARNING"
    assert download["update_id"] == failed_download["update_id"]
    assert download["chat_id"] == USER
    assert "detection_id" not in download
    (refused,) = [r for r in records if "refused by Telegram" in r["message"]]
    assert refused["update_id"] == refused_reply["update_id"]
    assert refused["chat_id"] == USER
    assert isinstance(refused["detection_id"], int)
    started = next(r for r in records if r["message"].startswith("starting in"))
    assert started.keys().isdisjoint({"update_id", "chat_id", "detection_id"})
