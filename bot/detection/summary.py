"""The caption: per-class counts ("2 × person, 1 × dog") or a clear "nothing found" line."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

from bot.detection.types import DetectedObject


def count_labels(
    objects: Iterable[DetectedObject], classes: frozenset[str] | None = None
) -> dict[str, int]:
    """Objects per display name, most frequent first, ties by name; `classes` keeps only those."""
    counter = Counter(obj.label for obj in objects if classes is None or obj.label in classes)
    return dict(sorted(counter.items(), key=lambda item: (-item[1], item[0])))


def format_counts(counts: Mapping[str, int]) -> str:
    """ "2 × person, 1 × dog": most frequent first, ties by name; classes counted 0 are left out."""
    ordered = sorted(
        ((label, n) for label, n in counts.items() if n > 0), key=lambda item: (-item[1], item[0])
    )
    return ", ".join(f"{n} × {label}" for label, n in ordered)


def format_percent(score: float) -> str:
    """0.5 → "50%", 0.125 → "12.5%"."""
    return f"{score * 100:.3g}%"


def nothing_found(min_score: float, classes: frozenset[str] | None = None) -> str:
    """ "Nothing found above 50%." (or, with a class filter, "No cat or dog found above 50%.")."""
    if classes:
        names = sorted(classes)
        wanted = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]
        return f"No {wanted} found above {format_percent(min_score)}."
    return f"Nothing found above {format_percent(min_score)}."


def summarize(
    counts: Mapping[str, int], min_score: float, classes: frozenset[str] | None = None
) -> str:
    return format_counts(counts) or nothing_found(min_score, classes)
