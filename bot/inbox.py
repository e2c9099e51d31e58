"""The bot's side of the inbox: turning a received body into a row, and the job a worker holds.

An update travels update → inbox → worker → workflow. `to_new_update` validates what Telegram
sent (anything that is not an Update is refused before it is stored); `Job` is one claimed row
while a worker runs it, and the only way the workflow talks back to the inbox: mark the reply as
being sent / sent, or defer the update until its sender is within their rate again.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from telegram import Bot, Update

from db.albums import Albums, ClaimedAlbum
from db.inbox import REPLY_SENT, Inbox, InboxItem, InboxLease, NewUpdate


class NotAnUpdate(ValueError):
    """The body is not a Telegram Update."""


def to_new_update(data: Any, bot: Bot) -> tuple[NewUpdate, Update]:
    """Validate a decoded body as an Update; the row to store and the parsed update.

    Raises NotAnUpdate for anything python-telegram-bot cannot read as an update, including
    nesting too deep to parse and fields of the wrong type (`{"update_id": 1, "message": 5}`)."""
    if not isinstance(data, dict):
        raise NotAnUpdate("an update is a JSON object")
    if not isinstance(data.get("update_id"), int) or isinstance(data.get("update_id"), bool):
        raise NotAnUpdate("update_id must be an integer")
    try:
        update = Update.de_json(data, bot)
        payload = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as exc:
        raise NotAnUpdate(f"{type(exc).__name__}: {exc}") from None
    if update is None:
        raise NotAnUpdate("empty update")
    return new_update_of(update, payload), update


def new_update_of(update: Update, payload: str) -> NewUpdate:
    chat = update.effective_chat
    user = update.effective_user
    return NewUpdate(
        update_id=update.update_id,
        payload=payload,
        fairness_key=chat.id if chat is not None else (user.id if user is not None else None),
        user_id=user.id if user is not None else None,
    )


def parse_json(body: bytes) -> Any:
    """json.loads that reports nesting too deep as bad input, not as a crash."""
    try:
        return json.loads(body)
    except RecursionError:
        raise NotAnUpdate("JSON nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise NotAnUpdate(f"not JSON: {exc}") from None


@dataclass(kw_only=True)
class Progress:
    """How far a worker got with what it holds (an inbox row or an album); the workflow reads
    and sets it."""

    waiting_for_slot: bool = False
    deferred: bool = False
    finished: bool = False
    notice_sent: bool = False
    """Starts as stored with the row, so a takeover does not send a second "queued" notice."""
    task: asyncio.Task[None] | None = None


@dataclass
class Job(Progress):
    """One claimed inbox row while a worker runs it."""

    item: InboxItem
    owner: str
    inbox: Inbox

    def __post_init__(self) -> None:
        self.notice_sent = self.item.notice_sent

    @property
    def update_id(self) -> int:
        return self.item.update_id

    @property
    def inbox_lease(self) -> InboxLease | None:
        """The inbox row to finish in the transaction that records the reply."""
        return self

    @property
    def received_at(self) -> datetime:
        return self.item.received_at

    @property
    def reply_already_sent(self) -> bool:
        return self.item.reply_state == REPLY_SENT

    async def reply_sending(self) -> None:
        await self.inbox.mark_reply_sending(self.owner, self.update_id)

    async def reply_sent(self, message_id: int | None) -> None:
        await self.inbox.mark_reply_sent(self.owner, self.update_id, message_id)

    async def defer(self, until: datetime) -> None:
        """Give the row back to wait until `until`; the worker leaves it pending."""
        self.deferred = await self.inbox.defer(
            self.owner, self.update_id, until, notice_sent=self.notice_sent
        )


@dataclass
class AlbumJob(Progress):
    """One claimed album while a worker answers it; the same interface as Job for the workflow."""

    album: ClaimedAlbum
    owner: str
    albums: Albums

    def __post_init__(self) -> None:
        self.notice_sent = self.album.notice_sent

    @property
    def key(self) -> str:
        return self.album.album_key

    @property
    def received_at(self) -> datetime:
        return self.album.created_at

    @property
    def reply_already_sent(self) -> bool:
        return self.album.reply_state == REPLY_SENT

    @property
    def inbox_lease(self) -> InboxLease | None:
        return None

    async def reply_sending(self) -> None:
        await self.albums.mark_reply(self.owner, self.key, sent=False)

    async def reply_sent(self, message_id: int | None) -> None:
        await self.albums.mark_reply(self.owner, self.key, sent=True)

    async def defer(self, until: datetime) -> None:
        self.deferred = await self.albums.defer(
            self.owner, self.key, until, notice_sent=self.notice_sent
        )


Work = Job | AlbumJob
"""What the workflow is doing a photo for: an inbox row or an album."""


class Jobs:
    """The jobs this process holds, by update id: how a handler finds the job of its update."""

    def __init__(self) -> None:
        self._jobs: dict[int, Job] = {}
        self.stopping = False
        """Set at shutdown: retries of a reply's record give up (the lease then decides)."""

    def add(self, job: Job) -> None:
        self._jobs[job.update_id] = job

    def remove(self, job: Job) -> None:
        self._jobs.pop(job.update_id, None)

    def of(self, update: Update | None) -> Job | None:
        return None if update is None else self._jobs.get(update.update_id)

    def holds(self, update_id: int) -> bool:
        return update_id in self._jobs

    def __len__(self) -> int:
        return len(self._jobs)

    def all(self) -> list[Job]:
        return list(self._jobs.values())
