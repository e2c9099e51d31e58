"""What a log line is about: the update, chat and detection being handled, as context variables.

Whoever handles an update opens `log_context(update_id=..., chat_id=...)` around the work; the
workflow adds `bind_log_context(detection_id=...)` once the detection has an id. Every log record
made inside carries those fields (see `bot.logs`). Context variables follow asyncio tasks, so
concurrent updates never see each other's ids.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from types import MappingProxyType

from telegram import Update

LOG_FIELDS = ("update_id", "chat_id", "detection_id")

_EMPTY: Mapping[str, int] = MappingProxyType({})
_current: ContextVar[Mapping[str, int]] = ContextVar("detectx_log_context", default=_EMPTY)


def current_log_context() -> Mapping[str, int]:
    """The fields known here, e.g. `{"update_id": 7, "chat_id": -100123}`."""
    return _current.get()


def _merged(fields: Mapping[str, int | None]) -> Mapping[str, int]:
    unknown = set(fields) - set(LOG_FIELDS)
    if unknown:
        raise ValueError(f"not log context fields: {sorted(unknown)}")
    merged = dict(_current.get())
    merged.update({name: value for name, value in fields.items() if value is not None})
    return MappingProxyType(merged)


@contextmanager
def log_context(**fields: int | None) -> Iterator[None]:
    """Add `fields` (None values are left out) for the duration of the block."""
    token = _current.set(_merged(fields))
    try:
        yield
    finally:
        _current.reset(token)


def bind_log_context(**fields: int | None) -> None:
    """Add `fields` until the enclosing `log_context` (or the current asyncio task) ends."""
    _current.set(_merged(fields))


def update_log_context(update: object) -> AbstractContextManager[None]:
    """`log_context` with the id of `update` and of its chat (when it is a Telegram update)."""
    if not isinstance(update, Update):
        return log_context()
    chat = update.effective_chat
    return log_context(update_id=update.update_id, chat_id=chat.id if chat else None)
