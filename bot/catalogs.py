"""Keeping the gettext catalogs in step with the code: extract, add a language, update, check.

`scripts/i18n` runs this module. Templates are built in memory each time (no `.pot` is kept):
`messages` from the code that babel.cfg maps (bot/, handlers/, db/) with Babel's Python
extractor (keywords `gettext`, `ngettext` and the marker `N_`), `labels` from the
bundled COCO label map. Each language has `bot/locales/<lang>/LC_MESSAGES/{messages,labels}.po`
and their compiled `.mo`, both checked in; `check` fails when a catalog misses a message the
code uses, keeps one the code no longer uses, has an untranslated, fuzzy or placeholder-breaking
entry, or a `.mo` that is not the compiled `.po`.
"""

from __future__ import annotations

import argparse
import io
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po, write_po

from bot.i18n import DEFAULT_LANGUAGE, LABELS_DOMAIN, MESSAGES_DOMAIN
from bot.labels import load_label_map

PROJECT_ROOT = Path(__file__).resolve().parents[1]
LOCALES_DIR = PROJECT_ROOT / "bot" / "locales"
MAPPING_FILE = PROJECT_ROOT / "babel.cfg"
KEYWORDS = {"gettext": None, "ngettext": (1, 2), "N_": None}
COMMENT_TAGS = ("NOTE:",)
DOMAINS = (MESSAGES_DOMAIN, LABELS_DOMAIN)
PROJECT = "DetectX bot"
_PLACEHOLDER = re.compile(r"\{(\w*)[^{}]*\}")


def message_template(root: Path = PROJECT_ROOT) -> Catalog:
    """Every message the code marks for translation, with where it is used."""
    with MAPPING_FILE.open(encoding="utf-8") as config:
        method_map, options_map = parse_mapping_cfg(config, str(MAPPING_FILE))  # type: ignore[no-untyped-call]
    template = Catalog(domain=MESSAGES_DOMAIN, project=PROJECT, fuzzy=False)
    for filename, lineno, message, comments, context in extract_from_dir(
        root,
        method_map,
        options_map,
        keywords=KEYWORDS,
        comment_tags=COMMENT_TAGS,
        strip_comment_tags=True,
    ):
        template.add(
            message, locations=[(filename, lineno)], auto_comments=comments, context=context
        )
    return template


def label_template() -> Catalog:
    """The display names of the bundled COCO label map, in id order."""
    template = Catalog(domain=LABELS_DOMAIN, project=PROJECT, fuzzy=False)
    for item in load_label_map(None).items:
        template.add(item.display_name, auto_comments=[f"COCO class {item.id}"])
    return template


def templates() -> dict[str, Catalog]:
    return {MESSAGES_DOMAIN: message_template(), LABELS_DOMAIN: label_template()}


def languages(locales: Path = LOCALES_DIR) -> list[str]:
    """The languages that have catalogs, English (the source language) aside."""
    return sorted(
        p.name for p in locales.iterdir() if (p / "LC_MESSAGES").is_dir() and p.name != "en"
    )


def po_path(language: str, domain: str, locales: Path = LOCALES_DIR) -> Path:
    return locales / language / "LC_MESSAGES" / f"{domain}.po"


def read_catalog(path: Path) -> Catalog:
    with path.open("rb") as stream:
        return read_po(stream, abort_invalid=True)


def write_catalog(path: Path, catalog: Catalog) -> None:
    buffer = io.BytesIO()
    write_po(buffer, catalog, width=100, include_lineno=False, ignore_obsolete=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue())


def compiled(catalog: Catalog) -> bytes:
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    return buffer.getvalue()


def add_language(language: str, locales: Path = LOCALES_DIR) -> list[Path]:
    """Create empty catalogs for `language` (with its CLDR plural rule) from the templates."""
    try:
        locale = Locale.parse(language)
    except (ValueError, UnknownLocaleError) as exc:
        raise SystemExit(f"i18n: {language!r} is not a language Babel knows: {exc}") from None
    created = []
    for domain, template in templates().items():
        path = po_path(language, domain, locales)
        if path.exists():
            raise SystemExit(f"i18n: {path} exists already; run `scripts/i18n update`")
        catalog = Catalog(locale=locale, domain=domain, project=PROJECT, fuzzy=False)
        catalog.update(template, no_fuzzy_matching=True)
        write_catalog(path, catalog)
        created.append(path)
    return created


def update(locales: Path = LOCALES_DIR) -> list[Path]:
    """Merge the current templates into every catalog (new messages added empty, unused ones
    dropped) and compile each to its `.mo`."""
    written = []
    for domain, template in templates().items():
        for language in languages(locales):
            path = po_path(language, domain, locales)
            catalog = read_catalog(path)
            catalog.update(template, no_fuzzy_matching=True, update_creation_date=False)
            write_catalog(path, catalog)
            path.with_suffix(".mo").write_bytes(compiled(catalog))
            written.append(path)
    return written


