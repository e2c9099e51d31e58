"""The detection pipeline on the real model: photos in, labelled boxes, caption and picture out."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from bot.config import Settings
from bot.detection.annotate import (
    TELEGRAM_MAX_ASPECT,
    TELEGRAM_MAX_DIMENSION_SUM,
    class_color,
    line_width_for,
    text_color_for,
)
from bot.detection.errors import (
    CorruptImage,
    EmptyImage,
    ImageError,
    ImageTooLarge,
    ImageTooSmall,
    NotAnImage,
)
from bot.detection.images import ImageLimits, InferenceSize
from bot.detection.inprocess import InProcessDetector
from bot.detection.pipeline import DetectionPipeline
from bot.detection.summary import (
    CAPTION_MAX_CHARS,
    count_labels,
    format_counts,
    nothing_found,
    telegram_length,
)
from bot.detection.types import DetectedObject, DetectionResult
from bot.labels import load_label_map
from tests.support.image_samples import (
    encode,
    needle_png,
    png_with_header_size,
    with_orientation,
)

LIMITS = ImageLimits(max_image_pixels=50_000_000, max_file_bytes=20_000_000)
MODEL_SIZE = InferenceSize(fixed=(300, 300))  # the shared model's input (its README)


@pytest.fixture
def pipeline(inprocess_detector: InProcessDetector) -> DetectionPipeline:
    return DetectionPipeline(inprocess_detector, load_label_map(None), LIMITS, MODEL_SIZE)


@pytest.fixture(scope="session")
def photo_bytes(photos_dir: Path) -> dict[str, bytes]:
    """Every shared photo's file content, by file name."""
    return {path.name: path.read_bytes() for path in sorted(photos_dir.glob("*.jpg"))}


def _open(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    return image.convert("RGB")


def _iou(a: tuple[float, ...] | list[float], b: tuple[float, ...] | list[float]) -> float:
    ymin, xmin = max(a[0], b[0]), max(a[1], b[1])
    ymax, xmax = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, ymax - ymin) * max(0.0, xmax - xmin)
    area = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / area if area > 0 else 0.0


