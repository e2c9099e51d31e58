"""What the database says about answering a photo (or an album), read and counted in one
transaction: the chat's settings, the stored language choices, and the person's admission.

One transaction instead of three, because every photo needs all of them before it is detected.
Reached through the facade as `repository.photo_requests`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from db.chat_settings import read_chat_settings
from db.languages import LanguageChoices, read_language_choices
from db.limits import Admission, admit_photos
from db.records import ChatSettings
from db.transactions import Transactions


@dataclass(frozen=True)
class PhotoRequest:
    answers: bool
    """What `answers(chat_settings)` said; when False, nothing was counted."""
    chat_settings: ChatSettings
    language_choices: LanguageChoices
    admission: Admission | None
    """None when nothing was counted (not answered, or no photos)."""


@dataclass(frozen=True)
class PhotoRequester:
    """Who asks, as the limits and the language choice see them."""

    limit_key: int
    """The person (an anonymous sender: their chat) whose limits count the photos."""
    user_id: int | None
    """Whose own language choice applies."""
    group_id: int | None
    """The group whose language choice applies; None in a private chat."""


class PhotoRequests:
    def __init__(self, transactions: Transactions) -> None:
        self._tx = transactions

    async def open(
        self,
        requester: PhotoRequester,
        chat_id: int,
        photos: int,
        *,
        answers: Callable[[ChatSettings], bool],
        per_minute: int,
        per_hour: int,
    ) -> PhotoRequest:
        """Read the chat's settings and language choices; when `answers(chat_settings)`, count
        `photos` against the requester's limits (see db.limits.admit_photos)."""

        async def work(session: AsyncSession) -> PhotoRequest:
            chat_settings = await read_chat_settings(session, chat_id)
            choices = await read_language_choices(session, requester.user_id, requester.group_id)
            if not answers(chat_settings):
                return PhotoRequest(False, chat_settings, choices, None)
            if photos <= 0:
                return PhotoRequest(True, chat_settings, choices, None)
            admission = await admit_photos(
                session, requester.limit_key, photos, per_minute=per_minute, per_hour=per_hour
            )
            return PhotoRequest(True, chat_settings, choices, admission)

        return await self._tx.run(work)
