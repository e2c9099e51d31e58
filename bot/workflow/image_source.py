"""Which file of a message is the image to detect: the largest photo size, or an image document."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePath

from telegram import Message

from bot.detection.errors import NotAnImage

IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"}
)
GENERIC_MIME_TYPES = frozenset({"application/octet-stream", "binary/octet-stream"})


@dataclass(frozen=True)
class ImageSource:
    """The file of a photo (largest size) or image document to detect."""

    file_id: str
    file_unique_id: str
    file_size: int | None


def is_image_document(mime_type: str | None, file_name: str | None) -> bool:
    if mime_type and mime_type.lower().startswith("image/"):
        return True
    if mime_type and mime_type.lower() not in GENERIC_MIME_TYPES:
        return False
    return file_name is not None and PurePath(file_name.lower()).suffix in IMAGE_SUFFIXES


def has_image(message: Message) -> bool:
    """A photo or a document of any kind (what /detect may be a reply to)."""
    return bool(message.photo) or message.document is not None


def holds_image(message: Message) -> bool:
    """A photo, or a document that is an image."""
    document = message.document
    return bool(message.photo) or (
        document is not None and is_image_document(document.mime_type, document.file_name)
    )


def image_source(message: Message) -> ImageSource:
    """The image file of `message`; raises NotAnImage for a document that is not an image."""
    if message.photo:
        largest = max(message.photo, key=lambda size: size.width * size.height)
        return ImageSource(largest.file_id, largest.file_unique_id, largest.file_size)
    document = message.document
    if document is None or not is_image_document(document.mime_type, document.file_name):
        raise NotAnImage(
            f"document {getattr(document, 'mime_type', None)!r} "
            f"{getattr(document, 'file_name', None)!r}"
        )
    return ImageSource(document.file_id, document.file_unique_id, document.file_size)
