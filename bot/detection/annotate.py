"""Drawing detections (boxes, then label tags) and encoding a JPEG that sendPhoto accepts.

Annotators are small separate objects in the manner of Roboflow `supervision`: `BoxAnnotator`
outlines each object, `LabelAnnotator` puts a "dog 87%" tag on it. Both draw in place on a PIL
RGB image and size their strokes and text from the image size, so tags stay readable on a
thumbnail and on a 12-megapixel photo alike. Blocking; run in a worker thread.
"""

from __future__ import annotations

import colorsys
import functools
import io
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFont

from bot.detection.types import DetectedObject

Color = tuple[int, int, int]
Font = ImageFont.FreeTypeFont | ImageFont.ImageFont

TELEGRAM_MAX_PHOTO_BYTES = 10_000_000
TELEGRAM_MAX_DIMENSION_SUM = 10_000
TELEGRAM_MAX_ASPECT = 20.0
JPEG_QUALITY = 90
JPEG_SUBSAMPLING = 0  # 4:4:4; 2 (4:2:0) encodes ~35% faster but blurs thin coloured lines
MIN_CANVAS_SIDE = 320
_PAD_COLOR: Color = (255, 255, 255)
_GOLDEN_RATIO_CONJUGATE = 0.6180339887498949
_fonts = threading.local()


def class_color(class_id: int) -> Color:
    """The same colour for a class in every picture, and far apart for classes with nearby ids.

    Hues step by the golden ratio, so ids close together get far-apart hues; saturation (id mod 2)
    and brightness (id mod 3) vary too, which separates the few id distances whose hues come close.
    """
    return _class_color(int(class_id))


@functools.lru_cache(maxsize=1024)
def _class_color(class_id: int) -> Color:
    hue = (class_id * _GOLDEN_RATIO_CONJUGATE) % 1.0
    saturation = 0.9 if class_id % 2 else 0.6
    value = (0.98, 0.85, 0.7)[class_id % 3]
    r, g, b = colorsys.hsv_to_rgb(hue, saturation, value)
    return round(r * 255), round(g * 255), round(b * 255)


def text_color_for(background: Color) -> Color:
    """Black or white, whichever contrasts more with `background` (WCAG relative luminance)."""
    luminance = _relative_luminance(background)
    contrast_black = (luminance + 0.05) / 0.05
    contrast_white = 1.05 / (luminance + 0.05)
    return (0, 0, 0) if contrast_black >= contrast_white else (255, 255, 255)


def _relative_luminance(color: Color) -> float:
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(v) for v in color)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _reference_side(size: tuple[int, int]) -> float:
    """The side that sets stroke and text size; very long strips are judged by their short side."""
    long_side, short_side = max(size), min(size)
    return float(min(long_side, 4 * short_side))


def line_width_for(size: tuple[int, int]) -> int:
    return max(2, round(_reference_side(size) * 0.004))


def font_size_for(size: tuple[int, int]) -> int:
    return max(12, round(_reference_side(size) * 0.026))


def load_font(size: int) -> Font:
    """Pillow's bundled TrueType font at `size` px, one instance per thread and size."""
    cache: dict[int, Font] | None = getattr(_fonts, "cache", None)
    if cache is None:
        cache = {}
        _fonts.cache = cache
    font = cache.get(size)
    if font is None:
        font = ImageFont.load_default(size=size)
        cache[size] = font
    return font


def _pixel_box(obj: DetectedObject, size: tuple[int, int]) -> tuple[int, int, int, int]:
    width, height = size
    ymin, xmin, ymax, xmax = obj.box
    x0 = min(max(round(xmin * width), 0), width - 1)
    y0 = min(max(round(ymin * height), 0), height - 1)
    x1 = min(max(round(xmax * width) - 1, x0), width - 1)
    y1 = min(max(round(ymax * height) - 1, y0), height - 1)
    return x0, y0, x1, y1


@dataclass(frozen=True)
class BoxAnnotator:
    """Outlines each object in its class colour; `thickness` None scales with the image.

    A 1-pixel black or white edge on both sides of the line keeps a box visible on an object of
    its own colour (a red box on a red cup).
    """

    thickness: int | None = None

    def annotate(self, scene: Image.Image, objects: Sequence[DetectedObject]) -> Image.Image:
        draw = ImageDraw.Draw(scene)
        width = self.thickness or line_width_for(scene.size)
        for obj in objects:
            x0, y0, x1, y1 = _pixel_box(obj, scene.size)
            color = class_color(obj.class_id)
            halo = text_color_for(color)
            draw.rectangle((x0 - 1, y0 - 1, x1 + 1, y1 + 1), outline=halo, width=width + 2)
            draw.rectangle((x0, y0, x1, y1), outline=color, width=width)
        return scene


