"""Image bytes → a bounded upright RGB picture for drawing and the detector's uint8 input.

Pure, blocking functions: the pipeline calls them in worker threads. Every failure is an
ImageError subclass whose `detail` is one line naming the reason.

Memory is bounded per image from the header on, before any pixel is decoded: the size, shape and
the bytes the decoder will allocate (`ImageLimits.max_decode_bytes`) are checked first. The one
full-size buffer is the file's own decode (a JPEG is decoded at a reduced DCT scale when that
still covers the picture). It is converted to RGB and shrunk to the picture size strip by strip,
so no full-size RGB, alpha or 16-bit copy is ever made, and it is released before `decode_image`
returns: only the picture (at most `picture_max_side` on its long side) and the small inference
array live on through inference and drawing.
"""

from __future__ import annotations

import io
import math
import struct
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from PIL import Image, UnidentifiedImageError

from bot.detection.errors import (
    CorruptImage,
    EmptyImage,
    ImageTooLarge,
    ImageTooSmall,
    NotAnImage,
)

ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "GIF")  # JPEG covers MPO (camera JPEGs)
MIN_SIDE = 8
PICTURE_MAX_SIDE = 2560  # the largest size Telegram keeps of a photo
_BACKGROUND = (255, 255, 255)
_SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"BM")
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError, KeyError)
_STRIP_BYTES = 1_000_000
_ONE_BYTE_MODES = frozenset({"1", "L", "P"})
_SWAPS_AXES = frozenset({5, 6, 7, 8})
_TRANSPOSE_FOR = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


@dataclass(frozen=True)
class ImageLimits:
    """What an upload may be, and how large the picture kept for drawing is."""

    max_image_pixels: int
    max_file_bytes: int
    max_decode_bytes: int = 180_000_000
    max_aspect_ratio: float = 50.0
    picture_max_side: int = PICTURE_MAX_SIDE
    min_side: int = MIN_SIDE


@dataclass(frozen=True)
class InferenceSize:
    """The image size the detector is sent.

    `fixed` (width, height): the model's own input size (a zoo `fixed_shape_resizer`); the image
    is resized to it exactly as the graph would (`tf.image.resize` bilinear, half-pixel centres,
    no antialiasing), so the graph's resize becomes a no-op and boxes stay the same. None: the
    size is unknown, and the long side is scaled down to `max_side`, the aspect ratio kept.

    `graph_resizes_up_to`: a picture with at most this many times the model's pixels is sent as
    it is, for the graph to resize with the same method (cheaper than resizing here when the
    picture is barely larger than the model's input; 0 always resizes).
    """

    fixed: tuple[int, int] | None = None
    max_side: int = 1024
    graph_resizes_up_to: float = 1.0


@dataclass(frozen=True)
class DecodedImage:
    """One decoded upload: `picture` (upright RGB, bounded) to draw on, `inference` for the model.

    `width`/`height` are the upright (EXIF-oriented) size of the original; boxes are normalized,
    so they apply to the original, the picture and the inference array alike.
    """

    width: int
    height: int
    format: str
    picture: Image.Image
    inference: npt.NDArray[np.uint8]


def looks_like_image(data: bytes) -> bool:
    """True when the bytes start like one of the accepted formats (so damage, not a wrong type)."""
    return data.startswith(_SIGNATURES) or (data[:4] == b"RIFF" and data[8:12] == b"WEBP")


def decode_image(
    data: bytes, limits: ImageLimits, inference: InferenceSize | None = None
) -> DecodedImage:
    """Check, decode once, orient, convert to RGB and scale. Raises ImageError subclasses."""
    image = _open(data, limits)
    fmt = image.format or "unknown"
    original = image.size
    if fmt in ("JPEG", "MPO"):
        orientation = _orientation(image)
        stored_size = _stored_picture_size(original, orientation, limits.picture_max_side)
        if stored_size != image.size:
            image.draft("RGB", stored_size)
    _check_decode_bytes(image, fmt, original, limits)
    _load(image)
    if fmt not in ("JPEG", "MPO"):
        orientation = _orientation(image)  # a PNG's EXIF may follow its pixels: read after load
    stored_size = _stored_picture_size(original, orientation, limits.picture_max_side)
    picture = rgb_scaled(image, stored_size)
    if picture is not image:
        image.close()
    if orientation in _TRANSPOSE_FOR:
        picture = picture.transpose(_TRANSPOSE_FOR[orientation])
    width, height = (original[1], original[0]) if orientation in _SWAPS_AXES else original
    array = inference_array(picture, inference or InferenceSize())
    return DecodedImage(width, height, fmt, picture, array)