@dataclass(frozen=True)
class Problem:
    path: Path
    text: str

    def __str__(self) -> str:
        try:
            shown = self.path.relative_to(PROJECT_ROOT)
        except ValueError:
            shown = self.path
        return f"{shown}: {self.text}"


def check(locales: Path = LOCALES_DIR, wanted: dict[str, Catalog] | None = None) -> list[Problem]:
    """Everything that keeps the catalogs from being current and complete; empty when they are."""
    wanted = templates() if wanted is None else wanted
    found = languages(locales)
    problems: list[Problem] = []
    if not found:
        problems.append(Problem(locales, "no language catalogs"))
    for language in found:
        for domain, template in wanted.items():
            path = po_path(language, domain, locales)
            if not path.is_file():
                problems.append(Problem(path, "missing; run `scripts/i18n update`"))
                continue
            catalog = read_catalog(path)
            problems.extend(Problem(path, text) for text in _catalog_problems(catalog, template))
            problems.extend(
                Problem(path.with_suffix(".mo"), text) for text in _mo_problems(path, catalog)
            )
    return problems


def _key(message: Message) -> tuple[str, str | None]:
    msgid = message.id if isinstance(message.id, str) else message.id[0]
    return msgid, message.context


def _entries(catalog: Catalog) -> dict[tuple[str, str | None], Message]:
    return {_key(m): m for m in catalog if m.id}


def _forms(value: str | list[str] | tuple[str, ...] | None) -> tuple[str, ...]:
    """A message's id or string as its forms (one, or one per plural form)."""
    if value is None:
        return ("",)
    return (value,) if isinstance(value, str) else tuple(value)


def _catalog_problems(catalog: Catalog, template: Catalog) -> Iterator[str]:
    have, want = _entries(catalog), _entries(template)
    for key in want.keys() - have.keys():
        yield f"misses {key[0]!r}, which the code uses"
    for key in have.keys() - want.keys():
        yield f"has {key[0]!r}, which the code no longer uses"
    if catalog.obsolete:
        yield f"keeps {len(catalog.obsolete)} obsolete entries (#~); run `scripts/i18n update`"
    for key in have.keys() & want.keys():
        message, source = have[key], want[key]
        if message.id != source.id:
            yield f"{key[0]!r}: its plural form differs from the code's"
        strings = _forms(message.string)
        if message.fuzzy:
            yield f"{key[0]!r} is marked fuzzy"
        if not all(strings):
            yield f"{key[0]!r} is not translated"
            continue
        if isinstance(message.id, tuple) and len(strings) != catalog.num_plurals:
            yield f"{key[0]!r} has {len(strings)} plural forms, not {catalog.num_plurals}"
        ids = _forms(message.id)
        expected = {name for msgid in ids for name in _PLACEHOLDER.findall(msgid)}
        for string in strings:
            used = set(_PLACEHOLDER.findall(string))
            plural = isinstance(message.id, (tuple, list))
            if (plural and not used <= expected) or (not plural and used != expected):
                yield f"{key[0]!r}: placeholders of {string!r} differ from {sorted(expected)}"


def _mo_problems(po: Path, catalog: Catalog) -> Iterator[str]:
    mo = po.with_suffix(".mo")
    if not mo.is_file():
        yield "missing; run `scripts/i18n update`"
        return
    with mo.open("rb") as stream:
        shipped = read_mo(stream)
    fresh = read_mo(io.BytesIO(compiled(catalog)))

    def strings(c: Catalog) -> dict[tuple[str, str | None], object]:
        return {_key(m): (m.id, m.string) for m in c if m.id}

    if strings(shipped) != strings(fresh) or shipped.plural_forms != fresh.plural_forms:
        yield "is not the compiled .po; run `scripts/i18n update`"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/i18n", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    add = commands.add_parser("add", help="create the catalogs of a new language")
    add.add_argument("language", help="language code, e.g. it")
    commands.add_parser("update", help="merge the code's messages into every catalog; compile")
    commands.add_parser("check", help="fail unless every catalog is current and complete")
    args = parser.parse_args(argv)
    if args.command == "add":
        if args.language == DEFAULT_LANGUAGE:
            raise SystemExit("i18n: English is the language of the code; it needs no catalog")
        for path in add_language(args.language):
            print(f"created {path.relative_to(PROJECT_ROOT)}")
        print("translate them, then run `scripts/i18n update`")
        return 0
    if args.command == "update":
        for path in update():
            print(f"updated {path.relative_to(PROJECT_ROOT)} (+ .mo)")
        return 0
    problems = check()
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(f"i18n: {len(problems)} catalog problems", file=sys.stderr)
        return 1
    print(f"i18n: catalogs of {', '.join(languages())} are current and complete")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
