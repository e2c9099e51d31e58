"""Everything the bot reads and writes, as async methods taking and returning plain values.

One facade holding one repository per concern; each method is one transaction (see
db.transactions for sessions and retries):

- `people`: registering senders and chats, /forget (db.people)
- `detections`: detections, their replies, /history (db.detections)
- `feedback`: /feedback texts and ratings (db.feedback)
- `chat_settings`: a chat's settings (db.chat_settings)
- `stats`: the /stats numbers (db.stats)
- `photo_requests`: what answering a photo needs, read and counted at once (db.photo_requests)
- `work_claims`: what a worker claims, updates and albums at once (db.work_claims)
- `inbox`, `albums`, `limits`, `prompts`, `languages`: db.inbox, db.albums, db.limits,
  db.prompts, db.languages
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.albums import Albums
from db.chat_settings import ChatSettingsRepository
from db.detections import Detections
from db.feedback import FeedbackRepository
from db.inbox import Inbox
from db.languages import LanguageRepository
from db.limits import Limits
from db.people import People
from db.photo_requests import PhotoRequests
from db.prompts import FeedbackPrompts
from db.stats import StatsRepository
from db.transactions import Transactions
from db.work_claims import WorkClaims

__all__ = ["Repository"]

_PRUNE_BATCH = 500
_PRUNE_BATCHES = 20


class Repository:
    """The bot's persistence API. Construct once with the process's sessionmaker."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        wait_timeout_s: float | None = None,
    ) -> None:
        """`wait_timeout_s`: callers wait at most this long for one transaction, then get
        DatabaseTimeout while the transaction goes on in the background (see db.deadline)."""
        self._tx = Transactions(sessionmaker, wait_timeout_s=wait_timeout_s)
        self.people = People(self._tx)
        self.detections = Detections(self._tx)
        self.feedback = FeedbackRepository(self._tx)
        self.chat_settings = ChatSettingsRepository(self._tx)
        self.stats = StatsRepository(self._tx)
        self.inbox = Inbox(self._tx)
        self.limits = Limits(self._tx)
        self.photo_requests = PhotoRequests(self._tx)
        self.albums = Albums(self._tx)
        self.work_claims = WorkClaims(self._tx)
        self.prompts = FeedbackPrompts(self._tx)
        self.languages = LanguageRepository(self._tx.run)

    async def finish_late_calls(self, timeout_s: float) -> None:
        """Let transactions that outlived their deadline finish (before the engine is disposed)."""
        await self._tx.finish_late_calls(timeout_s)

    async def housekeeping(self, inbox_retention: timedelta) -> int:
        """Prune what only takes space: done inbox rows past `inbox_retention` (in small
        batches), answered albums, photo admissions older than an hour, expired /feedback
        prompts. Returns the inbox rows deleted."""
        pruned = 0
        for _ in range(_PRUNE_BATCHES):
            deleted = await self.inbox.prune(inbox_retention, _PRUNE_BATCH)
            pruned += deleted
            if deleted < _PRUNE_BATCH:
                break
        await self.limits.prune()
        await self.prompts.prune()
        await self.albums.prune(inbox_retention)
        return pruned

    async def ping(self) -> bool:
        """True when the database answers a trivial query within a few seconds."""
        return await self._tx.ping()