def _stored_picture_size(
    stored: tuple[int, int], orientation: int, max_side: int
) -> tuple[int, int]:
    """The picture's size in the file's stored orientation: upright long side ≤ `max_side`."""
    if orientation in _SWAPS_AXES:
        height, width = fit_long_side(stored[1], stored[0], max_side)
        return width, height
    return fit_long_side(*stored, max_side)


def _open(data: bytes, limits: ImageLimits) -> Image.Image:
    """Open from the header only, and refuse what would not fit before anything is decoded."""
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
    if max(width, height) / min(width, height) > limits.max_aspect_ratio:
        raise ImageTooLarge(
            f"image shape too extreme: {width}×{height}, "
            f"sides may differ at most {limits.max_aspect_ratio:g} times",
            user_message="That image is too long and thin. Please send a less extreme shape.",
        )
    return image


def decode_bytes(image: Image.Image, fmt: str, original: tuple[int, int]) -> int:
    """What decoding `image` (as opened, after any draft) allocates, from its header alone.

    Pillow keeps 1-byte modes at 1 byte a pixel, I;16 at 2, every other mode (RGB included) at 4.
    Pillow's WebP decoder first fills libwebp's own buffer of 3 or 4 bytes a pixel, then copies.
    A progressive JPEG holds every DCT coefficient (2 bytes each) of the `original` size while it
    decodes, whatever the scale it is decoded at.
    """
    width, height = image.size
    mode = image.mode
    per_pixel = 1 if mode in _ONE_BYTE_MODES else 2 if mode.startswith("I;16") else 4
    if fmt == "WEBP":
        per_pixel += len(mode)
    needed = width * height * per_pixel
    if fmt in ("JPEG", "MPO") and image.info.get("progressive"):
        needed += _coefficient_bytes(image, original)
    return needed


def _coefficient_bytes(image: Image.Image, original: tuple[int, int]) -> int:
    layers = getattr(image, "layer", None) or [(1, 1, 1, 0)] * len(image.mode)
    h_max = max(h for _, h, _, _ in layers) or 1
    v_max = max(v for _, _, v, _ in layers) or 1
    width, height = original
    total = 0
    for _, h, v, _ in layers:
        blocks_x = math.ceil(width * h / h_max / 8)
        blocks_y = math.ceil(height * v / v_max / 8)
        total += blocks_x * blocks_y * 64 * 2
    return total


def _check_decode_bytes(
    image: Image.Image, fmt: str, original: tuple[int, int], limits: ImageLimits
) -> None:
    needed = decode_bytes(image, fmt, original)
    if needed > limits.max_decode_bytes:
        width, height = original
        raise ImageTooLarge(
            f"image too large: decoding {width}×{height} {image.mode} needs {_mb(needed)}, "
            f"the limit is {_mb(limits.max_decode_bytes)}"
        )


def _load(image: Image.Image) -> None:
    """Decode the first frame; a failure becomes CorruptImage or ImageTooLarge."""
    try:
        image.load()
    except Image.DecompressionBombError as exc:
        raise ImageTooLarge(f"image too large: {exc}") from None
    except MemoryError:
        raise ImageTooLarge("image too large to decode in memory") from None
    except _DECODE_ERRORS as exc:
        raise CorruptImage(f"corrupt or truncated image: {_one_line(exc)}") from None


