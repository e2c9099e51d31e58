"""A failed database call that the bot carries on without: logged and counted."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.services import Services

logger = logging.getLogger(__name__)


def database_error(services: Services, what: str) -> None:
    """Log and count a failed database call; the caller carries on without it."""
    logger.exception("database: %s failed", what)
    services.metrics.errors.labels(kind="database").inc()
