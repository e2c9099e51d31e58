"""Image files built in memory for tests: odd modes and formats, broken and hostile inputs."""

from __future__ import annotations

import io
import json
import struct
import subprocess
import sys
import zlib
from pathlib import Path
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


def png_of_rows(
    width: int, height: int, color_type: int, bit_depth: int, row: bytes, *, trns: bytes = b""
) -> bytes:
    """A real PNG of `height` copies of the unfiltered `row`, compressed as it streams.

    Builds even a 50-megapixel file in a second without holding its pixels: the stream of
    rows is compressed piece by piece. Colour type 3 gets a grey palette (and `trns`, if given).
    """

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    parts = [b"\x89PNG\r\n\x1a\n", chunk(b"IHDR", header)]
    if color_type == 3:
        parts.append(chunk(b"PLTE", bytes(v for v in range(256) for _ in range(3))))
        if trns:
            parts.append(chunk(b"tRNS", trns))
    compressor = zlib.compressobj(9 if width * height < 10_000_000 else 1)
    line = b"\x00" + row
    rows_per_piece = max(1, 1_000_000 // len(line))
    idat = []
    for start in range(0, height, rows_per_piece):
        idat.append(compressor.compress(line * min(rows_per_piece, height - start)))
    idat.append(compressor.flush())
    parts += [chunk(b"IDAT", b"".join(idat)), chunk(b"IEND", b"")]
    return b"".join(parts)


def needle_png() -> bytes:
    """The 3.5 KB 8×400,000 grey PNG that once asked for 33 GB."""
    return png_of_rows(8, 400_000, 0, 8, bytes(8))


def worst_allowed_images(
    max_pixels: int, max_aspect: float, max_decode_bytes: int
) -> dict[str, bytes]:
    """The inputs that cost the most memory within the limits: each as large as they allow.

    Pillow holds grey 16-bit at 2 bytes a pixel, palette at 1 and RGBA at 4, so each is sized by
    the pixel limit or the decode budget, whichever is smaller.
    """

    def square(bytes_per_pixel: int) -> tuple[int, int]:
        pixels = min(max_pixels, max_decode_bytes // bytes_per_pixel)
        side = int(pixels**0.5)
        return side, pixels // side

    def ramp(length: int) -> bytes:
        return (bytes(range(256)) * (length // 256 + 1))[:length]

    strip_pixels = min(max_pixels, max_decode_bytes // 4)
    strip_short = int((strip_pixels / max_aspect) ** 0.5)
    strip_long = min(int(strip_short * max_aspect), strip_pixels // strip_short)
    (grey_w, grey_h), (rgba_w, rgba_h), (pal_w, pal_h) = square(2), square(4), square(1)
    return {
        "16-bit grey PNG": png_of_rows(grey_w, grey_h, 0, 16, ramp(2 * grey_w)),
        "RGBA PNG": png_of_rows(rgba_w, rgba_h, 6, 8, ramp(4 * rgba_w)),
        "palette PNG with transparency": png_of_rows(pal_w, pal_h, 3, 8, ramp(pal_w), trns=b"\x00"),
        "tallest RGBA strip": png_of_rows(strip_short, strip_long, 6, 8, ramp(4 * strip_short)),
    }


_PEAK_PROBE = """
import asyncio, json, sys
import numpy as np
from bot.config import Settings
from bot.detection.images import InferenceSize
from bot.detection.pipeline import DetectionPipeline, image_limits
from bot.detection.types import Detections, ModelInfo
from bot.labels import load_label_map

class TwoBoxes:
    info = ModelInfo("two boxes", "1", "serving_default")
    async def detect(self, image, version_label=None):
        assert image.shape == (300, 300, 3), image.shape
        return Detections(np.array([[0.1, 0.1, 0.6, 0.5], [0.4, 0.3, 0.9, 0.9]], np.float32),
                          np.array([1, 18]), np.array([0.9, 0.8], np.float32))

def status(field):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith(field))

data = open(sys.argv[1], "rb").read()
pipeline = DetectionPipeline(TwoBoxes(), load_label_map(None),
                             image_limits(Settings(_env_file=None)), InferenceSize((300, 300)))
before = status("VmRSS")
result = asyncio.run(pipeline.run(data, min_score=0.5))
print(json.dumps({"peak": status("VmHWM") - before, "counts": result.counts}))
sys.stdout.buffer.write(result.annotated_jpeg)
"""


def peak_memory_of_one_photo(data: bytes, scratch: Path) -> tuple[int, dict[str, int], bytes]:
    """Run `data` through the pipeline with the default limits in a fresh process.

    Returns the process's peak resident memory above where it stood before the photo (every
    allocation counts: Pillow's, numpy's, the threads'), the counts and the reply JPEG. The
    detector returns two fixed boxes, so no model (nor TensorFlow's own memory) is involved.
    """
    scratch.write_bytes(data)
    run = subprocess.run(
        [sys.executable, "-c", _PEAK_PROBE, str(scratch)],
        capture_output=True,
        timeout=300,
        cwd=Path(__file__).resolve().parents[2],
        check=False,
    )
    if run.returncode != 0:
        raise AssertionError(run.stderr.decode(errors="replace")[-2000:])
    first_line, _, jpeg = run.stdout.partition(b"\n")
    report = json.loads(first_line)
    return int(report["peak"]), dict(report["counts"]), jpeg
