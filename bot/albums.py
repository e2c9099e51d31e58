"""Albums arrive as separate updates sharing a media_group_id, with no count and no end marker:
collect them until the group has been quiet for a moment, then hand over the whole album."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)

AlbumCallback = Callable[[list[Any]], Awaitable[None]]


@dataclass
class _Pending:
    items: list[Any] = field(default_factory=list)
    timer: asyncio.TimerHandle | None = None
    on_complete: AlbumCallback | None = None


class AlbumCollector:
    """Per-process memory of albums being received; `add` restarts the album's quiet timer."""

    def __init__(self, quiet_s: float) -> None:
        self.quiet_s = quiet_s
        self._pending: dict[str, _Pending] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def add(self, album_id: str, item: Any, on_complete: AlbumCallback) -> None:
        pending = self._pending.setdefault(album_id, _Pending())
        pending.items.append(item)
        pending.on_complete = on_complete
        if pending.timer is not None:
            pending.timer.cancel()
        loop = asyncio.get_running_loop()
        pending.timer = loop.call_later(self.quiet_s, self._complete, album_id)

    def _complete(self, album_id: str) -> None:
        pending = self._pending.pop(album_id, None)
        if pending is None or pending.on_complete is None:
            return
        if pending.timer is not None:
            pending.timer.cancel()
        task = asyncio.create_task(self._run(album_id, pending.on_complete, pending.items))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, album_id: str, on_complete: AlbumCallback, items: list[Any]) -> None:
        try:
            await on_complete(items)
        except Exception:
            logger.exception("album %s: answering failed", album_id)

    async def flush(self) -> None:
        """Answer every album now, without waiting for quiet, and wait until all are answered."""
        for album_id in list(self._pending):
            self._complete(album_id)
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def close(self) -> None:
        """Drop albums not yet complete and cancel the ones being answered."""
        for pending in self._pending.values():
            if pending.timer is not None:
                pending.timer.cancel()
        self._pending.clear()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
