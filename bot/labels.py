"""Label maps in the TF Object Detection API's protobuf text format: `item { id: 1 name: "x" }`.

The parser reads the subset of protobuf text format that label maps use: repeated `item` messages
holding scalar fields (`id`, `name`, `display_name`, anything else is skipped) and possibly nested
messages (e.g. `keypoints { ... }`, skipped). Comments (`#`), single or double quoted strings,
optional `:` before a message, `{}` or `<>` delimiters and `,`/`;` separators are accepted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

BUNDLED_LABEL_MAP = "mscoco_label_map.pbtxt"

_TOKEN = re.compile(
    r"""
    (?P<space>[ \t\r\f\v]+)
  | (?P<newline>\n)
  | (?P<comment>\#[^\n]*)
  | (?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
  | (?P<number>[-+]?(?:0[xX][0-9a-fA-F]+|\d+(?:\.\d*)?(?:[eE][-+]?\d+)?
                   |\.\d+(?:[eE][-+]?\d+)?)[fF]?)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_.]*)
  | (?P<punct>[{}<>:;,\[\]])
    """,
    re.VERBOSE,
)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", "'": "'", '"': '"', "a": "\a", "b": "\b"}
_CLOSERS = {"{": "}", "<": ">"}


class LabelMapError(Exception):
    """A label map that cannot be used; the message names the file and, where known, the line."""

    def __init__(self, source: str, message: str, line: int | None = None) -> None:
        where = f"{source}:{line}" if line is not None else source
        super().__init__(f"label map {where}: {message}")
        self.source = source
        self.line = line


@dataclass(frozen=True)
class LabelItem:
    id: int
    display_name: str
    name: str | None = None


class LabelMap:
    """Class id → display name, as the detector's `detection_classes` numbers them."""

    def __init__(self, items: Iterable[LabelItem], source: str = "<memory>") -> None:
        self.items: tuple[LabelItem, ...] = tuple(sorted(items, key=lambda item: item.id))
        self.source = source
        self._by_id = {item.id: item for item in self.items}
        self._by_folded_name = {
            item.display_name.casefold(): item.display_name for item in self.items
        }

    def __len__(self) -> int:
        return len(self.items)

    def __repr__(self) -> str:
        return f"LabelMap({len(self.items)} classes from {self.source})"

    def display_name(self, class_id: int) -> str:
        item = self._by_id.get(int(class_id))
        return item.display_name if item is not None else f"class {int(class_id)}"

    def class_choices(self) -> tuple[str, ...]:
        """Display names a class filter may hold, each once, in id order."""
        return tuple(dict.fromkeys(item.display_name for item in self.items))

    def find_class(self, text: str) -> str | None:
        """The display name matching `text` case-insensitively (e.g. "Dining Table"), or None."""
        return self._by_folded_name.get(" ".join(text.split()).casefold())


def load_label_map(path: Path | None) -> LabelMap:
    """Read a label map file; None means the bundled 90-class COCO map. Raises LabelMapError."""
    if path is None:
        resource = resources.files("bot") / "data" / BUNDLED_LABEL_MAP
        return parse_label_map(resource.read_text(encoding="utf-8"), source=BUNDLED_LABEL_MAP)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LabelMapError(str(path), "file not found") from None
    except IsADirectoryError:
        raise LabelMapError(str(path), "is a directory, not a label map file") from None
    except UnicodeDecodeError as exc:
        raise LabelMapError(str(path), f"not UTF-8 text ({exc.reason})") from None
    except OSError as exc:
        raise LabelMapError(str(path), f"cannot read: {exc.strerror or exc}") from None
    return parse_label_map(text, source=str(path))


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    line: int


def _tokenize(text: str, source: str) -> Iterator[_Token]:
    line = 1
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise LabelMapError(source, f"unexpected character {text[pos]!r}", line)
        kind = match.lastgroup
        assert kind is not None
        if kind == "newline":
            line += 1
        elif kind not in ("space", "comment"):
            yield _Token(kind, match.group(), line)
        pos = match.end()


def _unquote(token: _Token, source: str) -> str:
    body = token.text[1:-1]
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            if nxt in _ESCAPES:
                out.append(_ESCAPES[nxt])
                i += 2
                continue
            if nxt in "xX" and re.fullmatch(r"[0-9a-fA-F]{2}", body[i + 2 : i + 4]):
                out.append(chr(int(body[i + 2 : i + 4], 16)))
                i += 4
                continue
            raise LabelMapError(source, f"unknown escape \\{nxt} in string", token.line)
        out.append(ch)
        i += 1
    return "".join(out)


