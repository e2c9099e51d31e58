"""Decoding uploads: every format and mode becomes upright RGB; bad input gets a clear error."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from bot.detection.errors import (
    CorruptImage,
    EmptyImage,
    ImageError,
    ImageTooLarge,
    ImageTooSmall,
    NotAnImage,
)
from bot.detection.images import ImageLimits, decode_image
from tests.support.image_samples import (
    animated_gif,
    encode,
    gradient,
    png_with_header_size,
    rgba_png_half_transparent,
    sixteen_bit_png,
    with_orientation,
)

LIMITS = ImageLimits(
    max_image_pixels=50_000_000, max_file_bytes=20_000_000, inference_max_side=1024
)


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
    limits = ImageLimits(50_000_000, max_file_bytes=len(data) - 1, inference_max_side=1024)
    with pytest.raises(ImageTooLarge) as caught:
        decode_image(data, limits)
    assert "MB" in caught.value.detail


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "BMP", "GIF"])
def test_each_accepted_format_decodes_to_rgb(fmt: str) -> None:
    decoded = decode_image(encode(gradient(64, 48), fmt), LIMITS)
    assert (decoded.width, decoded.height) == (64, 48)
    assert decoded.inference.shape == (48, 64, 3)
    assert decoded.inference.dtype == np.uint8
    assert decoded.full().mode == "RGB"
    assert decoded.full().size == (64, 48)
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
    assert decoded.full().size == (80, 40)
    difference = np.abs(decoded.inference.astype(int) - np.asarray(upright).astype(int))
    assert difference.mean() < 4


def test_large_image_is_scaled_to_the_inference_size_but_kept_whole_for_drawing() -> None:
    limits = ImageLimits(50_000_000, 20_000_000, inference_max_side=500)
    for fmt in ("JPEG", "PNG"):
        decoded = decode_image(encode(gradient(2000, 1500), fmt), limits)
        assert decoded.inference.shape == (375, 500, 3), fmt
        assert decoded.full().size == (2000, 1500), fmt
        corner = decoded.inference[-1, -1].astype(int)
        assert corner[0] > 240 and corner[1] > 240, "content is scaled, not cropped"


def test_large_rotated_jpeg_is_scaled_upright() -> None:
    limits = ImageLimits(50_000_000, 20_000_000, inference_max_side=400)
    decoded = decode_image(with_orientation(gradient(1600, 800), 6), limits)
    assert (decoded.width, decoded.height) == (1600, 800)
    assert decoded.inference.shape == (200, 400, 3)
    assert decoded.full().size == (1600, 800)
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
