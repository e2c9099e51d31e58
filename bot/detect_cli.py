"""`detectbot detect IMG...`: the bot's detection pipeline on local files, no Telegram.

Annotated images are written as `<stem>.detected.jpg` into `--out` (created if missing), or into
the current directory without `--out`; two inputs with the same stem get `<stem>-2.detected.jpg`,
and so on. Each processed image prints one line on stdout, in input order: `IMG: 2 × person,
1 × dog -> OUT` (or, with `--json`, one JSON object). Each file that cannot be processed prints
one line on stderr naming it and the reason. Exit status: 0 when every image was processed, 1 when
some were not, 2 for unusable settings (threshold, label map, output directory), 3 when the
detector cannot start.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from tqdm import tqdm

from bot.config import Settings
from bot.detection.errors import DetectionError, DetectorError
from bot.detection.pipeline import DetectionPipeline
from bot.detection.types import DetectionResult
from bot.labels import LabelMapError

logger = logging.getLogger(__name__)

OUTPUT_SUFFIX = ".detected.jpg"
PROGRESS_MIN_FILES = 4
EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE, EXIT_DETECTOR = 0, 1, 2, 3


@dataclass(frozen=True)
class _Outcome:
    image: Path
    output: Path
    result: DetectionResult | None = None
    error: str | None = None


def detect_files(
    settings: Settings,
    images: Sequence[Path],
    *,
    out: Path | None,
    as_json: bool,
    min_score: float | None,
) -> int:
    """Detect objects in each file, write annotated copies, print counts; exit status returned."""
    threshold = settings.min_score if min_score is None else min_score
    if not 0.0 <= threshold <= 1.0:
        print(f"detectbot: --min-score must be between 0 and 1, got {threshold}", file=sys.stderr)
        return EXIT_USAGE
    out_dir = out if out is not None else Path.cwd()
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        print(
            f"detectbot: cannot create output directory {out_dir}: {_reason(exc)}", file=sys.stderr
        )
        return EXIT_USAGE
    return asyncio.run(_detect_all(settings, list(images), out_dir, as_json, threshold))


def output_paths(images: Sequence[Path], out_dir: Path) -> list[Path]:
    """`<stem>.detected.jpg` in `out_dir` per image; repeated stems get `-2`, `-3`, ... suffixes."""
    used: set[str] = set()
    paths: list[Path] = []
    for image in images:
        stem = image.stem or "image"
        name, n = stem, 1
        while name.casefold() in used:
            n += 1
            name = f"{stem}-{n}"
        used.add(name.casefold())
        paths.append(out_dir / f"{name}{OUTPUT_SUFFIX}")
    return paths


async def _detect_all(
    settings: Settings, images: list[Path], out_dir: Path, as_json: bool, min_score: float
) -> int:
    from bot.detection.factory import create_detector

    try:
        detector = create_detector(settings)
    except DetectorError as exc:
        print(f"detectbot: detector: {_one_line(exc.detail)}", file=sys.stderr)
        return EXIT_DETECTOR
    try:
        try:
            pipeline = DetectionPipeline.from_settings(settings, detector)
        except LabelMapError as exc:
            print(f"detectbot: {exc}", file=sys.stderr)
            return EXIT_USAGE
        try:
            await detector.start()
        except DetectorError as exc:
            print(f"detectbot: detector: {_one_line(exc.detail)}", file=sys.stderr)
            return EXIT_DETECTOR
        return await _process(pipeline, images, out_dir, as_json, min_score, settings)
    finally:
        await detector.close()


async def _process(
    pipeline: DetectionPipeline,
    images: list[Path],
    out_dir: Path,
    as_json: bool,
    min_score: float,
    settings: Settings,
) -> int:
    limit = asyncio.Semaphore(settings.max_concurrent_detections)
    outputs = output_paths(images, out_dir)
    show_progress = len(images) >= PROGRESS_MIN_FILES and sys.stderr.isatty()
    failures = 0
    with tqdm(
        total=len(images), file=sys.stderr, disable=not show_progress, unit="img", leave=False
    ) as progress:

        async def one(image: Path, output: Path) -> _Outcome:
            async with limit:
                outcome = await _detect_one(pipeline, image, output, min_score)
            progress.update(1)
            return outcome

        tasks = [asyncio.create_task(one(i, o)) for i, o in zip(images, outputs, strict=True)]
        try:
            for task in tasks:
                outcome = await task
                if outcome.result is None:
                    failures += 1
                    _write(f"{outcome.image}: {outcome.error}", sys.stderr)
                elif as_json:
                    _write(json.dumps(_json_record(outcome.image, outcome.result)), sys.stdout)
                else:
                    summary = outcome.result.summary
                    _write(f"{outcome.image}: {summary} -> {outcome.output}", sys.stdout)
        finally:
            for task in tasks:
                task.cancel()
    return EXIT_OK if failures == 0 else EXIT_SOME_FAILED


async def _detect_one(
    pipeline: DetectionPipeline, image: Path, output: Path, min_score: float
) -> _Outcome:
    try:
        data = await asyncio.to_thread(image.read_bytes)
    except OSError as exc:
        return _Outcome(image, output, error=f"cannot read: {_reason(exc)}")
    try:
        result = await pipeline.run(data, min_score=min_score)
    except DetectionError as exc:
        return _Outcome(image, output, error=_one_line(exc.detail))
    except Exception as exc:
        logger.debug("detection of %s failed", image, exc_info=True)
        return _Outcome(
            image, output, error=f"unexpected {type(exc).__name__}: {_one_line(str(exc))}"
        )
    try:
        await asyncio.to_thread(output.write_bytes, result.annotated_jpeg)
    except OSError as exc:
        return _Outcome(image, output, error=f"cannot write {output}: {_reason(exc)}")
    return _Outcome(image, output, result=result)


def _json_record(image: Path, result: DetectionResult) -> dict[str, Any]:
    return {
        "image": str(image),
        "width": result.width,
        "height": result.height,
        "objects": [
            {
                "label": obj.label,
                "class_id": obj.class_id,
                "score": round(obj.score, 4),
                "box": [round(v, 4) for v in obj.box],
            }
            for obj in result.objects
        ],
        "counts": result.counts,
        "inference_ms": round(result.inference_ms, 1),
    }


def _write(line: str, stream: TextIO) -> None:
    """One line, without breaking a progress bar drawn on the terminal."""
    tqdm.write(line, file=stream)
    stream.flush()


def _reason(exc: OSError) -> str:
    return exc.strerror or _one_line(str(exc))


def _one_line(text: str) -> str:
    return " ".join(text.split())
