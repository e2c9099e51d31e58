"""The caption: per-class counts ("2 × person, 1 × dog") or a clear "nothing found" line.

`format_counts` is the one place the count text is composed. Its wording comes in through small
functions (`item`, `more`), so a translation can supply its own without changing how the text is
shortened to fit Telegram's caption limit.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping

from bot.detection.types import DetectedObject

CAPTION_MAX_CHARS = 1024  # sendPhoto's caption limit, counted as Telegram does (UTF-16 units)
_ELLIPSIS = "…"


def count_labels(
    objects: Iterable[DetectedObject], classes: frozenset[str] | None = None
) -> dict[str, int]:
    """Objects per display name, most frequent first, ties by name; `classes` keeps only those."""
    counter = Counter(obj.label for obj in objects if classes is None or obj.label in classes)
    return dict(sorted(counter.items(), key=lambda item: (-item[1], item[0])))


def count_item(count: int, label: str) -> str:
    """ "2 × person"."""
    return f"{count} × {label}"


def and_more(classes: int) -> str:
    """The tail of a shortened caption: " and 3 more classes"."""
    return f" and {classes} more {'class' if classes == 1 else 'classes'}"


def telegram_length(text: str) -> int:
    """Length as Telegram counts it: UTF-16 code units (an emoji outside the BMP counts 2)."""
    return len(text.encode("utf-16-le")) // 2


def format_counts(
    counts: Mapping[str, int],
    *,
    max_chars: int = CAPTION_MAX_CHARS,
    item: Callable[[int, str], str] = count_item,
    more: Callable[[int], str] = and_more,
    separator: str = ", ",
) -> str:
    """ "2 × person, 1 × dog": most frequent first, ties by name; classes counted 0 are left out.

    Longer than `max_chars`, it keeps the most frequent classes that fit and ends with `more`
    ("… and 3 more classes"); a single name too long to fit is cut with "…".
    """
    ordered = sorted(
        ((label, n) for label, n in counts.items() if n > 0), key=lambda pair: (-pair[1], pair[0])
    )
    items = [item(n, label) for label, n in ordered]
    text = separator.join(items)
    if telegram_length(text) <= max_chars:
        return text
    kept, prefix = 0, 0
    for k, piece in enumerate(items[:-1], start=1):
        prefix += telegram_length(piece) + (telegram_length(separator) if k > 1 else 0)
        if prefix > max_chars:
            break
        if prefix + telegram_length(more(len(items) - k)) <= max_chars:
            kept = k
    if kept:
        return separator.join(items[:kept]) + more(len(items) - kept)
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


def format_percent(score: float) -> str:
    """0.5 → "50%", 0.125 → "12.5%"."""
    return f"{score * 100:.3g}%"


def nothing_found(min_score: float, classes: frozenset[str] | None = None) -> str:
    """ "Nothing found above 50%." (or, with a class filter, "No cat or dog found above 50%.")."""
    if classes:
        names = sorted(classes)
        wanted = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]
        text = f"No {wanted} found above {format_percent(min_score)}."
        if telegram_length(text) <= CAPTION_MAX_CHARS:
            return text
    return f"Nothing found above {format_percent(min_score)}."


def summarize(
    counts: Mapping[str, int],
    min_score: float,
    classes: frozenset[str] | None = None,
    *,
    max_chars: int = CAPTION_MAX_CHARS,
) -> str:
    return format_counts(counts, max_chars=max_chars) or nothing_found(min_score, classes)
