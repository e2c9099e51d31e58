"""Transactions with bounded retries, and the small SQL helpers every repository module shares.

Each call is one transaction in its own session, so concurrent handlers never share a session.
A transaction that fails because MySQL dropped the connection (server restart, KILL,
wait_timeout) or chose it as a deadlock victim is retried, up to three attempts in all, on a
fresh connection after a short random pause.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar, cast

from sqlalchemy import CursorResult, Executable, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.deadline import BoundedWaits

log = logging.getLogger(__name__)

T = TypeVar("T")

_MYSQL_RETRYABLE = frozenset({1213, 2006, 2013, 2055})
"""Deadlock victim; server gone away; lost connection during query / at handshake."""
_ATTEMPTS = 3
_CHAIN_DEPTH = 4
_RETRY_PAUSE_S = 0.02
"""Base of the random pause before a retry, so deadlocked peers do not collide again."""
_PING_TIMEOUT_S = 5.0

Work = Callable[[AsyncSession], Awaitable[T]]


class Transactions:
    """Runs units of work, each in one transaction, with retries and an optional wait bound."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        wait_timeout_s: float | None = None,
    ) -> None:
        """`wait_timeout_s`: callers wait at most this long for one transaction, then get
        DatabaseTimeout while the transaction goes on in the background (see db.deadline)."""
        self._sessionmaker = sessionmaker
        bind = sessionmaker.kw.get("bind")
        self._turns: asyncio.Lock | None = (
            asyncio.Lock() if bind is not None and bind.dialect.name == "sqlite" else None
        )
        """SQLite has one writer at a time, and its busy handler polls: under a steady stream of
        writes one waiter can lose every race for seconds (the intake behind the worker). An
        asyncio lock hands the database to this process's transactions in arrival order."""
        self._waits = BoundedWaits(wait_timeout_s) if wait_timeout_s is not None else None
        self._ping_waits = BoundedWaits(_PING_TIMEOUT_S)

    async def run(self, work: Work[T]) -> T:
        if self._waits is None:
            return await self._retrying(work)
        return await self._waits.call(work.__qualname__, self._retrying(work))

    async def run_unbounded(self, work: Work[T]) -> T:
        """Without the wait bound: for background loops (the worker), which have no one waiting."""
        return await self._retrying(work)

    async def ping(self) -> bool:
        """True when the database answers a trivial query within a few seconds. A ping past the
        deadline is left to finish rather than cancelled (see db.deadline)."""

        async def select_one() -> None:
            async with self._sessionmaker() as session:
                await session.execute(text("SELECT 1"))

        try:
            await self._ping_waits.call("ping", select_one())
        except (DBAPIError, OSError, TimeoutError):
            return False
        return True

    async def finish_late_calls(self, timeout_s: float) -> None:
        """Let transactions that outlived their deadline finish (before the engine is disposed)."""
        await self._ping_waits.drain(timeout_s)
        if self._waits is not None:
            await self._waits.drain(timeout_s)

    async def _retrying(self, work: Work[T]) -> T:
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                if self._turns is None:
                    async with self._sessionmaker() as session, session.begin():
                        return await work(session)
                async with self._turns, self._sessionmaker() as session, session.begin():
                    return await work(session)
            except DBAPIError as exc:
                if attempt == _ATTEMPTS or not _is_retryable(exc):
                    raise
                log.warning(
                    "database connection lost or deadlocked, retrying (%d of %d): %s",
                    attempt + 1,
                    _ATTEMPTS,
                    exc,
                )
            await asyncio.sleep(random.uniform(0.5, 1.5) * _RETRY_PAUSE_S * attempt)
        raise AssertionError("unreachable")


def dialect(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


def is_mysql_session(session: AsyncSession) -> bool:
    return dialect(session) in ("mysql", "mariadb")


async def rowcount(session: AsyncSession, statement: Executable) -> int:
    result = await session.execute(statement)
    return cast(CursorResult[Any], result).rowcount


def inserted_id(result: Any) -> int:
    key = cast(CursorResult[Any], result).inserted_primary_key
    if key is None or key[0] is None:
        raise RuntimeError("the database did not report the new row's id")
    return int(key[0])


def chunks(items: list[int], size: int) -> Iterable[list[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def mysql_errno(exc: DBAPIError) -> int | None:
    args = getattr(exc.orig, "args", ())
    return args[0] if args and isinstance(args[0], int) else None


def _is_retryable(exc: DBAPIError) -> bool:
    """A lost connection or a deadlock, also when it surfaces as the error that followed it
    (MySQL rolls back the whole transaction of a deadlock victim, so the next statement,
    e.g. ROLLBACK TO SAVEPOINT, fails with 1305 "savepoint does not exist")."""
    seen: BaseException | None = exc
    for _ in range(_CHAIN_DEPTH):
        if seen is None:
            break
        if isinstance(seen, DBAPIError) and (
            seen.connection_invalidated or mysql_errno(seen) in _MYSQL_RETRYABLE
        ):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def is_foreign_key_violation(exc: IntegrityError) -> bool:
    return mysql_errno(exc) in (1216, 1452) or "FOREIGN KEY constraint failed" in str(exc.orig)


def is_unique_violation(exc: IntegrityError) -> bool:
    return mysql_errno(exc) == 1062 or "UNIQUE constraint failed" in str(exc.orig)
