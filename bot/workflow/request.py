"""Opening the answer to a photo or an album: one database transaction reads the chat's settings
and the language choices and counts the photos against the person's limits (db.photo_requests).
While the database is down: the defaults, and the photos go through uncounted."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from telegram import Bot, Message, User

from bot.database_errors import database_error
from bot.i18n import Translator
from bot.limits.per_person import limit_key
from bot.reply_language import group_id_of, translator_of
from bot.services import Services
from bot.workflow.triggers import should_answer
from db.languages import LanguageChoices
from db.limits import Admission
from db.photo_requests import PhotoRequest, PhotoRequester
from db.records import ChatSettings


@dataclass(frozen=True)
class OpenRequest:
    """`answers`: the bot answers these messages; `admission`: None when nothing was counted."""

    answers: bool
    chat_settings: ChatSettings
    tr: Translator
    admission: Admission | None


async def open_request(
    bot: Bot,
    services: Services,
    messages: Sequence[Message],
    requester: User,
    photos: int,
    *,
    asked: bool = False,
) -> OpenRequest:
    """For `messages` (one photo, or an album's items) sent by or asked for by `requester`;
    `asked`: a command asked for them, so no trigger is needed."""
    first = messages[0]
    settings = services.settings

    def answers(chat_settings: ChatSettings) -> bool:
        return asked or should_answer(
            messages, chat_settings, bot_username=bot.username, bot_id=bot.id
        )

    try:
        request = await services.repository.photo_requests.open(
            PhotoRequester(
                limit_key=limit_key(first, requester),
                user_id=requester.id,
                group_id=group_id_of(first.chat),
            ),
            first.chat_id,
            photos,
            answers=answers,
            per_minute=settings.user_rate_limit_per_minute,
            per_hour=settings.user_hourly_limit,
        )
    except Exception:
        database_error(services, "opening a photo request")
        defaults = ChatSettings()
        request = PhotoRequest(
            answers(defaults),
            defaults,
            LanguageChoices(),
            Admission(True) if photos > 0 else None,
        )
    return OpenRequest(
        request.answers,
        request.chat_settings,
        translator_of(services, request.language_choices, requester.language_code),
        request.admission,
    )