def _jpeg(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    assert image.format == "JPEG"
    image.load()
    return image


def _expected_counts(photo: dict[str, Any]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for det in photo["detections"]:
        counts[det["class"]] = counts.get(det["class"], 0) + 1
    return counts


# --- captions -------------------------------------------------------------------------------


def test_caption_lists_most_frequent_first_then_by_name() -> None:
    assert format_counts({"dog": 1, "person": 2}) == "2 × person, 1 × dog"
    assert format_counts({"zebra": 1, "cat": 1, "person": 3}) == "3 × person, 1 × cat, 1 × zebra"
    assert format_counts({}) == ""


def test_nothing_found_names_the_threshold() -> None:
    assert nothing_found(0.5) == "Nothing found above 50%."
    assert nothing_found(0.35) == "Nothing found above 35%."
    assert nothing_found(0.125) == "Nothing found above 12.5%."
    assert nothing_found(0.5, frozenset({"dog"})) == "No dog found above 50%."
    assert nothing_found(0.6, frozenset({"dog", "cat"})) == "No cat or dog found above 60%."


def test_counting_respects_the_class_filter() -> None:
    objects = [
        DetectedObject("person", 1, 0.9, (0, 0, 1, 1)),
        DetectedObject("dog", 18, 0.8, (0, 0, 1, 1)),
        DetectedObject("person", 1, 0.7, (0, 0, 1, 1)),
    ]
    assert count_labels(objects) == {"person": 2, "dog": 1}
    assert list(count_labels(objects)) == ["person", "dog"]
    assert count_labels(objects, frozenset({"dog"})) == {"dog": 1}


def test_long_caption_keeps_the_most_frequent_classes_then_says_how_many_more() -> None:
    counts = {f"{'very long class name ' * 3}{i:03d}": 1 + i % 4 for i in range(200)}
    caption = format_counts(counts)
    assert telegram_length(caption) <= CAPTION_MAX_CHARS
    shown = caption.split(" and ")[0].split(", ")
    assert [int(part.split(" × ")[0]) for part in shown] == sorted(
        (int(part.split(" × ")[0]) for part in shown), reverse=True
    )
    assert shown[0].startswith("4 × ")
    assert caption.endswith(f" and {200 - len(shown)} more classes")
    a, b, c = "a" * 30, "b" * 30, "c" * 30
    three = {c: 1, a: 2, b: 1}
    assert format_counts(three, max_chars=106) == f"2 × {a}, 1 × {b}, 1 × {c}"
    assert format_counts(three, max_chars=105) == f"2 × {a}, 1 × {b} and 1 more class"
    assert format_counts(three, max_chars=86) == f"2 × {a} and 2 more classes"
    cut = format_counts(three, max_chars=52)
    assert cut == f"2 × {'a' * 28}… and 2 more classes" and len(cut) == 52


def test_caption_is_counted_in_telegram_units_and_a_giant_name_is_cut() -> None:
    emoji = {"🐱" * 600: 1}
    caption = format_counts(emoji)
    assert 1000 < telegram_length(caption) <= CAPTION_MAX_CHARS
    assert len(caption) < 520, "an emoji outside the BMP counts twice, as Telegram counts it"
    assert caption.startswith("1 × 🐱") and caption.endswith("…")
    two = format_counts({"x" * 5000: 3, "dog": 1})
    assert telegram_length(two) <= CAPTION_MAX_CHARS
    assert two.startswith("3 × xxx") and two.endswith("… and 1 more class")
    assert format_counts({"dog": 1, "cat": 2}, max_chars=1024) == "2 × cat, 1 × dog"


# --- the real model on the shared photos ----------------------------------------------------


async def test_expected_objects_are_found_on_every_shared_photo(
    pipeline: DetectionPipeline,
    photo_bytes: dict[str, bytes],
    expected_detections: dict[str, Any],
    real_model: bool,
) -> None:
    if not real_model:
        pytest.skip("expected.json describes the real shared model")
    for name, photo in expected_detections["photos"].items():
        result = await pipeline.run(photo_bytes[name], min_score=0.5)
        assert (result.width, result.height) == tuple(photo["size"]), name
        assert result.counts == _expected_counts(photo), name
        assert sorted(result.counts) == sorted(photo["classes"]), name
        for got, want in zip(result.objects, photo["detections"], strict=True):
            assert got.label == want["class"] and got.class_id == want["id"], name
            assert got.score == pytest.approx(want["score"], abs=0.01), name
            assert _iou(got.box, want["box"]) > 0.95, name
        if not photo["detections"]:
            assert result.summary == "Nothing found above 50%."
        else:
            assert result.summary == format_counts(_expected_counts(photo))
        assert result.model_version == "1"
        assert 0 < result.inference_ms <= result.total_ms


async def test_annotated_picture_is_a_jpeg_of_the_original_size_with_boxes_drawn(
    pipeline: DetectionPipeline, photo_bytes: dict[str, bytes], real_model: bool
) -> None:
    data = photo_bytes["cup_coffee.jpg"]
    result = await pipeline.run(data, min_score=0.5)
    if real_model:
        assert result.counts == {"cup": 1, "dining table": 1}
    annotated = _jpeg(result.annotated_jpeg)
    assert annotated.size == (result.width, result.height)
    original = np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).astype(int)
    drawn = np.asarray(annotated).astype(int)
    for obj in result.objects:
        ymin, xmin, ymax, xmax = obj.box
        top, left = round(ymin * result.height), round(xmin * result.width)
        bottom = round(ymax * result.height) - 1
        right = round(xmax * result.width) - 1
        color = np.array(class_color(obj.class_id))
        rows = slice(top + (bottom - top) // 4, bottom - (bottom - top) // 4)
        edges = np.concatenate([drawn[rows, left + 1], drawn[rows, right - 1]])
        before = np.concatenate([original[rows, left + 1], original[rows, right - 1]])
        assert np.linalg.norm(edges - color, axis=-1).mean() < 30, obj.label
        halo = np.array(text_color_for(class_color(obj.class_id)))
        width = line_width_for(annotated.size)
        inner = np.concatenate([drawn[rows, left + width], drawn[rows, right - width]])
        assert np.linalg.norm(inner - halo, axis=-1).mean() < 40, obj.label
        changed = np.abs(np.concatenate([edges, inner]) - np.concatenate([before, before]))
        assert changed.sum(axis=-1).mean() > 60, obj.label
    centre_changed = np.abs(drawn - original).sum(axis=-1)[150:250, 250:350] > 60
    assert centre_changed.mean() < 0.02, "the picture itself is not repainted"


async def test_model_sized_input_finds_what_the_graph_finds_on_the_full_photo(
    inprocess_detector: InProcessDetector, photo_bytes: dict[str, bytes], real_model: bool
) -> None:
    """Resizing to 300×300 before the call, as the graph would, changes no detection.

    Above the default threshold the counts are equal and every box matches (same class, IoU ≥
    0.9, score within 0.02; a twin is looked for 0.02 below the threshold). Down to 0.3 one may
    swap: the model's README shows two near-equal person anchors on
    the motorcycle photo trading places between the full photo and a 300×300 input.
    """
    if not real_model:
        pytest.skip("the shared model's input size is 300×300")
    labels = load_label_map(None)
    full_photo = DetectionPipeline(inprocess_detector, labels, LIMITS, InferenceSize(None, 4096))
    model_sized = DetectionPipeline(inprocess_detector, labels, LIMITS, MODEL_SIZE)
    for min_score, allowed_swaps in ((0.5, 0), (0.3, 1)):
        compared, swaps = 0, 0
        for name, data in photo_bytes.items():
            graph = await full_photo.run(data, min_score=min_score)
            ours = await model_sized.run(data, min_score=min_score - 0.02)
            if min_score == 0.5:
                same = await model_sized.run(data, min_score=min_score)
                assert same.counts == graph.counts, name
            for want in graph.objects:
                twins = [o for o in ours.objects if o.label == want.label]
                match = max(twins, key=lambda o: _iou(o.box, want.box))
                assert match.score == pytest.approx(want.score, abs=0.02), (name, want.label)
                swaps += _iou(match.box, want.box) < 0.9
                compared += 1
        assert compared >= 8 and swaps <= allowed_swaps, (min_score, compared, swaps)


@pytest.mark.parametrize("orientation", [6, 8])
async def test_exif_rotated_photo_gets_boxes_on_the_object_after_rotation(
    pipeline: DetectionPipeline, photo_bytes: dict[str, bytes], orientation: int
) -> None:
    upright_image = _open(photo_bytes["person_cameraman.jpg"])
    upright = await pipeline.run(encode(upright_image, "JPEG", quality=95), min_score=0.3)
    rotated = await pipeline.run(with_orientation(upright_image, orientation), min_score=0.3)
    assert (rotated.width, rotated.height) == upright_image.size
    assert upright.objects, "the upright photo has detections"
    best = upright.objects[0]
    match = max(
        (o for o in rotated.objects if o.label == best.label),
        key=lambda o: _iou(o.box, best.box),
        default=None,
    )
    assert match is not None, f"{best.label} not found in the rotated copy"
    assert _iou(match.box, best.box) > 0.8


async def test_class_filter_keeps_only_the_chosen_classes_in_counts_and_picture(
    pipeline: DetectionPipeline, photo_bytes: dict[str, bytes], real_model: bool
) -> None:
    if not real_model:
        pytest.skip("needs the real model's classes")
    data = photo_bytes["cup_coffee.jpg"]
    everything = await pipeline.run(data, min_score=0.5)
    cups = await pipeline.run(data, min_score=0.5, classes=frozenset({"cup"}))
    assert cups.counts == {"cup": 1} and cups.summary == "1 × cup"
    assert [o.label for o in cups.objects] == ["cup"]
    assert cups.annotated_jpeg != everything.annotated_jpeg
    no_filter = await pipeline.run(data, min_score=0.5, classes=frozenset())
    assert no_filter.counts == everything.counts
    dogs = await pipeline.run(data, min_score=0.5, classes=frozenset({"dog"}))
    assert dogs.counts == {} and dogs.objects == ()
    assert dogs.summary == "No dog found above 50%."


async def test_threshold_drops_weaker_objects(
    pipeline: DetectionPipeline, photo_bytes: dict[str, bytes], real_model: bool
) -> None:
    if not real_model:
        pytest.skip("needs the real model's scores")
    data = photo_bytes["cup_coffee.jpg"]
    strict = await pipeline.run(data, min_score=0.7)
    assert strict.counts == {"cup": 1}
    loose = await pipeline.run(data, min_score=0.3)
    assert len(loose.objects) > 2
    assert all(o.score >= 0.3 for o in loose.objects)
    assert [o.score for o in loose.objects] == sorted(
        (o.score for o in loose.objects), reverse=True
    )
    none = await pipeline.run(data, min_score=0.9)
    assert none.summary == "Nothing found above 90%." and _jpeg(none.annotated_jpeg)


async def test_concurrent_runs_give_the_same_results_as_one_at_a_time(
    pipeline: DetectionPipeline, photo_bytes: dict[str, bytes]
) -> None:
    datas = list(photo_bytes.values())[:4]
    one_by_one = [await pipeline.run(d, min_score=0.5) for d in datas]
    together = await asyncio.gather(*(pipeline.run(d, min_score=0.5) for d in datas))
    for a, b in zip(one_by_one, together, strict=True):
        assert a.counts == b.counts
        assert [o.label for o in a.objects] == [o.label for o in b.objects]
        for oa, ob in zip(a.objects, b.objects, strict=True):
            assert oa.score == pytest.approx(ob.score, abs=1e-4)


async def test_tf_serving_path_gives_the_same_result(
    tfserving_detector: Any, pipeline: DetectionPipeline, photo_bytes: dict[str, bytes]
) -> None:
    grpc_pipeline = DetectionPipeline(tfserving_detector, pipeline.labels, LIMITS, MODEL_SIZE)
    data = photo_bytes["motorcycle_stereo.jpg"]
    local = await pipeline.run(data, min_score=0.4)
    remote = await grpc_pipeline.run(data, min_score=0.4)
    assert remote.counts == local.counts
    for a, b in zip(local.objects, remote.objects, strict=True):
        assert a.score == pytest.approx(b.score, abs=1e-4)
        assert _iou(a.box, b.box) > 0.99


async def test_caption_with_a_label_map_of_long_names_fits_telegram(
    tmp_path: Path, inprocess_detector: InProcessDetector, photo_bytes: dict[str, bytes]
) -> None:
    label_map = tmp_path / "long.pbtxt"
    label_map.write_text(
        "".join(
            f'item {{ id: {i} display_name: "{"Ärmelkanal-Schwimmer " * 8}no. {i}" }}\n'
            for i in range(1, 91)
        ),
        encoding="utf-8",
    )
    settings = Settings(_env_file=None, label_map=label_map, model_path=tmp_path)  # type: ignore[call-arg]
    pipeline = DetectionPipeline.from_settings(settings, inprocess_detector)
    result = await pipeline.run(photo_bytes["motorcycle_stereo.jpg"], min_score=0.01)
    assert len(result.counts) > 5
    assert telegram_length(result.summary) <= CAPTION_MAX_CHARS
    most_frequent, count = next(iter(result.counts.items()))
    assert result.summary.startswith(f"{count} × {most_frequent}")
    shown = result.summary.count(" × ")
    assert result.summary.endswith(f" and {len(result.counts) - shown} more classes")


# --- odd but good, and bad, input -----------------------------------------------------------


def _odd_inputs(photo: Image.Image) -> dict[str, bytes]:
    rgba = photo.convert("RGBA")
    rgba.putalpha(Image.new("L", photo.size, 255))
    grey16 = Image.fromarray(np.asarray(photo.convert("L")).astype(np.uint16) * 257)
    frames = [photo.convert("P"), photo.convert("L").convert("P")]
    return {
        "grayscale JPEG": encode(photo.convert("L"), "JPEG", quality=95),
        "RGBA PNG": encode(rgba, "PNG"),
        "CMYK JPEG": encode(photo.convert("CMYK"), "JPEG", quality=95),
        "16-bit PNG": encode(grey16, "PNG"),
        "animated GIF": encode(frames[0], "GIF", save_all=True, append_images=frames[1:]),
        "lossless WebP": encode(photo, "WEBP", lossless=True),
        "BMP": encode(photo, "BMP"),
    }


async def test_odd_but_valid_images_produce_a_result(
    pipeline: DetectionPipeline, photo_bytes: dict[str, bytes], real_model: bool
) -> None:
    photo = _open(photo_bytes["cat_chelsea.jpg"])
    for kind, data in _odd_inputs(photo).items():
        result = await pipeline.run(data, min_score=0.5)
        assert (result.width, result.height) == photo.size, kind
        assert _jpeg(result.annotated_jpeg).size == photo.size, kind
        if real_model and kind in ("RGBA PNG", "lossless WebP", "BMP"):
            assert result.counts == {"cat": 1}, kind


def _bad_inputs(photo_bytes: bytes) -> list[tuple[str, bytes, type[ImageError]]]:
    return [
        ("zero bytes", b"", EmptyImage),
        ("a text file", "Привет! Just some text.\n".encode(), NotAnImage),
        ("a truncated JPEG", photo_bytes[: len(photo_bytes) // 3], CorruptImage),
        ("a 1×1 image", encode(Image.new("RGB", (1, 1)), "PNG"), ImageTooSmall),
        ("a decompression bomb", png_with_header_size(200_000, 200_000), ImageTooLarge),
        ("the 3.5 KB 8×400,000 PNG", needle_png(), ImageTooLarge),
    ]


async def test_bad_input_gets_its_own_error_and_a_one_line_message(
    pipeline: DetectionPipeline, photo_bytes: dict[str, bytes]
) -> None:
    for name, data, error in _bad_inputs(photo_bytes["person_astronaut.jpg"]):
        with pytest.raises(ImageError) as caught:
            await pipeline.run(data, min_score=0.5)
        assert type(caught.value) is error, name
        message = caught.value.user_message
        assert message and "\n" not in message and len(message) < 120, name
        assert "\n" not in caught.value.detail, name


async def test_huge_strip_is_answered_within_telegram_limits(
    pipeline: DetectionPipeline,
) -> None:
    strip = Image.linear_gradient("L").resize((12000, 800)).convert("RGB")
    result: DetectionResult = await pipeline.run(encode(strip, "JPEG"), min_score=0.0)
    assert (result.width, result.height) == (12000, 800)
    reply = _jpeg(result.annotated_jpeg)
    assert len(result.annotated_jpeg) <= 10_000_000
    assert reply.width + reply.height <= TELEGRAM_MAX_DIMENSION_SUM
    assert max(reply.size) / min(reply.size) <= TELEGRAM_MAX_ASPECT


def test_pipeline_from_settings_reads_the_configured_label_map(
    tmp_path: Path, inprocess_detector: InProcessDetector
) -> None:
    label_map = tmp_path / "labels.pbtxt"
    label_map.write_text('item { id: 1 display_name: "human" }\n', encoding="utf-8")
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, label_map=label_map, inference_max_side=640, model_path=tmp_path
    )
    pipeline = DetectionPipeline.from_settings(settings, inprocess_detector)
    assert pipeline.labels.display_name(1) == "human"
    assert pipeline.inference == InferenceSize(fixed=None, max_side=640, graph_resizes_up_to=4.0)


_ZOO_SSD_CONFIG = """
model {
  ssd {
    num_classes: 90
    image_resizer {
      fixed_shape_resizer {
        height: 320
        width: 320
      }
    }
  }
}
"""


def test_model_input_size_is_the_setting_or_the_zoo_pipeline_config(
    tmp_path: Path, inprocess_detector: InProcessDetector
) -> None:
    (tmp_path / "1").mkdir()
    (tmp_path / "2").mkdir()
    (tmp_path / "2" / "pipeline.config").write_text(_ZOO_SSD_CONFIG, encoding="utf-8")
    learned = Settings(_env_file=None, model_path=tmp_path)  # type: ignore[call-arg]
    pipeline = DetectionPipeline.from_settings(learned, inprocess_detector)
    assert pipeline.inference.fixed == (320, 320)
    explicit = Settings(_env_file=None, model_path=tmp_path, model_input_size="300x300")  # type: ignore[call-arg, arg-type]
    assert DetectionPipeline.from_settings(explicit, inprocess_detector).inference.fixed == (
        300,
        300,
    )
    (tmp_path / "2" / "pipeline.config").write_text(
        "image_resizer { keep_aspect_ratio_resizer { min_dimension: 512 max_dimension: 512 } }",
        encoding="utf-8",
    )
    keep_aspect = DetectionPipeline.from_settings(learned, inprocess_detector).inference
    assert keep_aspect == InferenceSize(fixed=None, max_side=512, graph_resizes_up_to=4.0)
