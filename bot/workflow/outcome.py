"""What detecting one photo produced, and the line it is answered with."""

from __future__ import annotations

from dataclasses import dataclass

from telegram import Message

from bot.detection.errors import DetectionError
from bot.detection.models import ModelRoute
from bot.detection.summary import caption
from bot.detection.types import DetectionResult
from bot.i18n import Translator


@dataclass(frozen=True)
class PhotoOutcome:
    """A recorded attempt: a result or an error; `detection_id` when the result was stored."""

    message: Message
    result: DetectionResult | None
    error: DetectionError | None
    detection_id: int | None
    route: ModelRoute
    started: float
    """`time.perf_counter()` when work on the photo began."""
    reply_marked: bool = False
    """The job's inbox row was marked, with the record, as having its reply sent next."""


def outcome_text(outcome: PhotoOutcome, tr: Translator) -> str:
    """The caption of a detected photo, or the failure's line, in the reader's language."""
    if outcome.result is None:
        assert outcome.error is not None
        return tr.gettext(outcome.error.user_message)
    result = outcome.result
    return caption(result.counts, result.min_score, result.classes, tr)
