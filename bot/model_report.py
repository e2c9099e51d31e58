"""The /stats section comparing models and versions: figures per arm and whether people prefer
the canary or the stable version (👍 share, Wilson interval, two-proportion test)."""

from __future__ import annotations

from collections.abc import Sequence

from bot.detection.models import CANARY_LABEL, STABLE_LABEL
from bot.preference import SIGNIFICANCE, Share, two_proportion_p_value, wilson_interval
from db.records import ModelVersionStats


def arm_name(arm: ModelVersionStats) -> str:
    versions = "/".join(arm.versions) or "?"
    label = f" {arm.model_label}" if arm.model_label else ""
    return f"{arm.model_name}{label} v{versions}"


def thumbs_share(arm: ModelVersionStats) -> Share:
    return wilson_interval(arm.thumbs_up, arm.thumbs_up + arm.thumbs_down)


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.0f}%"


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f} ms"


def arm_line(arm: ModelVersionStats) -> str:
    share = thumbs_share(arm)
    thumbs = f"👍 {arm.thumbs_up} / 👎 {arm.thumbs_down}"
    if share.n:
        thumbs += (
            f", 👍 {_percent(share.value)} (95% CI {_percent(share.low)}–{_percent(share.high)})"
        )
    objects = "n/a" if arm.mean_objects is None else f"{arm.mean_objects:.1f}"
    return (
        f"{arm_name(arm)}: {arm.detections_ok + arm.detections_failed} photos, "
        f"failed {_percent(arm.failure_rate)}, median {_ms(arm.median_inference_ms)}, "
        f"p95 {_ms(arm.p95_inference_ms)}, {objects} objects/photo; {thumbs}"
    )


def comparison_line(arms: Sequence[ModelVersionStats], default_model: str) -> str | None:
    """Whether the default model's canary is liked more or less than its stable version."""
    by_label = {a.model_label: a for a in arms if a.model_name == default_model}
    stable, canary = by_label.get(STABLE_LABEL), by_label.get(CANARY_LABEL)
    if stable is None or canary is None:
        return None
    a, b = thumbs_share(stable), thumbs_share(canary)
    p = two_proportion_p_value(a, b)
    if p is None or a.value is None or b.value is None:
        return "Canary vs stable: not enough ratings to compare yet."
    if p >= SIGNIFICANCE:
        return f"Canary vs stable: no significant difference in 👍 share (p = {p:.2f})."
    better = "more" if b.value > a.value else "less"
    return f"Canary vs stable: people like the canary {better} (p = {p:.3f}, significant)."


def model_report(arms: Sequence[ModelVersionStats], default_model: str, days: int) -> str | None:
    if not arms:
        return None
    lines = [f"Models, last {days} days:", *(f"• {arm_line(a)}" for a in arms)]
    comparison = comparison_line(arms, default_model)
    if comparison is not None:
        lines.append(comparison)
    return "\n".join(lines)
