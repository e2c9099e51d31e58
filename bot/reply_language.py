"""The language every reply is written in.

A reply is in the group's language (set by its admins with /language), else the person's own
choice, else their Telegram `language_code`, else English. Choices are read from the database for
each reply, so a change made through one replica holds on all of them.
"""

from __future__ import annotations

from telegram import Chat, User

from bot.database_errors import database_error
from bot.i18n import LabelNames, Translator, choose_language, translator
from bot.services import Services
from db.languages import LanguageChoices


def label_names(services: Services) -> LabelNames:
    """COCO class names are translated only with the bundled label map; a custom one's names
    are shown as written."""
    return "translated" if services.settings.label_map is None else "as_written"


def group_id_of(chat: Chat | None) -> int | None:
    """The chat whose language choice applies, as language choices are stored: None in private."""
    return chat.id if chat is not None and chat.type != Chat.PRIVATE else None


def translator_of(
    services: Services, choices: LanguageChoices, language_code: str | None
) -> Translator:
    """The translator for a reply, from the stored choices and the person's Telegram language."""
    language = choose_language(
        chat_choice=choices.chat, user_choice=choices.user, language_code=language_code
    )
    return translator(language, label_names(services))


async def stored_choices(
    services: Services, user: User | None, chat: Chat | None
) -> LanguageChoices:
    """What /language stored for this person and (in a group) this chat; none when the
    database does not answer (the Telegram language still applies)."""
    return await _stored_choices(services, user.id if user is not None else None, group_id_of(chat))


async def _stored_choices(
    services: Services, user_id: int | None, group_id: int | None
) -> LanguageChoices:
    try:
        return await services.repository.languages.choices(user_id, group_id)
    except Exception:
        database_error(services, "language choices")
        return LanguageChoices()


async def translator_for(services: Services, user: User | None, chat: Chat | None) -> Translator:
    """The translator for a reply to `user` in `chat`."""
    return await reply_translator(
        services,
        user_id=user.id if user is not None else None,
        group_id=group_id_of(chat),
        language_code=user.language_code if user is not None else None,
    )


async def reply_translator(
    services: Services,
    *,
    user_id: int | None,
    group_id: int | None,
    language_code: str | None,
) -> Translator:
    """`translator_for` from plain values (`group_id` None in a private chat), for code that
    holds no Telegram objects."""
    choices = await _stored_choices(services, user_id, group_id)
    return translator_of(services, choices, language_code)
