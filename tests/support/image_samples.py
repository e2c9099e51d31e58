"""Image files built in memory for tests: odd modes and formats, broken and hostile inputs."""

from __future__ import annotations

import io
import struct
import zlib
from typing import Any

import numpy as np
from PIL import Image

EXIF_ORIENTATION = 0x0112


def encode(image: Image.Image, fmt: str, **params: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def gradient(width: int = 64, height: int = 48) -> Image.Image:
    """A smooth RGB test card: red rises left to right, green top to bottom, blue constant."""
    x = np.linspace(0, 255, width, dtype=np.float64)[None, :].repeat(height, 0)
    y = np.linspace(0, 255, height, dtype=np.float64)[:, None].repeat(width, 1)
    rgb = np.stack([x, y, np.full_like(x, 96.0)], axis=-1).astype(np.uint8)
    return Image.fromarray(rgb)


def png_with_header_size(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims `width`×`height`: a decompression bomb without the payload."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


def sixteen_bit_png(width: int = 32, height: int = 24) -> bytes:
    """A 16-bit greyscale PNG: left half 65535 (white), right half 32896 (mid grey)."""
    values = np.full((height, width), 32896, dtype=np.uint16)
    values[:, : width // 2] = 65535
    return encode(Image.fromarray(values), "PNG")


def rgba_png_half_transparent(width: int = 32, height: int = 32) -> bytes:
    """Opaque red left half, fully transparent (black underneath) right half."""
    rgba = np.zeros((height, width, 4), dtype=np.uint8)
    rgba[:, : width // 2] = (255, 0, 0, 255)
    return encode(Image.fromarray(rgba), "PNG")


def animated_gif(width: int = 32, height: int = 32) -> bytes:
    """Three frames: red, green, blue."""
    frames = [Image.new("RGB", (width, height), c) for c in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    return encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)


def with_orientation(image: Image.Image, orientation: int, fmt: str = "JPEG") -> bytes:
    """`image` stored so that a viewer honouring EXIF `orientation` shows it as given.

    6 = stored rotated 90° anticlockwise (viewer turns it clockwise), 8 = the reverse.
    """
    stored = {
        1: image,
        3: image.transpose(Image.Transpose.ROTATE_180),
        6: image.transpose(Image.Transpose.ROTATE_90),
        8: image.transpose(Image.Transpose.ROTATE_270),
    }[orientation]
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = orientation
    params: dict[str, Any] = {"exif": exif.tobytes()}
    if fmt == "JPEG":
        params["quality"] = 95
    return encode(stored, fmt, **params)
