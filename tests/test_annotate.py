"""Drawing boxes and tags, and JPEGs that fit Telegram's sendPhoto limits."""

from __future__ import annotations

import io

import numpy as np
import numpy.typing as npt
from PIL import Image

from bot.detection.annotate import (
    TELEGRAM_MAX_ASPECT,
    TELEGRAM_MAX_DIMENSION_SUM,
    BoxAnnotator,
    LabelAnnotator,
    annotate,
    class_color,
    encode_for_telegram,
    font_size_for,
    line_width_for,
    text_color_for,
)
from bot.detection.types import DetectedObject

WHITE = (255, 255, 255)


def _obj(
    class_id: int, box: tuple[float, float, float, float], score: float = 0.87
) -> DetectedObject:
    return DetectedObject(label=f"thing{class_id}", class_id=class_id, score=score, box=box)


def _pixels(image: Image.Image) -> npt.NDArray[np.int64]:
    return np.asarray(image).astype(np.int64)


def _is_color(pixels: npt.NDArray[np.int64], color: tuple[int, int, int]) -> npt.NDArray[np.bool_]:
    close: npt.NDArray[np.bool_] = np.all(np.abs(pixels - np.array(color)) <= 2, axis=-1)
    return close


def test_box_is_drawn_on_its_edges_in_the_class_colour_and_inside_is_untouched() -> None:
    image = Image.new("RGB", (400, 300), WHITE)
    obj = _obj(3, (0.2, 0.25, 0.8, 0.75))
    BoxAnnotator().annotate(image, [obj])
    pixels = _pixels(image)
    color = class_color(3)
    assert _is_color(pixels[60:240, 100], color).all(), "left edge"
    assert _is_color(pixels[60:240, 299], color).all(), "right edge"
    assert _is_color(pixels[60, 100:300], color).all(), "top edge"
    assert _is_color(pixels[239, 100:300], color).all(), "bottom edge"
    assert (pixels[100:200, 120:280] == 255).all(), "inside the box"
    assert (pixels[:50] == 255).all() and (pixels[:, :90] == 255).all(), "outside the box"
    halo = text_color_for(color)
    width = line_width_for(image.size)
    assert _is_color(pixels[60:240, 99], halo).all(), "edge outside the line"
    assert _is_color(pixels[70:230, 100 + width], halo).all(), "edge inside the line"


def test_each_class_keeps_one_colour_and_neighbouring_classes_differ() -> None:
    assert class_color(18) == class_color(18)
    assert len({class_color(i) for i in range(1, 91)}) == 90
    everyday = (1, 3, 17, 18, 44, 47, 62, 63, 67, 72, 73, 77)
    for i, a in enumerate(everyday):
        for b in everyday[i + 1 :]:
            distance = np.linalg.norm(np.subtract(class_color(a), class_color(b)))
            assert distance > 40, (a, b)
    first, second = Image.new("RGB", (100, 100), WHITE), Image.new("RGB", (300, 200), WHITE)
    BoxAnnotator().annotate(first, [_obj(18, (0.1, 0.1, 0.9, 0.9))])
    BoxAnnotator().annotate(second, [_obj(18, (0.1, 0.1, 0.9, 0.9))])
    assert tuple(_pixels(first)[50, 10]) == tuple(_pixels(second)[100, 30]) == class_color(18)


def test_tag_text_contrasts_with_its_background() -> None:
    assert text_color_for((255, 225, 25)) == (0, 0, 0)
    assert text_color_for((255, 255, 255)) == (0, 0, 0)
    assert text_color_for((0, 0, 128)) == (255, 255, 255)
    assert text_color_for((128, 0, 0)) == (255, 255, 255)
    for color in (class_color(i) for i in range(1, 91)):
        text = text_color_for(color)
        assert abs(sum(text) - sum(color)) > 200, (color, text)


def test_tag_with_label_and_percent_sits_above_the_box() -> None:
    image = Image.new("RGB", (600, 400), WHITE)
    obj = _obj(19, (0.5, 0.3, 0.9, 0.7), score=0.87)
    LabelAnnotator().annotate(image, [obj])
    pixels = _pixels(image)
    color, text = class_color(19), text_color_for(class_color(19))
    above = pixels[150:200, 180:420]
    assert _is_color(above, color).sum() > 200, "a filled tag just above the box"
    assert _is_color(above, text).sum() > 20, "text drawn on the tag"
    assert (pixels[:120] == 255).all(), "nothing far above"


