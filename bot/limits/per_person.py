"""Each person's photo limits, counted in the database (`db.limits`) so every replica sees the
same counts: over the short-term rate a photo waits, over the hourly cap it is refused until
the person's oldest photo of the hour ages out. Anonymous senders count per chat."""

from __future__ import annotations

import math
from datetime import datetime

from telegram import Message, User

from bot.i18n import N_, Translator
from bot.identity import requester_of
from db.types import utc_now

HOURLY_CAP_TEXT = N_(
    "You've sent as many photos as I take in an hour. Please come back in {minutes} min "
    "(at {at} UTC) and send this one again."
)


def limit_key(message: Message, requester: User) -> int:
    """What the limits count `message`'s photos under (see bot.identity)."""
    identity = requester_of(message)
    return identity.key if identity is not None else requester.id


def hourly_cap_text(retry_at: datetime, tr: Translator) -> str:
    """The refusal of a person over their hourly cap: when to come back."""
    minutes = max(1, math.ceil((retry_at - utc_now()).total_seconds() / 60))
    return tr.gettext(HOURLY_CAP_TEXT).format(
        minutes=tr.number(minutes), at=retry_at.strftime("%H:%M")
    )
