"""Image bytes → an upright RGB picture for drawing and a smaller uint8 array for the detector.

Pure, blocking functions: the pipeline calls them in worker threads. Every failure is an
ImageError subclass whose `detail` is one line naming the reason.
"""

from __future__ import annotations

import io
import math
import struct
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageOps, UnidentifiedImageError

from bot.detection.errors import (
    CorruptImage,
    EmptyImage,
    ImageTooLarge,
    ImageTooSmall,
    NotAnImage,
)

ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "GIF")  # JPEG covers MPO (camera JPEGs)
MIN_SIDE = 8
_BACKGROUND = (255, 255, 255)
_SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"BM")
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError, KeyError)


@dataclass(frozen=True)
class ImageLimits:
    max_image_pixels: int
    max_file_bytes: int
    inference_max_side: int
    min_side: int = MIN_SIDE


@dataclass
class DecodedImage:
    """One decoded upload: `inference` for the detector, `full()` for drawing.

    `width`/`height` are the upright (EXIF-oriented) size of the original. A large JPEG is decoded
    at a reduced scale for inference (libjpeg's DCT scaling via `draft`), and at full size only
    when `full()` is first called, in the drawing step, which then overlaps other images' inference.
    """

    width: int
    height: int
    format: str
    inference: npt.NDArray[np.uint8]
    _data: bytes = field(repr=False)
    _limits: ImageLimits = field(repr=False)
    _full: Image.Image | None = field(default=None, repr=False)

    def full(self) -> Image.Image:
        """The upright RGB image at its original size (decoded now if only a draft was made)."""
        if self._full is None:
            image = _open(self._data, self._limits)
            self._full = _finish(image, draft_to=None)
        return self._full


def looks_like_image(data: bytes) -> bool:
    """True when the bytes start like one of the accepted formats (so damage, not a wrong type)."""
    return data.startswith(_SIGNATURES) or (data[:4] == b"RIFF" and data[8:12] == b"WEBP")


def decode_image(data: bytes, limits: ImageLimits) -> DecodedImage:
    """Decode, orient, convert to RGB and scale for inference. Raises ImageError subclasses."""
    image = _open(data, limits)
    width, height = _upright_size(image)
    fmt = image.format or "unknown"
    target = _fit_long_side(width, height, limits.inference_max_side)
    if target != (width, height) and fmt in ("JPEG", "MPO"):
        small = _finish(image, draft_to=_stored_orientation_size(image, target))
        return DecodedImage(width, height, fmt, _resized_array(small, target), data, limits)
    full = _finish(image, draft_to=None)
    return DecodedImage(width, height, fmt, _resized_array(full, target), data, limits, full)


def _open(data: bytes, limits: ImageLimits) -> Image.Image:
    if not data:
        raise EmptyImage("empty file (0 bytes)")
    if len(data) > limits.max_file_bytes:
        raise ImageTooLarge(
            f"file is {_mb(len(data))}, the limit is {_mb(limits.max_file_bytes)}",
        )
    try:
        image = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
    except Image.DecompressionBombError as exc:
        raise ImageTooLarge(f"image too large: {exc}") from None
    except UnidentifiedImageError:
        if looks_like_image(data):
            raise CorruptImage("corrupt image: the header cannot be read") from None
        raise NotAnImage("not an image (JPEG, PNG, WebP, BMP or GIF expected)") from None
    except _DECODE_ERRORS as exc:
        raise CorruptImage(f"corrupt image: {_one_line(exc)}") from None
    width, height = image.size
    if width * height > limits.max_image_pixels:
        raise ImageTooLarge(
            f"image too large: {width}×{height} is {_mp(width * height)}, "
            f"the limit is {_mp(limits.max_image_pixels)}"
        )
    if min(width, height) < limits.min_side:
        raise ImageTooSmall(
            f"image too small: {width}×{height}, "
            f"at least {limits.min_side}×{limits.min_side} needed"
        )
    return image


def _finish(image: Image.Image, *, draft_to: tuple[int, int] | None) -> Image.Image:
    """Fully decode (first frame), apply EXIF orientation, convert to RGB."""
    try:
        if draft_to is not None:
            image.draft("RGB", draft_to)
        image.load()
        ImageOps.exif_transpose(image, in_place=True)
    except Image.DecompressionBombError as exc:
        raise ImageTooLarge(f"image too large: {exc}") from None
    except MemoryError:
        raise ImageTooLarge("image too large to decode in memory") from None
    except _DECODE_ERRORS as exc:
        raise CorruptImage(f"corrupt or truncated image: {_one_line(exc)}") from None
    return to_rgb(image)


def to_rgb(image: Image.Image) -> Image.Image:
    """Any Pillow mode → 8-bit RGB; transparency is composited on white, 16/32-bit is rescaled."""
    mode = image.mode
    if mode == "RGB":
        return image
    if mode in ("RGBA", "LA", "PA", "RGBa") or (
        mode in ("P", "L", "RGB", "1") and "transparency" in image.info
    ):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, _BACKGROUND)
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    if mode.startswith("I;16") or mode in ("I", "F"):
        return Image.fromarray(_wide_to_uint8(image)).convert("RGB")
    try:
        return image.convert("RGB")
    except ValueError as exc:
        raise NotAnImage(f"unsupported image mode {mode}: {exc}") from None


def _wide_to_uint8(image: Image.Image) -> npt.NDArray[np.uint8]:
    """16/32-bit grey to 8 bit: I;16 by its range; I and F by 16-bit or unit range if used."""
    values = np.asarray(image)
    if image.mode.startswith("I;16"):
        return (values.astype(np.uint32) >> 8).astype(np.uint8)
    if image.mode == "F":
        finite = np.nan_to_num(values.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
        scale = 255.0 if finite.size and finite.min() >= 0.0 and finite.max() <= 1.0 else 1.0
        return np.clip(finite * scale, 0, 255).astype(np.uint8)
    wide = values.astype(np.int64)
    if wide.size and wide.max() > 255:
        return (np.clip(wide, 0, 65535) >> 8).astype(np.uint8)
    return np.clip(wide, 0, 255).astype(np.uint8)


def _resized_array(image: Image.Image, size: tuple[int, int]) -> npt.NDArray[np.uint8]:
    if image.size != size:
        image = image.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
    return np.asarray(image, dtype=np.uint8)


def _fit_long_side(width: int, height: int, max_side: int) -> tuple[int, int]:
    long_side = max(width, height)
    if long_side <= max_side:
        return width, height
    scale = max_side / long_side
    return max(1, round(width * scale)), max(1, round(height * scale))


_SWAPS_AXES = {5, 6, 7, 8}


def _orientation(image: Image.Image) -> int:
    try:
        value = image.getexif().get(0x0112, 1)
    except _DECODE_ERRORS:
        return 1
    return value if isinstance(value, int) else 1


def _upright_size(image: Image.Image) -> tuple[int, int]:
    width, height = image.size
    return (height, width) if _orientation(image) in _SWAPS_AXES else (width, height)


def _stored_orientation_size(image: Image.Image, upright: tuple[int, int]) -> tuple[int, int]:
    return (upright[1], upright[0]) if _orientation(image) in _SWAPS_AXES else upright


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def _mb(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB"


def _mp(pixels: int) -> str:
    megapixels = pixels / 1_000_000
    return f"{megapixels:.1f} MP" if megapixels < 1000 else f"{math.floor(megapixels):,} MP"