def test_tags_stay_inside_the_image_at_the_edges() -> None:
    image = Image.new("RGB", (500, 300), WHITE)
    corner = _obj(5, (0.0, 0.96, 0.3, 1.0), score=0.51)
    LabelAnnotator().annotate(image, [corner])
    pixels = _pixels(image)
    tagged = _is_color(pixels, class_color(5))
    rows, cols = np.nonzero(tagged)
    assert rows.min() == 0, "the tag goes inside the box when there is no room above"
    assert cols.max() == 499, "the tag is shifted left to end at the right edge"
    width = cols.max() - cols.min() + 1
    assert width > 60, "the whole tag is drawn, not clipped by the edge"


def test_text_and_lines_scale_with_the_image() -> None:
    assert font_size_for((512, 512)) < font_size_for((1920, 1080)) < font_size_for((6000, 4000))
    assert line_width_for((512, 512)) < line_width_for((6000, 4000))
    assert font_size_for((12000, 800)) <= 0.15 * 800, "a long strip is judged by its short side"
    big = Image.new("RGB", (6000, 4000), WHITE)
    annotate(big, [_obj(2, (0.5, 0.2, 0.9, 0.6))])
    column = _is_color(_pixels(big)[:, 1210], class_color(2))
    tag_rows = np.nonzero(column[:2000])[0]
    assert len(tag_rows) >= 0.02 * 4000, "the tag is at least 2% of the image height"


def test_tiny_images_are_enlarged_so_tags_can_be_read() -> None:
    tiny = Image.new("RGB", (40, 30), WHITE)
    out = annotate(tiny, [_obj(7, (0.1, 0.1, 0.9, 0.9))])
    assert max(out.size) >= 320
    assert out.width * 30 == out.height * 40, "the aspect ratio is kept"
    assert _is_color(_pixels(out), class_color(7)).any()


def test_normal_images_are_drawn_in_place_at_their_size() -> None:
    image = Image.new("RGB", (451, 300), WHITE)
    out = annotate(image, [_obj(1, (0.1, 0.1, 0.5, 0.5))])
    assert out is image and out.size == (451, 300)


def _decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    assert image.format == "JPEG"
    image.load()
    return image


def _within_telegram_limits(data: bytes, max_bytes: int = 10_000_000) -> Image.Image:
    image = _decoded(data)
    width, height = image.size
    assert len(data) <= max_bytes
    assert width + height <= TELEGRAM_MAX_DIMENSION_SUM
    assert max(width, height) / min(width, height) <= TELEGRAM_MAX_ASPECT
    return image


def test_long_strip_is_shrunk_to_telegram_limits() -> None:
    image = _within_telegram_limits(encode_for_telegram(Image.new("RGB", (12000, 800), "navy")))
    assert image.width > 9000 and abs(image.width / image.height - 15) < 0.1


def test_extreme_aspect_ratio_is_padded() -> None:
    strip = Image.new("RGB", (4000, 100), (200, 30, 30))
    image = _within_telegram_limits(encode_for_telegram(strip))
    assert image.width == 4000 and image.height > 100
    pixels = _pixels(image)
    assert abs(pixels[image.height // 2, 2000] - np.array([200, 30, 30])).max() < 12
    assert (pixels[0, 2000] > 240).all(), "padding is white"


def test_too_many_bytes_lowers_quality_then_size() -> None:
    noise = np.random.default_rng(7).integers(0, 256, (600, 800, 3), dtype=np.uint8)
    data = encode_for_telegram(Image.fromarray(noise), max_bytes=120_000)
    image = _within_telegram_limits(data, max_bytes=120_000)
    assert image.width / image.height == 800 / 600 or abs(image.width / image.height - 4 / 3) < 0.01


def test_small_image_is_encoded_as_is() -> None:
    image = _decoded(encode_for_telegram(Image.new("RGB", (640, 480), "green")))
    assert image.size == (640, 480)
