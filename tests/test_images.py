"""Decoding uploads: every format and mode becomes upright RGB; bad input gets a clear error."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bot.config import Settings
from bot.detection.errors import (
    CorruptImage,
    EmptyImage,
    ImageError,
    ImageTooLarge,
    ImageTooSmall,
    NotAnImage,
)
from bot.detection.images import ImageLimits, InferenceSize, decode_image
from tests.support.image_samples import (
    animated_gif,
    encode,
    gradient,
    needle_png,
    peak_memory_of_one_photo,
    png_with_header_size,
    rgba_png_half_transparent,
    sixteen_bit_png,
    with_orientation,
    worst_allowed_images,
)

LIMITS = ImageLimits(max_image_pixels=50_000_000, max_file_bytes=20_000_000)


def _assert_one_line_message(error: ImageError) -> None:
    for text in (error.user_message, error.detail):
        assert text.strip()
        assert "\n" not in text
        assert len(text) < 160


@pytest.mark.parametrize(
    ("name", "data", "error"),
    [
        ("zero bytes", b"", EmptyImage),
        ("a text file", b"Hello, this is a shopping list:\n- milk\n- eggs\n", NotAnImage),
        ("a PDF", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n", NotAnImage),
        ("a 1x1 image", encode(Image.new("RGB", (1, 1), "red"), "PNG"), ImageTooSmall),
        ("a 400x3 strip", encode(Image.new("RGB", (400, 3), "red"), "PNG"), ImageTooSmall),
        ("a decompression bomb", png_with_header_size(100_000, 100_000), ImageTooLarge),
        ("over the pixel limit", png_with_header_size(8_000, 7_000), ImageTooLarge),
        ("a damaged header", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, CorruptImage),
    ],
)
def test_bad_input_is_refused_with_a_one_line_reason(
    name: str, data: bytes, error: type[ImageError]
) -> None:
    with pytest.raises(error) as caught:
        decode_image(data, LIMITS)
    assert type(caught.value) is error, name
    _assert_one_line_message(caught.value)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "GIF"])
def test_truncated_image_is_corrupt(fmt: str) -> None:
    data = encode(gradient(256, 192), fmt)
    with pytest.raises(CorruptImage) as caught:
        decode_image(data[: len(data) // 2], LIMITS)
    _assert_one_line_message(caught.value)


def test_file_over_the_byte_limit_is_too_large() -> None:
    data = encode(gradient(), "PNG")
    limits = ImageLimits(50_000_000, max_file_bytes=len(data) - 1)
    with pytest.raises(ImageTooLarge) as caught:
        decode_image(data, limits)
    assert "MB" in caught.value.detail


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "BMP", "GIF"])
def test_each_accepted_format_decodes_to_rgb(fmt: str) -> None:
    decoded = decode_image(encode(gradient(64, 48), fmt), LIMITS)
    assert (decoded.width, decoded.height) == (64, 48)
    assert decoded.inference.shape == (48, 64, 3)
    assert decoded.inference.dtype == np.uint8
    assert decoded.picture.mode == "RGB"
    assert decoded.picture.size == (64, 48)
    reddest_column = int(decoded.inference[24].astype(int)[:, 0].argmax())
    assert reddest_column > 56, "red rises left to right in the test card"


def test_grayscale_becomes_three_equal_channels() -> None:
    gray = gradient().convert("L")
    decoded = decode_image(encode(gray, "JPEG"), LIMITS)
    pixels = decoded.inference.astype(int)
    assert pixels.shape == (48, 64, 3)
    assert np.array_equal(pixels[..., 0], pixels[..., 1])
    assert np.array_equal(pixels[..., 1], pixels[..., 2])


def test_one_bit_and_palette_images_become_rgb() -> None:
    for image in (gradient().convert("1"), gradient().convert("P")):
        decoded = decode_image(encode(image, "PNG"), LIMITS)
        assert decoded.inference.shape == (48, 64, 3)


def test_transparent_areas_are_composited_on_white() -> None:
    decoded = decode_image(rgba_png_half_transparent(), LIMITS)
    assert tuple(decoded.inference[16, 4]) == (255, 0, 0)
    assert tuple(decoded.inference[16, 28]) == (255, 255, 255)


def test_palette_image_with_transparent_index_is_composited_on_white() -> None:
    image = Image.new("P", (16, 16), 0)
    image.putpalette([0, 0, 0, 0, 0, 255] + [0] * 762)
    image.paste(1, (0, 0, 8, 16))
    decoded = decode_image(encode(image, "PNG", transparency=0), LIMITS)
    assert tuple(decoded.inference[8, 2]) == (0, 0, 255)
    assert tuple(decoded.inference[8, 12]) == (255, 255, 255)


def test_cmyk_jpeg_keeps_its_colours() -> None:
    cmyk = Image.new("CMYK", (32, 32), (0, 255, 255, 0))
    decoded = decode_image(encode(cmyk, "JPEG", quality=95), LIMITS)
    r, g, b = (int(v) for v in decoded.inference[16, 16])
    assert r > 200 and g < 60 and b < 60, (r, g, b)


def test_sixteen_bit_png_is_scaled_not_clipped() -> None:
    decoded = decode_image(sixteen_bit_png(), LIMITS)
    white, grey = decoded.inference[10, 2], decoded.inference[10, 30]
    assert tuple(white) == (255, 255, 255)
    assert tuple(grey) == (128, 128, 128)


def test_animated_gif_uses_its_first_frame() -> None:
    decoded = decode_image(animated_gif(), LIMITS)
    r, g, b = (int(v) for v in decoded.inference[16, 16])
    assert r > 200 and g < 50 and b < 50


@pytest.mark.parametrize("orientation", [3, 6, 8])
@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_exif_orientation_is_applied(orientation: int, fmt: str) -> None:
    upright = gradient(80, 40)
    decoded = decode_image(with_orientation(upright, orientation, fmt), LIMITS)
    assert (decoded.width, decoded.height) == (80, 40)
    assert decoded.picture.size == (80, 40)
    difference = np.abs(decoded.inference.astype(int) - np.asarray(upright).astype(int))
    assert difference.mean() < 4


def test_large_image_is_scaled_to_the_inference_size_but_kept_whole_for_drawing() -> None:
    for fmt in ("JPEG", "PNG"):
        decoded = decode_image(encode(gradient(2000, 1500), fmt), LIMITS, InferenceSize(None, 500))
        assert decoded.inference.shape == (375, 500, 3), fmt
        assert decoded.picture.size == (2000, 1500), fmt
        corner = decoded.inference[-1, -1].astype(int)
        assert corner[0] > 240 and corner[1] > 240, "content is scaled, not cropped"


def test_large_rotated_jpeg_is_scaled_upright() -> None:
    decoded = decode_image(
        with_orientation(gradient(1600, 800), 6), LIMITS, InferenceSize(None, 400)
    )
    assert (decoded.width, decoded.height) == (1600, 800)
    assert decoded.inference.shape == (200, 400, 3)
    assert decoded.picture.size == (1600, 800)
    assert int(decoded.inference[100, -1, 0]) > 230, "red is strongest on the right when upright"


@pytest.mark.parametrize(
    "mode", ["1", "L", "LA", "P", "PA", "RGBA", "RGBa", "CMYK", "YCbCr", "I;16", "I", "F"]
)
def test_every_pillow_mode_converts_to_rgb(mode: str) -> None:
    from bot.detection.images import to_rgb

    converted = to_rgb(gradient(20, 10).convert("RGBA").convert(mode))
    assert converted.mode == "RGB"
    assert converted.size == (20, 10)


def test_wide_grey_modes_use_their_full_range() -> None:
    from bot.detection.images import to_rgb

    as_int = Image.fromarray(np.array([[0, 65535]], dtype=np.int32).repeat(8, 0).repeat(4, 1))
    as_float = Image.fromarray(np.array([[0.0, 1.0]], dtype=np.float32).repeat(8, 0).repeat(4, 1))
    for image in (as_int, as_float):
        pixels = np.asarray(to_rgb(image))
        assert tuple(pixels[0, 0]) == (0, 0, 0), image.mode
        assert tuple(pixels[0, -1]) == (255, 255, 255), image.mode


# --- hostile shapes and the memory of one image ------------------------------------------------


def test_needle_png_is_refused_from_its_header_with_a_clear_reason() -> None:
    needle = needle_png()
    assert len(needle) < 4_000
    with pytest.raises(ImageTooLarge) as caught:
        decode_image(needle, LIMITS)
    assert "8×400000" in caught.value.detail
    assert "long and thin" in caught.value.user_message
    _assert_one_line_message(caught.value)
    header_only = png_with_header_size(8, 400_000)
    with pytest.raises(ImageTooLarge):
        decode_image(header_only, LIMITS)  # refused before its (missing) pixels are read


def test_image_whose_decode_needs_more_than_the_budget_is_refused_before_decoding() -> None:
    limits = ImageLimits(50_000_000, 20_000_000, max_decode_bytes=2000 * 1000 * 4 - 1)
    with pytest.raises(ImageTooLarge) as caught:
        decode_image(png_with_header_size(2000, 1000), limits)
    assert "needs 8.0 MB" in caught.value.detail
    _assert_one_line_message(caught.value)
    photo = gradient(8000, 4000)
    budget = ImageLimits(50_000_000, 20_000_000, max_decode_bytes=40_000_000)
    decoded = decode_image(encode(photo, "JPEG"), budget)  # decoded at half scale: 32 MB
    assert (decoded.width, decoded.height) == (8000, 4000)
    with pytest.raises(ImageTooLarge):  # a progressive JPEG holds every coefficient: 96 MB
        decode_image(encode(photo, "JPEG", progressive=True), budget)


def test_large_image_is_kept_for_drawing_at_the_reply_size_only() -> None:
    decoded = decode_image(encode(gradient(6000, 4000), "PNG"), LIMITS)
    assert (decoded.width, decoded.height) == (6000, 4000)
    assert decoded.picture.size == (2560, 1707)
    assert decoded.inference.shape == (683, 1024, 3)


@pytest.mark.parametrize(
    "mode", ["RGBA", "I;16", "P", "LA", "I", "F"], ids=lambda m: m.replace(";", "")
)
def test_scaling_strip_by_strip_equals_scaling_the_whole_image(
    mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.detection import images

    source = gradient(300, 411).convert("RGBA")
    source.putalpha(Image.linear_gradient("L").resize((300, 411)))
    image = source.convert(mode) if mode not in ("I;16", "I", "F") else _wide(source, mode)
    whole = images.to_rgb(image).resize((97, 133), Image.Resampling.BILINEAR)
    monkeypatch.setattr(images, "_STRIP_BYTES", 300 * 4 * 7)
    strips = images.rgb_scaled(image, (97, 133))
    difference = np.abs(np.asarray(strips).astype(int) - np.asarray(whole).astype(int))
    assert difference.max() <= 1


def _wide(image: Image.Image, mode: str) -> Image.Image:
    grey = np.asarray(image.convert("L")).astype(np.float64)
    if mode == "F":
        return Image.fromarray((grey / 255).astype(np.float32))
    if mode == "I":
        return Image.fromarray((grey * 257).astype(np.int32))
    return Image.fromarray((grey * 257).astype(np.uint16))


def test_picture_no_larger_than_the_model_input_goes_as_it_is() -> None:
    small = gradient(200, 120)
    sent = decode_image(encode(small, "PNG"), LIMITS, InferenceSize(fixed=(300, 300))).inference
    assert sent.shape == (120, 200, 3)
    in_process = InferenceSize(fixed=(300, 300), graph_resizes_up_to=4.0)
    assert decode_image(encode(gradient(500, 500), "PNG"), LIMITS, in_process).inference.shape == (
        500,
        500,
        3,
    )
    assert decode_image(encode(gradient(700, 600), "PNG"), LIMITS, in_process).inference.shape == (
        300,
        300,
        3,
    )


def test_model_sized_input_is_resized_as_the_graph_resizes() -> None:
    import tensorflow as tf

    rng = np.random.default_rng(3)
    picture = Image.fromarray(rng.integers(0, 256, (413, 617, 3), dtype=np.uint8))
    ours = decode_image(encode(picture, "PNG"), LIMITS, InferenceSize(fixed=(300, 300))).inference
    graph = tf.image.resize(np.asarray(picture)[np.newaxis].astype(np.float32), [300, 300])
    assert ours.shape == (300, 300, 3)
    difference = ours.astype(np.float32) - graph.numpy()[0]
    assert np.abs(difference).max() <= 1.01, "the graph's floats, truncated to uint8"
    small = Image.fromarray(rng.integers(0, 256, (120, 200, 3), dtype=np.uint8))
    always = InferenceSize(fixed=(300, 300), graph_resizes_up_to=0.0)
    enlarged = decode_image(encode(small, "PNG"), LIMITS, always)
    graph = tf.image.resize(np.asarray(small)[np.newaxis].astype(np.float32), [300, 300])
    assert np.abs(enlarged.inference.astype(np.float32) - graph.numpy()[0]).max() <= 1.01


def test_worst_allowed_images_are_answered_within_their_share_of_one_gigabyte(
    tmp_path: Path,
) -> None:
    """Each image in flight may use 1 GB / MAX_CONCURRENT_DETECTIONS, a largest file included.

    Peak resident memory of a fresh process, so Pillow's and numpy's allocations all count.
    """
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    share = 1_000_000_000 // settings.max_concurrent_detections
    samples = worst_allowed_images(
        settings.max_image_pixels, settings.max_aspect_ratio, settings.max_decode_bytes
    )
    for name, data in samples.items():
        peak, counts, jpeg = peak_memory_of_one_photo(data, tmp_path / "upload")
        assert counts == {"person": 1, "dog": 1}, name
        reply = Image.open(io.BytesIO(jpeg))
        assert reply.format == "JPEG" and max(reply.size) <= settings.reply_max_side, name
        assert max(reply.size) / min(reply.size) <= 20, name
        assert peak + settings.max_file_bytes <= share, (name, peak // 10**6)
