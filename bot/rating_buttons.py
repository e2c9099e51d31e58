"""The 👍/👎 buttons under an answer: one rating per person and detection; pressing the other
button changes it.

Detection ids are sequential, so the button data carries a signature that binds the detection to
the chat its answer was sent to: `rate:<detection id>:<±1>:<signature>` (under Telegram's 64-byte
limit). A press counts only when the signature is right for the chat it came from and the
detection was made in that chat; every other press gets one neutral answer, so nobody learns
whether some other id exists.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.config import Settings

RATE_CALLBACK_PREFIX = "rate"
RATE_PATTERN = re.compile(rf"^{RATE_CALLBACK_PREFIX}:")
_RATE_DATA = re.compile(
    rf"{RATE_CALLBACK_PREFIX}:([1-9][0-9]{{0,18}}):(1|-1):([A-Za-z0-9_-]{{16}})", re.ASCII
)
_KEY_CONTEXT = b"detectx rating buttons v1"
SIGNATURE_BYTES = 12


def rating_key(settings: Settings) -> bytes:
    """RATING_KEY when set, else derived from the bot token (the same on every replica)."""
    if settings.rating_key is not None:
        return settings.rating_key.get_secret_value().encode()
    return hmac.new(settings.bot_token.encode(), _KEY_CONTEXT, hashlib.sha256).digest()


def _signature(key: bytes, chat_id: int, detection_id: int) -> str:
    digest = hmac.new(key, f"{chat_id}:{detection_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:SIGNATURE_BYTES]).decode()


def rating_data(key: bytes, chat_id: int, detection_id: int, rating: int) -> str:
    return (
        f"{RATE_CALLBACK_PREFIX}:{detection_id}:{rating}:{_signature(key, chat_id, detection_id)}"
    )


def parse_rating_data(key: bytes, chat_id: int, data: str) -> tuple[int, int] | None:
    """(detection id, rating) when `data` was signed for `chat_id`, else None."""
    match = _RATE_DATA.fullmatch(data)
    if match is None:
        return None
    detection_id, rating = int(match.group(1)), int(match.group(2))
    if not hmac.compare_digest(match.group(3), _signature(key, chat_id, detection_id)):
        return None
    return detection_id, rating


def rating_buttons(
    settings: Settings, chat_id: int, detection_id: int, prefix: str = ""
) -> list[InlineKeyboardButton]:
    """👍 and 👎 for one detection answered in `chat_id`; `prefix` tells apart an album's photos."""
    key = rating_key(settings)
    return [
        InlineKeyboardButton(
            f"{prefix}{face}", callback_data=rating_data(key, chat_id, detection_id, value)
        )
        for face, value in (("👍", 1), ("👎", -1))
    ]


def rating_keyboard(settings: Settings, chat_id: int, detection_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([rating_buttons(settings, chat_id, detection_id)])
