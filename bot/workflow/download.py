"""Downloading the image from Telegram, refusing files over the size limit before fetching them."""

from __future__ import annotations

from telegram import Bot
from telegram.error import BadRequest

from bot.detection.errors import ImageTooLarge
from bot.workflow.image_source import ImageSource

TELEGRAM_DOWNLOAD_LIMIT = 20 * 1024 * 1024


async def download(bot: Bot, source: ImageSource, max_bytes: int) -> bytes:
    limit = min(max_bytes, TELEGRAM_DOWNLOAD_LIMIT)
    if source.file_size is not None and source.file_size > limit:
        raise ImageTooLarge(f"file of {source.file_size} bytes over the {limit}-byte limit")
    try:
        file = await bot.get_file(source.file_id)
    except BadRequest as exc:
        if "too big" in str(exc).lower():
            raise ImageTooLarge(f"getFile: {exc}") from exc
        raise
    if file.file_size is not None and file.file_size > limit:
        raise ImageTooLarge(f"file of {file.file_size} bytes over the {limit}-byte limit")
    return bytes(await file.download_as_bytearray())