@dataclass(frozen=True)
class LabelAnnotator:
    """A filled tag "label 87%" at each box's top-left corner, kept inside the image.

    The tag sits above the box when there is room, else just inside its top edge. Tags of stronger
    detections are drawn last, so they stay on top where tags overlap.
    """

    font_size: int | None = None

    def annotate(self, scene: Image.Image, objects: Sequence[DetectedObject]) -> Image.Image:
        draw = ImageDraw.Draw(scene)
        font = load_font(self.font_size or font_size_for(scene.size))
        _, ref_top, _, ref_bottom = font.getbbox("Hgjy%")
        pad = max(2, round((ref_bottom - ref_top) * 0.25))
        tag_height = int(ref_bottom - ref_top) + 2 * pad
        width, height = scene.size
        for obj in sorted(objects, key=lambda o: o.score):
            text = label_text(obj)
            left, _, right, _ = font.getbbox(text)
            tag_width = math.ceil(right - left) + 2 * pad
            x0, y0, _, _ = _pixel_box(obj, scene.size)
            tag_y = y0 - tag_height if y0 - tag_height >= 0 else y0
            tag_x = min(x0, max(0, width - tag_width))
            tag_y = min(max(tag_y, 0), max(0, height - tag_height))
            color = class_color(obj.class_id)
            draw.rectangle(
                (tag_x, tag_y, tag_x + tag_width - 1, tag_y + tag_height - 1), fill=color
            )
            draw.text(
                (tag_x + pad - left, tag_y + pad - ref_top),
                text,
                font=font,
                fill=text_color_for(color),
            )
        return scene


def label_text(obj: DetectedObject) -> str:
    return f"{obj.label} {round(obj.score * 100)}%"


def drawing_canvas(image: Image.Image) -> Image.Image:
    """The image itself, or for a tiny one an enlarged copy (integer factor) so tags can be read."""
    long_side = max(image.size)
    if long_side >= MIN_CANVAS_SIDE:
        return image
    factor = math.ceil(MIN_CANVAS_SIDE / long_side)
    return image.resize((image.width * factor, image.height * factor), Image.Resampling.BICUBIC)


def annotate(
    image: Image.Image,
    objects: Sequence[DetectedObject],
    *,
    boxes: BoxAnnotator | None = None,
    labels: LabelAnnotator | None = None,
) -> Image.Image:
    """Boxes, then tags, on `image` (drawn in place unless the image is tiny and gets enlarged)."""
    canvas = drawing_canvas(image)
    (boxes or BoxAnnotator()).annotate(canvas, objects)
    (labels or LabelAnnotator()).annotate(canvas, objects)
    return canvas


def fit_for_telegram(image: Image.Image) -> Image.Image:
    """Shrink to width + height ≤ 10000, then pad to an aspect ratio ≤ 20 (sendPhoto's limits).

    The sum is checked with the padding counted, and the image is shrunk before it is padded,
    so the padded canvas is never larger than the photo Telegram will accept.
    """
    width, height = image.size
    long_side, short_side = max(width, height), min(width, height)
    if long_side + _padded_short_side(long_side, short_side) > TELEGRAM_MAX_DIMENSION_SUM:
        scale = TELEGRAM_MAX_DIMENSION_SUM / (long_side + _padded_short_side(long_side, short_side))
        long_side = math.floor(long_side * scale)
        while long_side + _padded_short_side(long_side, 1) > TELEGRAM_MAX_DIMENSION_SUM:
            long_side -= 1
        short_side = max(
            1, min(math.floor(short_side * scale), TELEGRAM_MAX_DIMENSION_SUM - long_side)
        )
        size = (long_side, short_side) if width >= height else (short_side, long_side)
        image = image.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
        width, height = size
    padded_short = _padded_short_side(long_side, short_side)
    if padded_short > short_side:
        padded_size = (width, padded_short) if width >= height else (padded_short, height)
        padded = Image.new("RGB", padded_size, _PAD_COLOR)
        padded.paste(image, ((padded_size[0] - width) // 2, (padded_size[1] - height) // 2))
        image = padded
    return image


def _padded_short_side(long_side: int, short_side: int) -> int:
    """The short side after padding to an aspect ratio safely under Telegram's 20."""
    return max(short_side, math.ceil(long_side / (TELEGRAM_MAX_ASPECT - 0.5)))


def encode_jpeg(image: Image.Image, quality: int = JPEG_QUALITY) -> bytes:
    """Baseline JPEG, no chroma subsampling (4:4:4): subsampling washes out thin coloured lines."""
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality, subsampling=JPEG_SUBSAMPLING)
    return buffer.getvalue()


def encode_for_telegram(image: Image.Image, max_bytes: int = TELEGRAM_MAX_PHOTO_BYTES) -> bytes:
    """A JPEG within every sendPhoto limit: fit the size, then lower quality, then shrink."""
    image = fit_for_telegram(image)
    for quality in (JPEG_QUALITY, 80, 70):
        data = encode_jpeg(image, quality)
        if len(data) <= max_bytes:
            return data
    while True:
        size = (max(1, round(image.width * 0.7)), max(1, round(image.height * 0.7)))
        image = image.resize(size, Image.Resampling.BILINEAR)
        data = encode_jpeg(image, 75)
        if len(data) <= max_bytes or max(size) <= 64:
            return data
