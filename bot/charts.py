"""The /stats chart: detections per day and the top classes, drawn with matplotlib's Agg backend.

Uses `Figure` + `FigureCanvasAgg` directly (no pyplot global state), so it is safe in a worker
thread; call `render_stats_chart` through `asyncio.to_thread`. matplotlib is imported on the first
chart, not with the bot: most replicas never draw one, and it costs tens of MB and a second.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import date, timedelta


def render_stats_chart(
    per_day: Sequence[tuple[date, int]],
    per_class: Sequence[tuple[str, int]],
    *,
    last_day: date,
    days: int,
) -> bytes:
    """A PNG with two panels: detections on each of the `days` days up to `last_day` (days
    without detections show as gaps) and the classes in `per_class` (horizontal bars)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(10, 4.5), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    days_axes, classes_axes = figure.subplots(1, 2, width_ratios=(3, 2))

    days_axes.set_title(f"Detections per day, last {days} days")
    timeline = [last_day - timedelta(days=back) for back in range(days - 1, -1, -1)]
    counted = dict(per_day)
    days_axes.bar(range(days), [counted.get(day, 0) for day in timeline], color="#3b7dd8")
    step = max(1, days // 10)
    ticks = range(days - 1, -1, -step)[::-1]
    days_axes.set_xticks(ticks, [timeline[i].strftime("%m-%d") for i in ticks], rotation=45)
    days_axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    days_axes.set_ylabel("detections")
    if not per_day:
        days_axes.text(
            0.5, 0.5, "no detections yet", ha="center", va="center", transform=days_axes.transAxes
        )

    classes_axes.set_title("Top classes")
    if per_class:
        names = [name for name, _ in per_class][::-1]
        counts = [n for _, n in per_class][::-1]
        classes_axes.barh(names, counts, color="#e07b39")
        classes_axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        classes_axes.set_xlabel("objects")
    else:
        classes_axes.text(0.5, 0.5, "no objects yet", ha="center", va="center")

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
