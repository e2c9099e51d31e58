"""What a worker claims in one go: inbox updates first, then quiet albums with the room left, in
one transaction (a worker claims after every job it finishes, so two would double the cost)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from db.albums import ClaimedAlbum, claim_albums
from db.inbox import InboxItem, claim_updates
from db.transactions import Transactions


@dataclass(frozen=True)
class ClaimedWork:
    updates: list[InboxItem]
    albums: list[ClaimedAlbum]


class WorkClaims:
    def __init__(self, transactions: Transactions) -> None:
        self._tx = transactions

    async def claim(self, owner: str, limit: int, lease_s: float) -> ClaimedWork:
        """Up to `limit` updates and albums in all, leased to `owner` for `lease_s`."""

        async def work(session: AsyncSession) -> ClaimedWork:
            updates = await claim_updates(session, owner, limit, lease_s)
            albums = await claim_albums(session, owner, limit - len(updates), lease_s)
            return ClaimedWork(updates, albums)

        return await self._tx.run_unbounded(work)
