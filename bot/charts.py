"""The /stats chart: detections per day and the top classes, drawn with matplotlib's Agg backend.

Uses `Figure` + `FigureCanvasAgg` directly (no pyplot global state), so it is safe in a worker
thread; call `render_stats_chart` through `asyncio.to_thread`. matplotlib is imported on the first
chart, not with the bot: most replicas never draw one, and it costs tens of MB and a second.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

from bot.i18n import Translator


def render_stats_chart(
    per_day: Sequence[tuple[date, int]],
    per_class: Sequence[tuple[str, int]],
    *,
    last_day: date,
    days: int,
    tr: Translator,
    models: Sequence[ModelChartRow] = (),
) -> bytes:
    """A PNG with two panels: detections on each of the `days` days up to `last_day` (days
    without detections show as gaps) and the classes in `per_class` (horizontal bars), labelled
    in `tr`'s language; with `models`, two more below: latency and 👍 share per model version."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    height = 4.5 + (1.5 + 0.5 * len(models) if models else 0.0)
    figure = Figure(figsize=(10, height), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    if models:
        panels: Any = figure.subfigures(2, 1, height_ratios=(4.5, height - 4.5))
        top, bottom = panels
        days_axes, classes_axes = top.subplots(1, 2, width_ratios=(3, 2))
        latency_axes, share_axes = bottom.subplots(1, 2)
        _draw_model_panels(latency_axes, share_axes, models, tr)
    else:
        days_axes, classes_axes = figure.subplots(1, 2, width_ratios=(3, 2))

    days_axes.set_title(
        tr.ngettext(
            "Detections per day, last {days} day", "Detections per day, last {days} days", days
        ).format(days=tr.number(days))
    )
    timeline = [last_day - timedelta(days=back) for back in range(days - 1, -1, -1)]
    counted = dict(per_day)
    days_axes.bar(range(days), [counted.get(day, 0) for day in timeline], color="#3b7dd8")
    step = max(1, days // 10)
    ticks = range(days - 1, -1, -step)[::-1]
    days_axes.set_xticks(ticks, [tr.short_day(timeline[i]) for i in ticks], rotation=45)
    days_axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    days_axes.set_ylabel(tr.gettext("detections"))
    if not per_day:
        days_axes.text(
            0.5,
            0.5,
            tr.gettext("no detections yet"),
            ha="center",
            va="center",
            transform=days_axes.transAxes,
        )

    classes_axes.set_title(tr.gettext("Top classes"))
    if per_class:
        names = [tr.label(name) for name, _ in per_class][::-1]
        counts = [n for _, n in per_class][::-1]
        classes_axes.barh(names, counts, color="#e07b39")
        classes_axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        classes_axes.set_xlabel(tr.gettext("objects"))
    else:
        classes_axes.text(0.5, 0.5, tr.gettext("no objects yet"), ha="center", va="center")

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


ModelChartRow = tuple[str, float | None, tuple[float, float, float] | None]
"""A model version: its name, median latency (ms) and 👍 share with its interval (or None)."""


def _draw_model_panels(
    latency_axes: Any, share_axes: Any, models: Sequence[ModelChartRow], tr: Translator
) -> None:
    """Median latency per model version, and the 👍 share with its confidence interval as an
    error bar."""
    rows = list(range(len(models)))[::-1]
    latency_axes.set_title(tr.gettext("Median inference latency per model version"))
    latency_axes.barh(rows, [median or 0.0 for _, median, _ in models], color="#3b7dd8")
    latency_axes.set_yticks(rows, [name for name, _, _ in models])
    latency_axes.set_xlabel(tr.gettext("ms"))
    share_axes.set_title(tr.gettext("Share of thumbs up (95% Wilson interval)"))
    for row, (_, _, share) in zip(rows, models, strict=True):
        if share is None:
            share_axes.text(0.02, row, tr.gettext("no ratings"), va="center")
            continue
        value, low, high = share
        share_axes.errorbar(
            [value], [row], xerr=[[value - low], [high - value]], fmt="o", color="#e07b39"
        )
    share_axes.set_xlim(0, 1)
    share_axes.set_ylim(-0.5, len(models) - 0.5)
    share_axes.set_yticks([])
