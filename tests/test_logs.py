"""Logging setup: the redaction point, JSON lines and the update / chat / detection context."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import sys
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import SecretStr

from bot.config import Settings
from bot.log_context import bind_log_context, log_context
from bot.logs import configure_logging, redacted_output

TOKEN = "111222333:AAExampleSecretPartOfTheToken_987654"
SECRET = TOKEN.split(":", 1)[1]
WEBHOOK_SECRET = "webhook-secret_0123456789"


def _settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "telegram_bot_token": SecretStr(TOKEN),
        "webhook_secret": SecretStr(WEBHOOK_SECRET),
        "database_url": "mysql+aiomysql://bot:db-password-42@db:3306/detectx",
        "log_level": "DEBUG",
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(False)


def _configured(**overrides: Any) -> io.StringIO:
    stream = io.StringIO()
    configure_logging(_settings(**overrides), stream)
    return stream


def test_the_token_is_removed_from_messages_arguments_tracebacks_and_stacks(
    restore_logging: None,
) -> None:
    stream = _configured()
    log = logging.getLogger("tests.redaction")

    log.info("calling https://api/bot%s/getMe", TOKEN)
    log.warning(f"url-encoded bot{TOKEN.replace(':', '%3A')}/getFile")
    try:
        raise RuntimeError(f"The token `{TOKEN}` was rejected by the server.")
    except RuntimeError:
        log.exception("start failed")
    log.error("webhook secret %s, database password %s", WEBHOOK_SECRET, "db-password-42")
    log.debug("where am I, with %s", SECRET, stack_info=True)

    text = stream.getvalue()
    for secret in (SECRET, WEBHOOK_SECRET, "db-password-42"):
        assert secret not in text
    assert "bot111222333:***/getMe" in text
    assert "bot111222333%3A***/getFile" in text
    assert "RuntimeError: The token `111222333:***` was rejected" in text
    assert "Traceback (most recent call last)" in text
    assert "Stack (most recent call last)" in text


def test_a_record_whose_arguments_do_not_fit_is_still_written_and_redacted(
    restore_logging: None,
) -> None:
    stream = _configured()

    logging.getLogger("tests.bad").warning("token %s and %d", TOKEN, "not a number")

    assert "111222333:***" in stream.getvalue()
    assert SECRET not in stream.getvalue()


def test_warnings_go_through_the_same_redaction(restore_logging: None) -> None:
    stream = _configured()

    warnings.warn(f"something about {TOKEN}", UserWarning, stacklevel=1)

    assert "something about 111222333:***" in stream.getvalue()
    assert SECRET not in stream.getvalue()


def test_cli_output_written_to_stdout_and_stderr_is_redacted(
    restore_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    redactor = configure_logging(_settings(), io.StringIO())

    with redacted_output(redactor):
        print(f"detectbot: Telegram Bot API: The token `{TOKEN}` was rejected", flush=True)
        print(f"stderr {TOKEN}", file=sys.stderr)

    out, err = capsys.readouterr()
    assert out == "detectbot: Telegram Bot API: The token `111222333:***` was rejected\n"
    assert err == "stderr 111222333:***\n"


def test_json_format_writes_one_object_per_line_with_the_known_ids(
    restore_logging: None,
) -> None:
    stream = _configured(log_format="json", log_level="INFO")
    log = logging.getLogger("tests.json")

    log.info("outside")
    with log_context(update_id=7001, chat_id=-1001234567890):
        log.info("inside %s", "an update")
        bind_log_context(detection_id=42)
        try:
            raise ValueError(f"boom {TOKEN}")
        except ValueError:
            log.exception("after the detection")
    log.info("outside again")

    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [r["message"] for r in records] == [
        "outside",
        "inside an update",
        "after the detection",
        "outside again",
    ]
    outside, inside, after, again = records
    assert {"update_id", "chat_id", "detection_id"}.isdisjoint(outside.keys() | again.keys())
    assert (inside["update_id"], inside["chat_id"]) == (7001, -1001234567890)
    assert "detection_id" not in inside
    assert after["detection_id"] == 42
    assert after["level"] == "ERROR" and after["logger"] == "tests.json"
    assert "ValueError: boom 111222333:***" in after["exception"]
    assert SECRET not in stream.getvalue()


async def test_concurrent_updates_keep_their_own_ids(restore_logging: None) -> None:
    stream = _configured(log_format="json", log_level="INFO")
    log = logging.getLogger("tests.tasks")
    both_inside = asyncio.Barrier(2)

    async def handle(update_id: int, chat_id: int) -> None:
        with log_context(update_id=update_id, chat_id=chat_id):
            bind_log_context(detection_id=update_id * 10)
            await both_inside.wait()
            log.info("handled %d", update_id)

    await asyncio.gather(handle(1, 100), handle(2, 200))

    records = {r["update_id"]: r for r in map(json.loads, stream.getvalue().splitlines())}
    assert (records[1]["chat_id"], records[1]["detection_id"]) == (100, 10)
    assert (records[2]["chat_id"], records[2]["detection_id"]) == (200, 20)


def test_log_format_is_text_or_json() -> None:
    assert _settings(log_format="JSON").log_format == "json"
    with pytest.raises(ValueError, match="log_format"):
        _settings(log_format="xml")