class _Parser:
    def __init__(self, text: str, source: str) -> None:
        self.source = source
        self.tokens = list(_tokenize(text, source))
        self.pos = 0
        self.last_line = self.tokens[-1].line if self.tokens else 1

    def error(self, message: str, line: int | None = None) -> LabelMapError:
        if line is None:
            line = self.tokens[self.pos].line if self.pos < len(self.tokens) else self.last_line
        return LabelMapError(self.source, message, line)

    def peek(self) -> _Token | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def next(self, expected: str) -> _Token:
        token = self.peek()
        if token is None:
            raise self.error(f"unexpected end of file, expected {expected}")
        self.pos += 1
        return token

    def skip_separators(self) -> None:
        while (token := self.peek()) is not None and token.text in (",", ";"):
            self.pos += 1

    def parse(self) -> list[LabelItem]:
        items: list[LabelItem] = []
        seen: dict[int, int] = {}
        while (token := self.peek()) is not None:
            if token.kind != "ident" or token.text != "item":
                raise self.error(f"expected 'item', found {token.text!r}")
            self.pos += 1
            fields = self.message_fields(token.line)
            item = self.make_item(fields, token.line)
            if item.id in seen:
                raise self.error(
                    f"duplicate id {item.id} (first used on line {seen[item.id]})", token.line
                )
            seen[item.id] = token.line
            items.append(item)
            self.skip_separators()
        if not items:
            raise LabelMapError(self.source, "no 'item { ... }' entries found", self.last_line)
        return items

    def open_message(self) -> str:
        token = self.next("'{'")
        if token.text == ":":
            token = self.next("'{'")
        if token.text not in _CLOSERS:
            raise self.error(f"expected '{{' to open a message, found {token.text!r}", token.line)
        return _CLOSERS[token.text]

    def message_fields(self, start_line: int) -> dict[str, _Token]:
        """Scalar fields of one message (nested messages skipped; a repeated scalar: last wins)."""
        closer = self.open_message()
        fields: dict[str, _Token] = {}
        while True:
            token = self.next(f"{closer!r} to close the item opened on line {start_line}")
            if token.text == closer:
                return fields
            if token.text in (",", ";"):
                continue
            if token.kind != "ident":
                raise self.error(f"expected a field name, found {token.text!r}", token.line)
            following = self.peek()
            if following is not None and following.text in _CLOSERS:
                self.skip_message(token.line)
                continue
            colon = self.next("':'")
            if colon.text != ":":
                raise self.error(f"expected ':' after {token.text!r}", colon.line)
            following = self.peek()
            if following is not None and following.text in _CLOSERS:
                self.skip_message(token.line)
                continue
            value = self.next(f"a value for {token.text!r}")
            if value.kind == "punct":
                raise self.error(f"missing value for {token.text!r}", value.line)
            fields[token.text] = value

    def skip_message(self, start_line: int) -> None:
        closer = self.open_message()
        while True:
            token = self.next(f"{closer!r} to close the message opened on line {start_line}")
            if token.text == closer:
                return
            if token.text in _CLOSERS:
                self.pos -= 1
                self.skip_message(token.line)

    def make_item(self, fields: dict[str, _Token], line: int) -> LabelItem:
        id_token = fields.get("id")
        if id_token is None:
            raise self.error("item has no id", line)
        if id_token.kind != "number" or not re.fullmatch(r"[-+]?\d+", id_token.text):
            raise self.error(f"id must be an integer, found {id_token.text}", id_token.line)
        class_id = int(id_token.text)
        if class_id < 0:
            raise self.error(f"id must not be negative, found {class_id}", id_token.line)
        names: dict[str, str] = {}
        for key in ("name", "display_name"):
            token = fields.get(key)
            if token is None:
                continue
            if token.kind != "string":
                raise self.error(f"{key} must be a quoted string, found {token.text}", token.line)
            value = " ".join(_unquote(token, self.source).split())
            if value:
                names[key] = value
        display = names.get("display_name") or names.get("name")
        if display is None:
            raise self.error(f"item with id {class_id} has neither display_name nor name", line)
        return LabelItem(id=class_id, display_name=display, name=names.get("name"))


def parse_label_map(text: str, source: str = "<string>") -> LabelMap:
    """Parse label map text; `source` names the file in error messages. Raises LabelMapError."""
    return LabelMap(_Parser(text, source).parse(), source=source)
