"""The worker loop: claim inbox rows with a lease, run them through the PTB handlers, finish them.

Every replica runs one. It claims as many rows as it has room for (`WORKER_CONCURRENCY`), renews
its leases while it works (every third of `INBOX_LEASE_S`), and takes over rows whose lease
expired, so work a dead replica held is finished by the others within a lease and a poll. On stop
it claims nothing more, gives back at once the rows still waiting for a detection slot, finishes
the rest within the shutdown timeout, and gives back whatever is left.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from datetime import timedelta
from typing import Any

from telegram import Update
from telegram.ext import Application

from bot.inbox import AlbumJob, Job, Jobs
from bot.services import Services
from bot.workflow.album import album_messages, answer_album

logger = logging.getLogger(__name__)

AnyApplication = Application[Any, Any, Any, Any, Any, Any]

IDLE_POLL_S = 0.25
"""How often an idle worker looks for rows other replicas stored or let expire."""
ERROR_PAUSE_S = 1.0
HOUSEKEEPING_EVERY_S = 30.0
FINISH_ATTEMPTS = 3
LOG_EVERY_S = 30.0


def worker_name() -> str:
    """Unique per process and start: host, pid and a random tail."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Worker:
    """Claims and runs inbox rows for one process until `stop`."""

    def __init__(
        self,
        application: AnyApplication,
        services: Services,
        *,
        name: str | None = None,
        idle_poll_s: float = IDLE_POLL_S,
    ) -> None:
        self.name = name or worker_name()
        self._application = application
        self._services = services
        self._inbox = services.repository.inbox
        self._jobs: Jobs = services.jobs
        self._albums: dict[str, AlbumJob] = {}
        self._album_store = services.repository.albums
        self._claims = services.repository.work_claims
        self._idle_poll_s = idle_poll_s
        self._wakeup = asyncio.Event()
        self._stopping = False
        self._tasks: list[asyncio.Task[None]] = []
        self._last_error_log = 0.0
        self._claiming = False

    @property
    def lease_s(self) -> float:
        return self._services.settings.inbox_lease_s

    def wake(self) -> None:
        """New rows were stored here: look now instead of at the next poll."""
        self._wakeup.set()

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._claim_loop(), name="inbox-claim"),
            asyncio.create_task(self._heartbeat_loop(), name="inbox-heartbeat"),
            asyncio.create_task(self._housekeeping_loop(), name="inbox-housekeeping"),
        ]

    async def stop(self, timeout_s: float) -> None:
        """Stop claiming, release what waits for a slot, finish the rest, release leftovers."""
        self._stopping = True
        self._jobs.stopping = True
        self._wakeup.set()
        claim_loop = self._tasks[0] if self._tasks else None
        if claim_loop is not None:
            await asyncio.gather(claim_loop, return_exceptions=True)
        await self._release([job for job in self._jobs.all() if job.waiting_for_slot])
        await self._release_albums([job for job in self._albums.values() if job.waiting_for_slot])
        running = [job.task for job in self._jobs.all() if job.task is not None]
        running += [job.task for job in self._albums.values() if job.task is not None]
        if running:
            _, late = await asyncio.wait(running, timeout=timeout_s)
            if late:
                logger.error("shutdown: %d updates still running after %g s", len(late), timeout_s)
                await self._release(self._jobs.all())
                await self._release_albums(list(self._albums.values()))
        for task in self._tasks[1:]:
            task.cancel()
        await asyncio.gather(*self._tasks[1:], return_exceptions=True)

    @property
    def busy(self) -> bool:
        """Holding any update or album right now."""
        return bool(len(self._jobs) or self._albums)

    @property
    def claiming(self) -> bool:
        """A claim is under way (rows it takes are not held yet)."""
        return self._claiming

    async def _release(self, jobs: list[Job]) -> None:
        if not jobs:
            return
        for job in jobs:
            if job.task is not None:
                job.task.cancel()
        await asyncio.gather(*(j.task for j in jobs if j.task is not None), return_exceptions=True)
        try:
            released = await self._inbox.release(self.name, [job.update_id for job in jobs])
            logger.info("released %d updates for other replicas", released)
        except Exception:
            logger.warning("could not release leases; they expire in %g s", self.lease_s)

    async def _release_albums(self, jobs: list[AlbumJob]) -> None:
        if not jobs:
            return
        for job in jobs:
            if job.task is not None:
                job.task.cancel()
        await asyncio.gather(*(j.task for j in jobs if j.task is not None), return_exceptions=True)
        try:
            await self._album_store.release(self.name, [job.key for job in jobs])
        except Exception:
            logger.warning("could not release albums; their leases expire in %g s", self.lease_s)

    def _free(self) -> int:
        return self._services.settings.worker_concurrency - len(self._jobs) - len(self._albums)

    async def _claim_loop(self) -> None:
        while not self._stopping:
            self._wakeup.clear()
            free = self._free()
            claimed = 0
            if free > 0:
                self._claiming = True
                try:
                    claimed_work = await self._claims.claim(self.name, free, self.lease_s)
                    for item in claimed_work.updates:
                        self._start_job(Job(item, self.name, self._inbox))
                    for album in claimed_work.albums:
                        self._start_album(AlbumJob(album, self.name, self._album_store))
                except Exception as exc:
                    self._log_error("claiming from the inbox failed: %s", exc)
                    await asyncio.sleep(ERROR_PAUSE_S)
                    continue
                finally:
                    self._claiming = False
                claimed = len(claimed_work.updates) + len(claimed_work.albums)
            if claimed and claimed == free:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), self._idle_poll_s)

    def _start_job(self, job: Job) -> None:
        metrics = self._services.metrics
        if self._jobs.holds(job.update_id):
            logger.info(
                "update %s: lease renewed after an outage; still working on it", job.update_id
            )
            return
        metrics.inbox_claims.inc()
        if job.item.taken_over:
            metrics.inbox_takeovers.inc()
            logger.info("took over update %s (attempt %d)", job.update_id, job.item.attempts)
        elif job.item.attempts > 1:
            metrics.inbox_redeliveries.inc()
        self._jobs.add(job)
        job.task = asyncio.create_task(self._run(job), name=f"update-{job.update_id}")

    def _start_album(self, job: AlbumJob) -> None:
        metrics = self._services.metrics
        metrics.inbox_claims.inc()
        if job.album.taken_over:
            metrics.inbox_takeovers.inc()
            logger.info("took over album %s", job.key)
        self._albums[job.key] = job
        job.task = asyncio.create_task(self._run_album(job), name=f"album-{job.key}")

    async def _run_album(self, job: AlbumJob) -> None:
        try:
            if not job.reply_already_sent:
                bot = self._application.bot
                await answer_album(bot, self._services, album_messages(bot, job.album.items), job)
            if not job.deferred:
                await self._album_store.done(self.name, job.key)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("album %s: answering failed", job.key)
            with contextlib.suppress(Exception):
                await self._album_store.done(self.name, job.key)
        finally:
            self._albums.pop(job.key, None)
            self._wakeup.set()

    async def _run(self, job: Job) -> None:
        try:
            if job.reply_already_sent:
                logger.info("update %s was answered before; finishing it", job.update_id)
            else:
                update = Update.de_json(job.item.payload, self._application.bot)
                await self._application.process_update(update)
            if not job.deferred and not job.finished:
                await self._finish(job)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("update %s: processing failed", job.update_id)
            await self._finish(job)
        finally:
            self._jobs.remove(job)
            self._wakeup.set()

    async def _finish(self, job: Job) -> None:
        for attempt in range(1, FINISH_ATTEMPTS + 1):
            try:
                if not await self._inbox.done(self.name, job.update_id):
                    logger.warning("update %s: lease lost before it was finished", job.update_id)
                return
            except Exception as exc:
                if attempt == FINISH_ATTEMPTS:
                    self._log_error("marking an update done failed: %s", exc)
                    return
                await asyncio.sleep(ERROR_PAUSE_S * attempt)

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self.lease_s / 3)
            held = [job.update_id for job in self._jobs.all()]
            albums = list(self._albums)
            if not held and not albums:
                continue
            try:
                await self._album_store.extend(self.name, albums, self.lease_s)
                still = await self._inbox.extend(self.name, held, self.lease_s)
            except Exception as exc:
                self._log_error("renewing leases failed: %s", exc)
                continue
            lost = set(held) - still
            if lost:
                logger.warning("leases lost on updates %s", sorted(lost))

    async def _housekeeping_loop(self) -> None:
        retention = timedelta(seconds=self._services.settings.inbox_retention_s)
        while True:
            try:
                pruned = await self._services.repository.housekeeping(retention)
                if pruned:
                    self._services.metrics.inbox_pruned.inc(pruned)
            except Exception as exc:
                self._log_error("housekeeping failed: %s", exc)
            await asyncio.sleep(HOUSEKEEPING_EVERY_S)

    def _log_error(self, message: str, exc: BaseException) -> None:
        """At most one line per LOG_EVERY_S, so a database outage does not flood the log."""
        now = time.monotonic()
        if now - self._last_error_log >= LOG_EVERY_S:
            self._last_error_log = now
            logger.warning(message, exc)