def rgb_scaled(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """`image` (any mode) as 8-bit RGB of `size`, converted and resized one strip at a time.

    Each strip is cut with the rows the bilinear filter reaches beyond it, and resized with a
    source box, so the result is the same as resizing the whole converted image at once, while
    the only copies made are a strip's and the output's.
    """
    if image.size == size:
        return to_rgb(image)
    width, height = image.size
    out_width, out_height = size
    extrema = _wide_extrema(image)
    scale_y = height / out_height
    margin = math.ceil(max(scale_y, 1.0)) + 2
    source_rows = max(1, _STRIP_BYTES // (4 * width))
    out_rows = max(1, int(source_rows / scale_y))
    picture = Image.new("RGB", size)
    for out_top in range(0, out_height, out_rows):
        out_bottom = min(out_top + out_rows, out_height)
        top, bottom = out_top * scale_y, out_bottom * scale_y
        crop_top = max(0, math.floor(top) - margin)
        crop_bottom = min(height, math.ceil(bottom) + margin)
        strip = to_rgb(image.crop((0, crop_top, width, crop_bottom)), extrema)
        scaled = strip.resize(
            (out_width, out_bottom - out_top),
            Image.Resampling.BILINEAR,
            box=(0, top - crop_top, width, bottom - crop_top),
        )
        picture.paste(scaled, (0, out_top))
    return picture


def to_rgb(image: Image.Image, extrema: tuple[float, float] | None = None) -> Image.Image:
    """Any Pillow mode → 8-bit RGB; transparency is composited on white, 16/32-bit is rescaled.

    `extrema` is the value range of a whole I or F image when `image` is a strip of it.
    """
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
        return Image.fromarray(_wide_to_uint8(image, extrema or _wide_extrema(image))).convert(
            "RGB"
        )
    try:
        return image.convert("RGB")
    except ValueError as exc:
        raise NotAnImage(f"unsupported image mode {mode}: {exc}") from None


def _wide_extrema(image: Image.Image) -> tuple[float, float] | None:
    if image.mode not in ("I", "F"):
        return None
    low, high = image.getextrema()
    assert isinstance(low, int | float) and isinstance(high, int | float)
    return float(low), float(high)


def _wide_to_uint8(
    image: Image.Image, extrema: tuple[float, float] | None
) -> npt.NDArray[np.uint8]:
    """16/32-bit grey to 8 bit: I;16 by its range; I and F by 16-bit or unit range if used."""
    values = np.asarray(image)
    low, high = extrema or (0.0, 0.0)
    if image.mode.startswith("I;16"):
        narrow = values >> 8
    elif image.mode == "F":
        finite = np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)
        scale = 255.0 if values.size and low >= 0.0 and high <= 1.0 else 1.0
        narrow = np.clip(finite * scale, 0, 255)
    elif high > 255:
        narrow = np.clip(values, 0, 65535) >> 8
    else:
        narrow = np.clip(values, 0, 255)
    result: npt.NDArray[np.uint8] = narrow.astype(np.uint8)
    return result


def inference_array(picture: Image.Image, inference: InferenceSize) -> npt.NDArray[np.uint8]:
    """The RGB `picture` as the (height, width, 3) uint8 array the detector is sent.

    A fixed model size is reached as `tf.image.resize(..., method="bilinear")` reaches it in a
    zoo graph: each output pixel centre mapped back (half-pixel centres), two taps per axis,
    clamped at the edges, no antialiasing. Pillow's affine bilinear transform samples exactly
    so; it truncates to uint8 where the graph keeps floats (at most 1 apart). Otherwise the long
    side is scaled down to `max_side` with Pillow's antialiased bilinear filter.
    """
    if inference.fixed is None:
        size = fit_long_side(*picture.size, inference.max_side)
        if size != picture.size:
            picture = picture.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
    elif picture.width * picture.height > inference.graph_resizes_up_to * math.prod(
        inference.fixed
    ):
        width, height = inference.fixed
        scale_x, scale_y = picture.width / width, picture.height / height
        picture = picture.transform(
            inference.fixed,
            Image.Transform.AFFINE,
            (scale_x, 0.0, 0.0, 0.0, scale_y, 0.0),
            resample=Image.Resampling.BILINEAR,
        )
    return np.asarray(picture, dtype=np.uint8)


def fit_long_side(width: int, height: int, max_side: int) -> tuple[int, int]:
    """(width, height) scaled down so the long side is at most `max_side`; never enlarged."""
    long_side = max(width, height)
    if long_side <= max_side:
        return width, height
    scale = max_side / long_side
    return max(1, round(width * scale)), max(1, round(height * scale))


def _orientation(image: Image.Image) -> int:
    try:
        value = image.getexif().get(0x0112, 1)
    except _DECODE_ERRORS:
        return 1
    return value if isinstance(value, int) else 1


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def _mb(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB"


def _mp(pixels: int) -> str:
    megapixels = pixels / 1_000_000
    return f"{megapixels:.1f} MP" if megapixels < 1000 else f"{math.floor(megapixels):,} MP"
