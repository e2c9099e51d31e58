"""Logging setup: one stderr handler, text or JSON lines, and the redaction of secrets.

Secrets (the bot token above all: python-telegram-bot puts it in `InvalidToken` messages, Bot API
URLs and downloaded files' paths) are removed at one point every log record passes through: the
`RedactionFilter` on the root logger's handlers rewrites the message, its arguments, the exception
text and the stack before any formatter sees them. What the CLI writes to stdout and stderr
itself (its error lines, a traceback nobody caught) goes through the same `Redactor` by way of
`RedactingStream`.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TextIO, cast
from urllib.parse import quote, urlsplit

from bot.config import Settings
from bot.log_context import LOG_FIELDS, current_log_context

REDACTED = "***"
# Shorter values would garble ordinary text; every real secret here is far longer.
MIN_SECRET_LENGTH = 6
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Loggers that print every request URL (with the token in it) at INFO: only at DEBUG they speak.
CHATTY_LOGGERS = ("httpx", "httpcore")


class Redactor:
    """Replaces each secret (and its URL-encoded form) with `***`."""

    def __init__(self, secrets: Iterable[str]) -> None:
        forms = set()
        for secret in secrets:
            if len(secret) >= MIN_SECRET_LENGTH:
                forms.update({secret, quote(secret, safe="")})
        self._secrets = sorted(forms, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text

    def __bool__(self) -> bool:
        return bool(self._secrets)


def secrets_of(settings: Settings) -> list[str]:
    """What must never be printed: the bot token's secret half (the part before ':' is the bot's
    public id), the webhook secret and the database password."""
    found: list[str] = []
    if settings.telegram_bot_token is not None:
        token = settings.telegram_bot_token.get_secret_value()
        bot_id, colon, secret = token.partition(":")
        found.append(secret if colon and bot_id.isdigit() else token)
    found.append(settings.webhook_secret.get_secret_value())
    try:
        password = urlsplit(settings.database_url).password
    except ValueError:
        password = None
    if password:
        found.append(password)
    return found


class RedactionFilter(logging.Filter):
    """Rewrites a record so that no field a formatter reads holds a secret."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self._redact = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            # A record whose arguments do not fit its format: filters run outside the handler's
            # error handling, so show both rather than raise in the caller.
            message = f"{record.msg!r} % {record.args!r}"
        record.msg = self._redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self._redact(record.stack_info)
        return True


class ContextFilter(logging.Filter):
    """Copies the update / chat / detection ids of the current context onto the record."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = current_log_context()
        for name in LOG_FIELDS:
            setattr(record, name, context.get(name))
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the context ids that are known,
    and the exception with its traceback."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in LOG_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(entry, ensure_ascii=False, default=str)


class RedactingStream:
    """A text stream that redacts what is written before passing it on."""

    def __init__(self, stream: TextIO, redactor: Redactor) -> None:
        self._stream = stream
        self._redact = redactor

    def write(self, text: str) -> int:
        self._stream.write(self._redact(text))
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def make_handler(settings: Settings, redactor: Redactor, stream: TextIO) -> logging.Handler:
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactionFilter(redactor))
    handler.addFilter(ContextFilter())
    formatter = JsonFormatter() if settings.log_format == "json" else logging.Formatter(TEXT_FORMAT)
    handler.setFormatter(formatter)
    return handler


def configure_logging(settings: Settings, stream: TextIO | None = None) -> Redactor:
    """Send every log record to `stream` (stderr) in the configured format, redacted."""
    redactor = Redactor(secrets_of(settings))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
        old.close()
    root.addHandler(make_handler(settings, redactor, stream or sys.stderr))
    root.setLevel(settings.log_level)
    chatty_level = (
        logging.DEBUG if root.level <= logging.DEBUG else max(logging.WARNING, root.level)
    )
    for name in CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(chatty_level)
    logging.captureWarnings(True)
    return redactor


@contextmanager
def redacted_output(redactor: Redactor) -> Iterator[None]:
    """Redact everything written to sys.stdout and sys.stderr inside the block."""
    stdout, stderr = sys.stdout, sys.stderr
    sys.stdout = cast(TextIO, RedactingStream(stdout, redactor))
    sys.stderr = cast(TextIO, RedactingStream(stderr, redactor))
    try:
        yield
    finally:
        sys.stdout, sys.stderr = stdout, stderr
