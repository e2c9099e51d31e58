"""The caption: per-class counts ("2 × person, 1 × dog") or a clear "nothing found" line, in the
reader's language (class names through the label catalog, numbers in the locale's digits).

`format_counts` is the one place the count text is composed; it also shortens it to fit
Telegram's caption limit ("… and 3 more classes").
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

from bot.detection.types import DetectedObject
from bot.i18n import ENGLISH, Translator

CAPTION_MAX_CHARS = 1024  # sendPhoto's caption limit, counted as Telegram does (UTF-16 units)
_ELLIPSIS = "…"
_SEPARATOR = ", "


def count_labels(
    objects: Iterable[DetectedObject], classes: frozenset[str] | None = None
) -> dict[str, int]:
    """Objects per label, most frequent first (ties by label); only `classes` when given."""
    counter = Counter(o.label for o in objects if classes is None or o.label in classes)
    return dict(sorted(counter.items(), key=lambda item: (-item[1], item[0])))


def telegram_length(text: str) -> int:
    """Length as Telegram counts it: UTF-16 code units (an emoji outside the BMP counts 2)."""
    return len(text.encode("utf-16-le")) // 2


def format_counts(
    counts: Mapping[str, int], tr: Translator = ENGLISH, *, max_chars: int = CAPTION_MAX_CHARS
) -> str:
    """ "2 × person, 1 × dog" ("2 × человек, 1 × собака"): most frequent first, ties by the shown
    name; classes counted 0 are left out.

    Longer than `max_chars`, it keeps the most frequent classes that fit and ends with
    " and 3 more classes"; a single name too long to fit is cut with "…".
    """
    shown = ((tr.label(label), n) for label, n in counts.items() if n > 0)
    ordered = sorted(shown, key=lambda item: (-item[1], item[0]))
    items = [f"{tr.number(n)} × {name}" for name, n in ordered]
    text = _SEPARATOR.join(items)
    if telegram_length(text) <= max_chars:
        return text

    def more(classes: int) -> str:
        return tr.ngettext(" and {count} more class", " and {count} more classes", classes).format(
            count=tr.number(classes)
        )

    kept, prefix = 0, 0
    for k, piece in enumerate(items[:-1], start=1):
        prefix += telegram_length(piece) + (telegram_length(_SEPARATOR) if k > 1 else 0)
        if prefix > max_chars:
            break
        if prefix + telegram_length(more(len(items) - k)) <= max_chars:
            kept = k
    if kept:
        return _SEPARATOR.join(items[:kept]) + more(len(items) - kept)
    tail = more(len(items) - 1) if len(items) > 1 else ""
    return _cut(items[0], max_chars - telegram_length(tail)) + tail


def _cut(text: str, max_chars: int) -> str:
    """`text` cut to `max_chars` UTF-16 units, ending with "…"."""
    budget = max(0, max_chars - telegram_length(_ELLIPSIS))
    out: list[str] = []
    used = 0
    for char in text:
        size = telegram_length(char)
        if used + size > budget:
            break
        out.append(char)
        used += size
    return "".join(out).rstrip() + _ELLIPSIS


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
        text = tr.gettext("No {classes} found above {threshold}.").format(
            classes=wanted, threshold=threshold
        )
        if telegram_length(text) <= CAPTION_MAX_CHARS:
            return text
    return tr.gettext("Nothing found above {threshold}.").format(threshold=threshold)


def summarize(
    counts: Mapping[str, int],
    min_score: float,
    classes: frozenset[str] | None = None,
    *,
    max_chars: int = CAPTION_MAX_CHARS,
) -> str:
    """The English one-line summary `detectbot detect` prints."""
    return format_counts(counts, max_chars=max_chars) or nothing_found(min_score, classes)


def caption(
    counts: Mapping[str, int],
    min_score: float,
    classes: frozenset[str] | None,
    tr: Translator,
) -> str:
    """The bot's caption: "2 × person, 1 × dog (3 objects)" in the reader's language (the total
    in the catalog's plural forms), or the nothing-found line; within Telegram's limit."""
    total = sum(n for n in counts.values() if n > 0)
    if total == 0:
        return nothing_found(min_score, classes, tr)
    tally = tr.ngettext("{count} object", "{count} objects", total).format(count=tr.number(total))
    room = CAPTION_MAX_CHARS - telegram_length(tally) - len(" ()")
    return f"{format_counts(counts, tr, max_chars=room)} ({tally})"
