"""Languages without Telegram: choosing one, class names, plural forms, locale formats, and the
catalog check CI runs."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from babel.messages.mofile import read_mo

from bot import catalogs
from bot.charts import render_stats_chart
from bot.detection.errors import short_message_for
from bot.detection.summary import caption, format_counts, nothing_found
from bot.i18n import ENGLISH, available_languages, choose_language, translator
from bot.labels import load_label_map
from db.records import Stats
from handlers.stats import stats_text

TRANSLATED = ("ru", "es", "de", "pt")


def test_the_five_languages_are_available_english_first() -> None:
    assert available_languages()[0] == "en"
    assert set(available_languages()) == {"en", *TRANSLATED}


@pytest.mark.parametrize(
    ("language_code", "expected"),
    [
        ("ru", "ru"),
        ("pt-br", "pt"),
        ("pt-BR", "pt"),
        ("es-419", "es"),
        ("de_AT", "de"),
        ("en-GB", "en"),
        ("zh-hans", "en"),
        ("uk", "en"),
        ("", "en"),
        (None, "en"),
    ],
)
def test_telegram_language_code_picks_the_language(
    language_code: str | None, expected: str
) -> None:
    assert choose_language(language_code=language_code) == expected


def test_own_choice_beats_telegram_language_and_group_setting_beats_both() -> None:
    assert choose_language(user_choice="de", language_code="ru") == "de"
    assert choose_language(chat_choice="es", user_choice="de", language_code="ru") == "es"
    assert choose_language(chat_choice=None, user_choice=None, language_code="pt-br") == "pt"
    assert choose_language(user_choice="xx", language_code="ru") == "ru"


def test_label_catalog_translates_all_80_coco_classes_in_every_language() -> None:
    names = [item.display_name for item in load_label_map(None).items]
    assert len(names) == 80
    for language in TRANSLATED:
        mo = Path(catalogs.po_path(language, "labels")).with_suffix(".mo")
        with mo.open("rb") as stream:
            shipped = {m.id: m.string for m in read_mo(stream) if m.id}
        assert sorted(shipped) == sorted(names), language
        assert all(shipped[name] for name in names), language
        tr = translator(language)
        differing = [name for name in names if tr.label(name) != name]
        assert len(differing) >= 70, f"{language}: only {len(differing)} names translated"


def test_a_custom_label_map_keeps_its_names_as_written() -> None:
    assert translator("ru").label("dog") == "собака"
    as_written = translator("ru", "as_written")
    assert as_written.label("dog") == "dog"
    assert format_counts({"dog": 2}, as_written) == "2 × dog"


def test_counts_read_naturally_with_translated_names_most_frequent_first() -> None:
    ru = translator("ru")
    assert format_counts({"dog": 1, "person": 2}, ru) == "2 × человек, 1 × собака"
    assert format_counts({"dog": 1, "person": 2}) == "2 × person, 1 × dog"


@pytest.mark.parametrize(
    ("language", "one", "two", "five", "twenty_one"),
    [
        ("en", "1 object", "2 objects", "5 objects", "21 objects"),
        ("ru", "1 объект", "2 объекта", "5 объектов", "21 объект"),
        ("es", "1 objeto", "2 objetos", "5 objetos", "21 objetos"),
        ("de", "1 Objekt", "2 Objekte", "5 Objekte", "21 Objekte"),
        ("pt", "1 objeto", "2 objetos", "5 objetos", "21 objetos"),
    ],
)
def test_caption_uses_the_languages_plural_forms(
    language: str, one: str, two: str, five: str, twenty_one: str
) -> None:
    tr = translator(language)
    dog = tr.label("dog")
    assert caption({"dog": 1}, 0.5, None, tr) == f"{one}: 1 × {dog}"
    assert caption({"dog": 2}, 0.5, None, tr) == f"{two}: 2 × {dog}"
    assert caption({"dog": 5}, 0.5, None, tr) == f"{five}: 5 × {dog}"
    assert caption({"dog": 21}, 0.5, None, tr).startswith(f"{twenty_one}: ")


def test_nothing_found_names_the_wanted_classes_in_the_language() -> None:
    assert nothing_found(0.5, frozenset({"cat", "dog"})) == "No cat or dog found above 50%."
    ru = nothing_found(0.5, frozenset({"cat", "dog"}), translator("ru"))
    assert ru == "Не найдено: кошка или собака (порог 50\xa0%)."
    assert nothing_found(0.125, None, translator("de")) == "Über 12,5\xa0% nichts gefunden."


def test_numbers_and_dates_are_formatted_for_the_locale() -> None:
    es, ru, de = translator("es"), translator("ru"), translator("de")
    assert es.day(date(2026, 12, 1)) == "1 dic 2026"
    assert ru.number(1234) == "1\xa0234"
    assert de.number(1234.5) == "1.234,5"
    assert ENGLISH.number(1234) == "1,234"
    assert es.moment(datetime(2026, 12, 1, 10, 5, tzinfo=UTC)) == "1 dic 2026 10:05 UTC"


def test_language_names_are_written_in_their_own_language() -> None:
    names = {language: translator(language).language_name for language in available_languages()}
    assert names == {
        "en": "English",
        "ru": "русский",
        "es": "español",
        "de": "Deutsch",
        "pt": "português",
    }


def test_shipped_catalogs_are_current_and_complete() -> None:
    assert [str(p) for p in catalogs.check()] == []


@pytest.fixture
def locales_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "locales"
    shutil.copytree(catalogs.LOCALES_DIR, copy)
    return copy


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_catalog_check_fails_on_a_missing_a_stale_and_an_untranslated_message(
    locales_copy: Path,
) -> None:
    ru = catalogs.po_path("ru", "messages", locales_copy)
    _edit(ru, 'msgid "That file is empty."', 'msgid "That file was empty."')
    de = catalogs.po_path("de", "messages", locales_copy)
    _edit(de, 'msgstr "Die Datei ist leer."', 'msgstr ""')

    problems = [str(p) for p in catalogs.check(locales_copy)]

    assert any("ru/LC_MESSAGES/messages.po: misses 'That file is empty.'" in p for p in problems)
    assert any("ru/LC_MESSAGES/messages.po: has 'That file was empty.'" in p for p in problems)
    assert any("de/LC_MESSAGES/messages.po: 'That file is empty.' is not tr" in p for p in problems)


def test_catalog_check_fails_on_a_broken_placeholder_and_a_stale_mo(locales_copy: Path) -> None:
    es = catalogs.po_path("es", "messages", locales_copy)
    _edit(es, "por encima del {threshold}.", "por encima del {umbral}.")
    pt_labels = catalogs.po_path("pt", "labels", locales_copy)
    _edit(pt_labels, 'msgstr "cachorro"', 'msgstr "cão"')

    problems = [str(p) for p in catalogs.check(locales_copy)]

    assert any(
        "es/LC_MESSAGES/messages.po: 'No {classes} found above {threshold}.': placeholders" in p
        for p in problems
    )
    assert any("pt/LC_MESSAGES/labels.mo: is not the compiled .po" in p for p in problems)


def test_adding_a_language_creates_catalogs_with_its_plural_rule(locales_copy: Path) -> None:
    created = catalogs.add_language("uk", locales_copy)

    assert sorted(p.name for p in created) == ["labels.po", "messages.po"]
    text = catalogs.po_path("uk", "messages", locales_copy).read_text(encoding="utf-8")
    assert "nplurals=3" in text
    problems = [str(p) for p in catalogs.check(locales_copy)]
    assert any("uk/LC_MESSAGES/labels.po: 'person' is not translated" in p for p in problems)


def test_a_stored_failure_kind_is_named_shortly_in_the_language() -> None:
    assert short_message_for("corrupt_image") == "damaged image"
    assert translator("ru").gettext(short_message_for("corrupt_image")) == (
        "повреждённое изображение"
    )
    assert short_message_for("no_such_kind") == "error"
    assert short_message_for(None) == "error"


def test_stats_figures_are_written_in_the_language_with_its_digits() -> None:
    numbers = Stats(
        users=1234,
        chats=56,
        detections_ok=12000,
        detections_failed=345,
        objects=67890,
        per_class=[("person", 5000), ("dog", 12)],
        avg_inference_ms=41.6,
        p95_inference_ms=None,
    )

    lines = stats_text(numbers, translator("ru")).splitlines()

    assert lines == [
        "Статистика DetectX",
        "Пользователи: 1\xa0234 · чаты: 56",
        "Распознавания: 12\xa0000 успешно, 345 с ошибкой (доля ошибок 2,8\xa0%)",
        "Найдено объектов: 67\xa0890",
        "Частые классы: человек 5\xa0000, собака 12",
        "Инференс: в среднем 42 мс, p95 н/д",
    ]


def test_stats_chart_renders_with_translated_labels() -> None:
    chart = render_stats_chart(
        [(date(2026, 11, 30), 3), (date(2026, 12, 1), 5)],
        [("person", 5), ("dog", 2)],
        last_day=date(2026, 12, 1),
        days=30,
        tr=translator("ru"),
    )
    assert chart.startswith(b"\x89PNG")
