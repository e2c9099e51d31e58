"""Label maps: the bundled COCO map, user-supplied pbtxt files, and clear errors for broken ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.labels import LabelMapError, load_label_map, parse_label_map

SHARED_LABEL_MAP = (
    Path(__file__).resolve().parents[1].parent / "shared/models/mscoco_label_map.pbtxt"
)


def test_bundled_map_has_the_80_coco_classes_with_their_usual_ids() -> None:
    labels = load_label_map(None)
    assert len(labels) == 80
    assert [item.id for item in labels.items][:12] == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13]
    expected = {
        1: "person",
        18: "dog",
        44: "bottle",
        64: "potted plant",
        67: "dining table",
        72: "tv",
        74: "mouse",
        77: "cell phone",
        88: "teddy bear",
        90: "toothbrush",
    }
    for class_id, name in expected.items():
        assert labels.display_name(class_id) == name
    for unused in (12, 26, 29, 30, 45, 66, 68, 69, 71, 83):
        assert labels.display_name(unused) == f"class {unused}"
    assert labels.display_name(0) == "class 0"
    assert labels.display_name(91) == "class 91"


def test_bundled_map_agrees_with_the_standard_coco_map() -> None:
    if not SHARED_LABEL_MAP.exists():
        pytest.skip("../shared/models/mscoco_label_map.pbtxt not present")
    standard = load_label_map(SHARED_LABEL_MAP)
    bundled = load_label_map(None)
    assert [(i.id, i.display_name) for i in bundled.items] == [
        (i.id, i.display_name) for i in standard.items
    ]
    bundled_file = Path(__file__).resolve().parents[1] / "bot/data/mscoco_label_map.pbtxt"
    assert bundled_file.read_bytes() != SHARED_LABEL_MAP.read_bytes()


def test_class_choices_and_case_insensitive_lookup() -> None:
    labels = load_label_map(None)
    choices = labels.class_choices()
    assert len(choices) == 80
    assert choices[0] == "person" and choices[-1] == "toothbrush"
    assert labels.find_class("Dining  Table") == "dining table"
    assert labels.find_class("TV") == "tv"
    assert labels.find_class("unicorn") is None


def test_any_field_order_quotes_comments_and_nested_messages(tmp_path: Path) -> None:
    path = tmp_path / "custom.pbtxt"
    path.write_text(
        "# my classes\n"
        "item {\n"
        "  display_name: 'hard hat'  # shown to users\n"
        "  id: 2\n"
        '  name: "helmet"\n'
        "}\n"
        "item: { name: 'vest' id: 1 }\n"
        "item <\n"
        '  id: 5, name: "quote \\"q\\"" frequency: FREQUENT\n'
        "  keypoints { id: 0 label: 'nose' }\n"
        ">\n",
        encoding="utf-8",
    )
    labels = load_label_map(path)
    assert [(i.id, i.display_name, i.name) for i in labels.items] == [
        (1, "vest", "vest"),
        (2, "hard hat", "helmet"),
        (5, 'quote "q"', 'quote "q"'),
    ]
    assert labels.display_name(2) == "hard hat"


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ('item {\n  id: 1\n  display_name: "a"\n', 3, "unexpected end of file"),
        ('item {\n  id: one\n  display_name: "a"\n}\n', 2, "id must be an integer"),
        ('item {\n  display_name: "a"\n}\n', 1, "no id"),
        ('item { id: 1 name: "a" }\nitem { id: 2 }\n', 2, "neither display_name nor name"),
        ('item { id: 1 name: "a" }\n\nitem { id: 1 name: "b" }\n', 3, "duplicate id 1"),
        ('item { id: 1 name: "a" }\nclass { id: 2 }\n', 2, "expected 'item'"),
        ('item { id: 1\n name: "unterminated }\n', 2, "unexpected character"),
        ("item { id: 1 display_name: 7 }\n", 1, "must be a quoted string"),
        ("# nothing here\n", 1, "no 'item"),
    ],
)
def test_malformed_map_names_file_and_line(
    tmp_path: Path, text: str, line: int, reason: str
) -> None:
    path = tmp_path / "broken.pbtxt"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(LabelMapError) as caught:
        load_label_map(path)
    message = str(caught.value)
    assert f"{path}:{line}:" in message
    assert reason in message
    assert "\n" not in message


def test_missing_or_unreadable_map_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(LabelMapError, match=r"missing\.pbtxt: file not found"):
        load_label_map(tmp_path / "missing.pbtxt")
    binary = tmp_path / "binary.pbtxt"
    binary.write_bytes(b"\xff\xfe\x00item")
    with pytest.raises(LabelMapError, match=r"binary\.pbtxt: not UTF-8"):
        load_label_map(binary)


def test_parse_without_a_file_uses_the_given_source_name() -> None:
    with pytest.raises(LabelMapError, match="inline:1:"):
        parse_label_map("item {", source="inline")
