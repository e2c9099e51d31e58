"""A deadline on waiting for the database, without cancelling the call.

A database that stops answering (a held lock, a dropped link) must not keep someone waiting for
their picture. Cancelling a MySQL query half-way leaves its connection unusable, so a call past
the deadline is left to finish in the background (its row still lands when the database
recovers) while the handler goes on as if the database were down. Those background calls are
awaited, within a bound, before the engine is disposed at shutdown.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")


class DatabaseTimeout(TimeoutError):
    """The database did not answer within the deadline; the call goes on in the background."""


class BoundedWaits:
    """Runs coroutines with a deadline on the wait, never on the call itself."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self._late: set[asyncio.Task[Any]] = set()

    async def call(self, what: str, work: Coroutine[Any, Any, T]) -> T:
        """The result of `work`, or DatabaseTimeout after `timeout_s` (then `work` goes on)."""
        task = asyncio.ensure_future(work)
        try:
            done, _ = await asyncio.wait({task}, timeout=self.timeout_s)
        except asyncio.CancelledError:
            self._keep(task, what)
            raise
        if done:
            return task.result()
        self._keep(task, what)
        raise DatabaseTimeout(f"{what}: no answer from the database in {self.timeout_s:g} s")

    def _keep(self, task: asyncio.Task[Any], what: str) -> None:
        if not task.done():
            self._late.add(task)
            task.add_done_callback(self._finished_late(what))

    def _finished_late(self, what: str) -> Any:
        def done(task: asyncio.Task[Any]) -> None:
            self._late.discard(task)
            if task.cancelled():
                logger.warning("late database call %s was cancelled", what)
            elif task.exception() is not None:
                logger.warning("late database call %s failed: %s", what, task.exception())
            else:
                logger.info("late database call %s finished", what)

        return done

    async def drain(self, timeout_s: float) -> None:
        """Wait up to `timeout_s` for late calls; cancel what is left."""
        if not self._late:
            return
        _, left = await asyncio.wait(set(self._late), timeout=timeout_s)
        for task in left:
            task.cancel()
        if left:
            await asyncio.wait(left, timeout=1.0)
