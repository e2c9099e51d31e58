"""Small helpers shared by the bot tests: expected captions, SQL rows, opening uploaded images."""

from __future__ import annotations

import asyncio
import io
from typing import Any

from PIL import Image
from sqlalchemy import text

from bot.detection.summary import caption, format_counts
from bot.i18n import ENGLISH, Translator
from tests.support.bot_fixtures import RunningBot


def expected_caption(
    expected: dict[str, Any], name: str, min_score: float = 0.5, tr: Translator = ENGLISH
) -> str:
    """The caption for shared photo `name`, from photos/expected.json, in `tr`'s language."""
    return caption(expected_counts(expected, name, min_score), min_score, None, tr)


def expected_counts(expected: dict[str, Any], name: str, min_score: float = 0.5) -> dict[str, int]:
    """Objects per class on shared photo `name` at `min_score`, from photos/expected.json."""
    counts: dict[str, int] = {}
    for det in expected["photos"][name]["detections"]:
        if det["score"] >= min_score:
            counts[det["class"]] = counts.get(det["class"], 0) + 1
    return counts


def expected_counts_text(expected: dict[str, Any], name: str) -> str:
    """ "1 × mouse, 1 × person": the counts of shared photo `name`, as /history lists them."""
    return format_counts(expected_counts(expected, name))


async def rows(bot: RunningBot, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    async with bot.services.engine.connect() as conn:
        return [tuple(r) for r in (await conn.execute(text(sql), params)).all()]


def image_size(data: bytes, format_: str = "JPEG") -> tuple[int, int]:
    """Open uploaded bytes as an image of `format_` and return its size."""
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == format_
        image.load()
        return image.size


async def eventually_rows(
    bot: RunningBot,
    sql: str,
    expected: list[tuple[Any, ...]],
    timeout: float = 10.0,  # noqa: ASYNC109
) -> list[tuple[Any, ...]]:
    """Query until the rows equal `expected` (writes after a reply land a moment later)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        found = await rows(bot, sql)
        if found == expected or loop.time() > deadline:
            return found
        await asyncio.sleep(0.05)
