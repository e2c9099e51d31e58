"""The /stats section comparing models and versions: figures per arm and whether people prefer
the canary or the stable version (👍 share, Wilson interval, two-proportion test)."""

from __future__ import annotations

from collections.abc import Sequence

from babel.numbers import format_decimal

from bot.detection.models import CANARY_LABEL, STABLE_LABEL
from bot.i18n import ENGLISH, Translator
from bot.preference import SIGNIFICANCE, Share, two_proportion_p_value, wilson_interval
from db.records import ModelVersionStats


def arm_name(arm: ModelVersionStats) -> str:
    versions = "/".join(arm.versions) or "?"
    label = f" {arm.model_label}" if arm.model_label else ""
    return f"{arm.model_name}{label} v{versions}"


def thumbs_share(arm: ModelVersionStats) -> Share:
    return wilson_interval(arm.thumbs_up, arm.thumbs_up + arm.thumbs_down)


def _percent(value: float | None, tr: Translator) -> str:
    return tr.gettext("n/a") if value is None else tr.percent(round(value, 2))


def _ms(value: float | None, tr: Translator) -> str:
    if value is None:
        return tr.gettext("n/a")
    return tr.gettext("{ms} ms").format(ms=tr.number(round(value)))


def arm_line(arm: ModelVersionStats, tr: Translator = ENGLISH) -> str:
    share = thumbs_share(arm)
    thumbs = f"👍 {tr.number(arm.thumbs_up)} / 👎 {tr.number(arm.thumbs_down)}"
    if share.n:
        thumbs += tr.gettext(", 👍 {share} (95% CI {low}–{high})").format(
            share=_percent(share.value, tr),
            low=_percent(share.low, tr),
            high=_percent(share.high, tr),
        )
    photos = arm.detections_ok + arm.detections_failed
    objects = (
        tr.gettext("n/a")
        if arm.mean_objects is None
        else format_decimal(arm.mean_objects, format="0.0", locale=tr.locale)
    )
    figures = tr.ngettext(
        "{photos} photo, failed {failed}, median {median}, p95 {p95}, {objects} objects/photo",
        "{photos} photos, failed {failed}, median {median}, p95 {p95}, {objects} objects/photo",
        photos,
    ).format(
        photos=tr.number(photos),
        failed=_percent(arm.failure_rate, tr),
        median=_ms(arm.median_inference_ms, tr),
        p95=_ms(arm.p95_inference_ms, tr),
        objects=objects,
    )
    return f"{arm_name(arm)}: {figures}; {thumbs}"


def comparison_line(
    arms: Sequence[ModelVersionStats], default_model: str, tr: Translator = ENGLISH
) -> str | None:
    """Whether the default model's canary is liked more or less than its stable version."""
    by_label = {a.model_label: a for a in arms if a.model_name == default_model}
    stable, canary = by_label.get(STABLE_LABEL), by_label.get(CANARY_LABEL)
    if stable is None or canary is None:
        return None
    a, b = thumbs_share(stable), thumbs_share(canary)
    p = two_proportion_p_value(a, b)
    if p is None or a.value is None or b.value is None:
        return tr.gettext("Canary vs stable: not enough ratings to compare yet.")
    if p >= SIGNIFICANCE:
        return tr.gettext(
            "Canary vs stable: no significant difference in 👍 share (p = {p:.2f})."
        ).format(p=p)
    if b.value > a.value:
        text = tr.gettext(
            "Canary vs stable: people like the canary more (p = {p:.3f}, significant)."
        )
    else:
        text = tr.gettext(
            "Canary vs stable: people like the canary less (p = {p:.3f}, significant)."
        )
    return text.format(p=p)


def model_report(
    arms: Sequence[ModelVersionStats], default_model: str, days: int, tr: Translator = ENGLISH
) -> str | None:
    if not arms:
        return None
    heading = tr.ngettext("Models, last {days} day:", "Models, last {days} days:", days).format(
        days=tr.number(days)
    )
    lines = [heading, *(f"• {arm_line(a, tr)}" for a in arms)]
    comparison = comparison_line(arms, default_model, tr)
    if comparison is not None:
        lines.append(comparison)
    return "\n".join(lines)
