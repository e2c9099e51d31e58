"""The size the model takes its images at: `MODEL_INPUT_SIZE`, or the zoo's `pipeline.config`.

Zoo detectors resize every image in the graph: an SSD to a fixed size (`fixed_shape_resizer`,
e.g. 320×320), others keeping the aspect ratio up to a largest side
(`keep_aspect_ratio_resizer`). Sending the image at that size spares building, sending and
parsing a tensor the graph would shrink at once. A zoo archive's `pipeline.config` says which;
it is looked for next to the newest version under `MODEL_PATH` and in `MODEL_PATH` itself.
"""

from __future__ import annotations

import logging
import re
from dataclasses import replace
from pathlib import Path

from bot.config import Settings
from bot.detection.images import InferenceSize

log = logging.getLogger(__name__)

PIPELINE_CONFIG = "pipeline.config"
_BLOCK = r"{name}\s*\{{([^{{}}]*)\}}"
_FIELD = r"\b{name}\s*:\s*(\d+)"


GRAPH_RESIZES_UP_TO = 4.0


def inference_size(settings: Settings) -> InferenceSize:
    """The explicit setting first, else what `pipeline.config` says, else long side ≤ max side.

    A picture of up to 4× the model's pixels goes to the model as it is, for the graph to resize
    with the same method: profiled on the shared photos (0.14-0.37 MP for a 0.09 MP model),
    resizing them here costs more CPU than the graph's resize in-process, or than building and
    parsing the larger tensor through gRPC. A 1280-px Telegram photo (12×) is resized here.
    """
    return replace(_learned_size(settings), graph_resizes_up_to=GRAPH_RESIZES_UP_TO)


def _learned_size(settings: Settings) -> InferenceSize:
    if settings.model_input_size is not None:
        return InferenceSize(fixed=settings.model_input_size, max_side=settings.inference_max_side)
    config = find_pipeline_config(settings.model_path)
    if config is None:
        return InferenceSize(max_side=settings.inference_max_side)
    learned = parse_pipeline_config(
        config.read_text(encoding="utf-8", errors="replace"), settings.inference_max_side
    )
    log.info("model input size from %s: %s", config, _describe(learned))
    return learned


def find_pipeline_config(model_base_dir: Path) -> Path | None:
    """`pipeline.config` of the newest numeric version under `model_base_dir`, or of the dir."""
    if not model_base_dir.is_dir():
        return None
    versions = sorted(
        (p for p in model_base_dir.iterdir() if p.is_dir() and p.name.isdigit()),
        key=lambda p: int(p.name),
    )
    for candidate in ([versions[-1]] if versions else []) + [model_base_dir]:
        if (candidate / PIPELINE_CONFIG).is_file():
            return candidate / PIPELINE_CONFIG
    return None


def parse_pipeline_config(text: str, max_side: int) -> InferenceSize:
    """The image resizer of a TF Object Detection API `pipeline.config` (text proto)."""
    fixed = _block(text, "fixed_shape_resizer")
    if fixed is not None:
        height, width = _field(fixed, "height"), _field(fixed, "width")
        if height and width:
            return InferenceSize(fixed=(width, height), max_side=max_side)
    keep_aspect = _block(text, "keep_aspect_ratio_resizer")
    if keep_aspect is not None:
        largest = _field(keep_aspect, "max_dimension")
        if largest:
            return InferenceSize(max_side=min(largest, max_side))
    return InferenceSize(max_side=max_side)


def _block(text: str, name: str) -> str | None:
    match = re.search(_BLOCK.format(name=name), text)
    return match.group(1) if match else None


def _field(block: str, name: str) -> int | None:
    match = re.search(_FIELD.format(name=name), block)
    return int(match.group(1)) if match else None


def _describe(size: InferenceSize) -> str:
    if size.fixed is not None:
        return f"{size.fixed[0]}×{size.fixed[1]} (fixed)"
    return f"long side ≤ {size.max_side}"
