"""Languages: which one a reply is in, its gettext catalogs, Babel's number and date formats.

Two gettext domains live under `bot/locales/<language>/LC_MESSAGES/`: `messages` (every text the
bot writes, extracted from the code) and `labels` (the COCO display names of the bundled label
map). The `.po` files are the source; the compiled `.mo` files next to them are what is loaded
(`scripts/i18n` updates and compiles them, and checks in CI that they are current).
A language is available when its `messages.mo` exists; English is the source language.
"""

from __future__ import annotations

import functools
import gettext
from dataclasses import dataclass
from datetime import UTC, date, datetime
from importlib import resources
from typing import Literal

from babel import Locale
from babel.dates import format_date, format_skeleton, format_time
from babel.lists import format_list
from babel.numbers import format_decimal, format_percent

DEFAULT_LANGUAGE = "en"
MESSAGES_DOMAIN = "messages"
LABELS_DOMAIN = "labels"


def N_(message: str) -> str:
    """Marks `message` for extraction into the catalog; it is translated where it is shown."""
    return message


@functools.cache
def available_languages() -> tuple[str, ...]:
    """English first, then every language with a compiled catalog, in code order."""
    root = resources.files("bot") / "locales"
    found = sorted(
        entry.name
        for entry in root.iterdir()
        if entry.is_dir() and (entry / "LC_MESSAGES" / f"{MESSAGES_DOMAIN}.mo").is_file()
    )
    return (DEFAULT_LANGUAGE, *(name for name in found if name != DEFAULT_LANGUAGE))


def supported_language(code: str | None) -> str | None:
    """The available language a Telegram `language_code` (IETF tag) stands for, or None.

    Only the primary subtag counts: `pt-br` is Portuguese, `es-419` Spanish, `de_AT` German."""
    if not code:
        return None
    primary = code.strip().replace("_", "-").split("-", 1)[0].lower()
    return primary if primary in available_languages() else None


def choose_language(
    *,
    chat_choice: str | None = None,
    user_choice: str | None = None,
    language_code: str | None = None,
) -> str:
    """The language of a reply: the group's own setting, else the person's /language choice,
    else their Telegram language, else English. Choices no longer available are skipped."""
    for candidate in (chat_choice, user_choice, language_code):
        language = supported_language(candidate)
        if language is not None:
            return language
    return DEFAULT_LANGUAGE


@dataclass(frozen=True)
class Translator:
    """One language's texts, class names and number/date formats.

    `label` translates a class display name through the `labels` catalog; a translator built
    for a custom label map leaves names as written."""

    language: str
    locale: Locale
    _messages: gettext.NullTranslations
    _labels: gettext.NullTranslations

    @property
    def language_name(self) -> str:
        """The language's own name as written within a sentence: "Deutsch", "русский"."""
        return self.locale.get_display_name(self.locale) or self.language

    def gettext(self, message: str) -> str:
        return self._messages.gettext(message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return self._messages.ngettext(singular, plural, n)

    def label(self, display_name: str) -> str:
        return self._labels.gettext(display_name)

    def number(self, value: float) -> str:
        """1234 → "1,234" (en), "1 234" (ru), "1234" (es: grouping starts at five digits)."""
        return format_decimal(value, locale=self.locale)

    def percent(self, fraction: float) -> str:
        """0.5 → "50%" (en), "50 %" (de); 0.125 → "12.5%": no rounding away of digits."""
        return format_percent(fraction, locale=self.locale, decimal_quantization=False)

    def day(self, value: date) -> str:
        """1 Dec 2026 → "Dec 1, 2026" (en), "1 dic 2026" (es)."""
        return format_date(value, "medium", locale=self.locale)

    def short_day(self, value: date) -> str:
        """Day and month only, for chart axes: "Dec 1", "1 dic"."""
        return format_skeleton(
            "MMMd", datetime.combine(value, datetime.min.time()), locale=self.locale
        )

    def moment(self, value: datetime) -> str:
        """A UTC timestamp with its date and minute: "Dec 1, 2026, 10:05 UTC"."""
        utc = value.astimezone(UTC) if value.tzinfo is not None else value.replace(tzinfo=UTC)
        when = format_date(utc.date(), "medium", locale=self.locale)
        time = format_time(utc.time(), "short", locale=self.locale)
        return f"{when} {time} UTC"

    def any_of(self, items: list[str]) -> str:
        """ "cat or dog", "кошка или собака"."""
        return format_list(items, style="or", locale=self.locale)

    def all_of(self, items: list[str]) -> str:
        """ "cat, dog and cup", "кошка, собака и чашка"."""
        return format_list(items, style="standard", locale=self.locale)


LabelNames = Literal["translated", "as_written"]


@functools.cache
def translator(language: str, label_names: LabelNames = "translated") -> Translator:
    """The translator of an available language (others fall back to English). `label_names`
    is "as_written" with a custom LABEL_MAP: its names are not the COCO ones the catalog holds."""
    if language not in available_languages():
        language = DEFAULT_LANGUAGE
    root = resources.files("bot") / "locales"
    messages = _catalog(root, language, MESSAGES_DOMAIN)
    labels = (
        _catalog(root, language, LABELS_DOMAIN)
        if label_names == "translated"
        else gettext.NullTranslations()
    )
    return Translator(language, Locale.parse(language), messages, labels)


def _catalog(
    root: resources.abc.Traversable, language: str, domain: str
) -> gettext.NullTranslations:
    if language == DEFAULT_LANGUAGE:
        return gettext.NullTranslations()
    mo = root / language / "LC_MESSAGES" / f"{domain}.mo"
    with mo.open("rb") as stream:
        return gettext.GNUTranslations(stream)


ENGLISH = translator(DEFAULT_LANGUAGE)
"""The source language: texts and class names as written in the code and the label map."""
