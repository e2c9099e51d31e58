"""Long polling that never loses an update: store a batch, and only then ask for the next offset.

python-telegram-bot's Updater confirms updates as soon as it fetched them (the next getUpdates
carries the new offset) and keeps them in memory; a crash then loses them. Here the offset moves
past an update only once it is committed to the inbox, and updates are handled only from there.
While the database cannot store a batch, the poller keeps retrying that batch with backoff (each
attempt bounded by the repository's DB_TIMEOUT_S) and asks Telegram for nothing: Telegram keeps
the batch, so a crash meanwhile loses nothing and answers nothing twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable

from telegram import Bot, Update
from telegram.error import Conflict, InvalidToken, TelegramError

from bot.inbox import new_update_of
from db.inbox import Inbox

logger = logging.getLogger(__name__)

POLL_TIMEOUT_S = 10
BATCH = 100
ERROR_PAUSE_S = 1.0
MAX_ERROR_PAUSE_S = 10.0
LOG_EVERY_S = 30.0


class Poller:
    """getUpdates → inbox, in a background task, until `stop`."""

    def __init__(
        self,
        bot: Bot,
        inbox: Inbox,
        on_stored: Callable[[], None],
        *,
        poll_timeout_s: int = POLL_TIMEOUT_S,
    ) -> None:
        self._bot = bot
        self._inbox = inbox
        self._on_stored = on_stored
        self._poll_timeout_s = poll_timeout_s
        self._offset: int | None = None
        self._task: asyncio.Task[None] | None = None
        self._fetching = False
        self._stopping = asyncio.Event()
        self._last_error_log = 0.0

    async def start(self) -> None:
        """Drop any webhook (getUpdates refuses to run while one is set), then poll."""
        await self._bot.delete_webhook(drop_pending_updates=False)
        self._task = asyncio.create_task(self._loop(), name="polling")

    async def stop(self) -> None:
        """Stop polling; a store under way finishes, a batch waiting to be stored again is left to
        Telegram. Confirms what was stored."""
        self._stopping.set()
        task = self._task
        if task is None:
            return
        if self._fetching:
            task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        if self._offset is not None:
            with contextlib.suppress(TelegramError):
                await self._bot.get_updates(offset=self._offset, limit=1, timeout=0)

    async def _loop(self) -> None:
        pause = ERROR_PAUSE_S
        while not self._stopping.is_set():
            self._fetching = True
            try:
                updates = await self._bot.get_updates(
                    offset=self._offset,
                    limit=BATCH,
                    timeout=self._poll_timeout_s,
                    allowed_updates=Update.ALL_TYPES,
                )
            except (InvalidToken, Conflict):
                raise
            except TelegramError as exc:
                self._log_error("getUpdates failed: %s", exc)
                await self._pause(pause)
                pause = min(pause * 2, MAX_ERROR_PAUSE_S)
                continue
            finally:
                self._fetching = False
            pause = ERROR_PAUSE_S
            if updates:
                await self._store(updates)

    async def _store(self, updates: tuple[Update, ...]) -> None:
        """Store the batch, retrying until it is stored or the poller stops; only then move the
        offset past it."""
        rows = [
            new_update_of(u, json.dumps(u.to_dict(), ensure_ascii=False, separators=(",", ":")))
            for u in updates
        ]
        pause = ERROR_PAUSE_S
        failing_since: float | None = None
        while not self._stopping.is_set():
            try:
                await self._inbox.store(rows)
            except Exception as exc:
                if failing_since is None:
                    failing_since = time.monotonic()
                self._log_error(
                    "cannot store %d polled updates; Telegram keeps them, retrying: %s",
                    len(rows),
                    exc,
                )
                await self._pause(pause)
                pause = min(pause * 2, MAX_ERROR_PAUSE_S)
                continue
            if failing_since is not None:
                logger.warning(
                    "stored %d polled updates after %.0f s of failing",
                    len(rows),
                    time.monotonic() - failing_since,
                )
            self._offset = max(u.update_id for u in updates) + 1
            self._on_stored()
            return
        logger.warning("stopping: %d polled updates left to Telegram", len(rows))

    async def _pause(self, seconds: float) -> None:
        """Sleep, but wake at once when the poller stops."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    def _log_error(self, message: str, *args: object) -> None:
        """At most one line per LOG_EVERY_S, so an outage does not flood the log."""
        now = time.monotonic()
        if now - self._last_error_log >= LOG_EVERY_S:
            self._last_error_log = now
            logger.warning(message, *args)
