"""The global limit on detections in flight, so a burst of photos queues instead of flooding the
detector; it also knows when the bot is idle, which a graceful shutdown waits for."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

from bot.metrics import Metrics


class DetectionSlots:
    """At most `slots` detections at once; `job()` spans a whole photo, `slot()` its detection."""

    def __init__(self, slots: int, metrics: Metrics) -> None:
        self._semaphore = asyncio.Semaphore(slots)
        self._metrics = metrics
        self._waiting = 0
        self._running = 0
        self._jobs = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def waiting(self) -> int:
        return self._waiting

    @property
    def running(self) -> int:
        return self._running

    @contextlib.asynccontextmanager
    async def job(self) -> AsyncIterator[None]:
        """Marks work on one photo (download, detection, reply, record) as in progress."""
        self._jobs += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._jobs -= 1
            if self._jobs == 0:
                self._idle.set()

    @contextlib.asynccontextmanager
    async def slot(
        self,
        *,
        notice_after: float | None = None,
        on_queued: Callable[[], Awaitable[None]] | None = None,
    ) -> AsyncIterator[None]:
        """Wait for a free slot; when that takes longer than `notice_after`, await `on_queued()`."""
        self._waiting += 1
        self._metrics.queue_length.inc()
        acquire = asyncio.ensure_future(self._semaphore.acquire())
        try:
            if on_queued is not None and notice_after is not None:
                done, _ = await asyncio.wait({acquire}, timeout=notice_after)
                if not done:
                    await on_queued()
            await acquire
        except BaseException:
            if acquire.done() and not acquire.cancelled() and acquire.exception() is None:
                self._semaphore.release()
            else:
                acquire.cancel()
            raise
        finally:
            self._waiting -= 1
            self._metrics.queue_length.dec()
        self._running += 1
        self._metrics.in_flight.inc()
        try:
            yield
        finally:
            self._running -= 1
            self._metrics.in_flight.dec()
            self._semaphore.release()

    async def wait_idle(self) -> None:
        """Return once no photo is being worked on."""
        await self._idle.wait()
