"""The caption: per-class counts ("2 × person, 1 × dog") or a clear "nothing found" line, in the
reader's language (class names through the label catalog, numbers in the locale's digits)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

from bot.detection.types import DetectedObject
from bot.i18n import ENGLISH, Translator


def count_labels(
    objects: Iterable[DetectedObject], classes: frozenset[str] | None = None
) -> dict[str, int]:
    """Objects per display name, most frequent first, ties by name; `classes` keeps only those."""
    counter = Counter(obj.label for obj in objects if classes is None or obj.label in classes)
    return dict(sorted(counter.items(), key=lambda item: (-item[1], item[0])))


def format_counts(counts: Mapping[str, int], tr: Translator = ENGLISH) -> str:
    """ "2 × person, 1 × dog" ("2 × человек, 1 × собака"): most frequent first, ties by the shown
    name; classes counted 0 are left out."""
    shown = ((tr.label(label), n) for label, n in counts.items() if n > 0)
    ordered = sorted(shown, key=lambda item: (-item[1], item[0]))
    return ", ".join(f"{tr.number(n)} × {name}" for name, n in ordered)


def format_percent(score: float, tr: Translator = ENGLISH) -> str:
    """0.5 → "50%", 0.125 → "12.5%" ("50 %", "12,5 %" in German)."""
    return tr.percent(score)


def nothing_found(
    min_score: float, classes: frozenset[str] | None = None, tr: Translator = ENGLISH
) -> str:
    """ "Nothing found above 50%." (or, with a class filter, "No cat or dog found above 50%.")."""
    threshold = format_percent(min_score, tr)
    if classes:
        wanted = tr.any_of(sorted(tr.label(name) for name in classes))
        return tr.gettext("No {classes} found above {threshold}.").format(
            classes=wanted, threshold=threshold
        )
    return tr.gettext("Nothing found above {threshold}.").format(threshold=threshold)


def summarize(
    counts: Mapping[str, int], min_score: float, classes: frozenset[str] | None = None
) -> str:
    """The English one-line summary `detectbot detect` prints."""
    return format_counts(counts) or nothing_found(min_score, classes)


def caption(
    counts: Mapping[str, int],
    min_score: float,
    classes: frozenset[str] | None,
    tr: Translator,
) -> str:
    """The bot's caption: "3 objects: 2 × person, 1 × dog" in the reader's language (plural
    forms from the catalog), or the nothing-found line."""
    total = sum(n for n in counts.values() if n > 0)
    if total == 0:
        return nothing_found(min_score, classes, tr)
    return tr.ngettext("{count} object: {counts}", "{count} objects: {counts}", total).format(
        count=tr.number(total), counts=format_counts(counts, tr)
    )
