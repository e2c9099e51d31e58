"""The /stats chart: detections per day and the top classes, drawn with matplotlib's Agg backend.

Uses `Figure` + `FigureCanvasAgg` directly (no pyplot global state), so it is safe in a worker
thread; call `render_stats_chart` through `asyncio.to_thread`.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import date

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def render_stats_chart(
    per_day: Sequence[tuple[date, int]], per_class: Sequence[tuple[str, int]]
) -> bytes:
    """A PNG with two panels: detections per day (bars) and top classes (horizontal bars)."""
    figure = Figure(figsize=(10, 4.5), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    days_axes, classes_axes = figure.subplots(1, 2, width_ratios=(3, 2))

    days_axes.set_title("Detections per day")
    if per_day:
        labels = [d.strftime("%m-%d") for d, _ in per_day]
        days_axes.bar(range(len(per_day)), [n for _, n in per_day], color="#3b7dd8")
        step = max(1, len(labels) // 10)
        days_axes.set_xticks(range(0, len(labels), step), labels[::step], rotation=45)
    else:
        days_axes.text(0.5, 0.5, "no detections yet", ha="center", va="center")
    days_axes.set_ylabel("detections")

    classes_axes.set_title("Top classes")
    if per_class:
        names = [name for name, _ in per_class][::-1]
        counts = [n for _, n in per_class][::-1]
        classes_axes.barh(names, counts, color="#e07b39")
        classes_axes.set_xlabel("objects")
    else:
        classes_axes.text(0.5, 0.5, "no objects yet", ha="center", va="center")

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
