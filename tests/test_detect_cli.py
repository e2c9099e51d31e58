"""`detectbot detect`: annotated files, per-image counts or JSON lines, exit status, bad files."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from bot.config import Settings
from bot.detect_cli import detect_files, output_paths
from bot.detection.inprocess import InProcessDetector, LoadedModel
from bot.detection.summary import format_counts

PROJECT_ROOT = Path(__file__).resolve().parents[1]
JSON_KEYS = {"image", "width", "height", "objects", "counts", "inference_ms"}


def _expected_counts(photo: dict[str, Any]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for det in photo["detections"]:
        counts[det["class"]] = counts.get(det["class"], 0) + 1
    return counts


def _run_detectbot(
    args: list[str], cwd: Path, model_base_dir: Path
) -> subprocess.CompletedProcess[str]:
    """The real console entry point in a clean environment (no .env, only MODEL_PATH set)."""
    python = PROJECT_ROOT / ".venv" / "bin" / "python"
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(cwd),
        "MODEL_PATH": str(model_base_dir),
        "PYTHONPATH": str(PROJECT_ROOT),
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    return subprocess.run(
        [str(python if python.exists() else sys.executable), "-m", "bot", "detect", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=300,
        check=False,
    )


def _assert_annotated_copy(path: Path, source: Path) -> None:
    with Image.open(path) as written, Image.open(source) as original:
        assert written.format == "JPEG"
        assert written.size == original.size


def test_detect_on_shared_photos_writes_annotated_images_and_names_each_bad_file(
    tmp_path: Path,
    model_base_dir: Path,
    photos_dir: Path,
    expected_detections: dict[str, Any],
    real_model: bool,
) -> None:
    photos = sorted(photos_dir.glob("*.jpg"))
    notes = tmp_path / "notes.jpg"
    notes.write_text("not a picture\n", encoding="utf-8")
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(photos[0].read_bytes()[:5000])
    missing = tmp_path / "missing.jpg"
    bad = [(notes, "not an image"), (truncated, "corrupt"), (missing, "cannot read")]
    args = [*map(str, photos[:2]), str(notes), str(truncated), *map(str, photos[2:]), str(missing)]
    out = tmp_path / "out"

    done = _run_detectbot([*args, "--out", str(out)], tmp_path, model_base_dir)

    assert done.returncode == 1, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == len(photos)
    for photo, line in zip(photos, lines, strict=True):
        written = out / f"{photo.stem}.detected.jpg"
        _assert_annotated_copy(written, photo)
        image, rest = line.split(": ", 1)
        summary, target = rest.rsplit(" -> ", 1)
        assert image == str(photo) and target == str(written)
        if real_model:
            counts = _expected_counts(expected_detections["photos"][photo.name])
            assert summary == (format_counts(counts) or "Nothing found above 50%.")
    stderr = done.stderr.splitlines()
    for path, reason in bad:
        naming = [line for line in stderr if str(path) in line]
        assert len(naming) == 1, (path, stderr)
        assert reason in naming[0]
        assert not (out / f"{path.stem}.detected.jpg").exists()


@pytest.mark.usefixtures("shared_model_factory")
def test_json_lines_parse_and_match_expected(
    tmp_path: Path,
    photos_dir: Path,
    expected_detections: dict[str, Any],
    real_model: bool,
    capsys: pytest.CaptureFixture[str],
) -> None:
    photos = sorted(photos_dir.glob("*.jpg"))
    out = tmp_path / "json-out"
    status = detect_files(_settings(), photos, out=out, as_json=True, min_score=None)
    assert status == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["image"] for r in records] == [str(p) for p in photos]
    for record, photo in zip(records, photos, strict=True):
        assert set(record) == JSON_KEYS
        assert (record["width"], record["height"]) == Image.open(photo).size
        assert record["inference_ms"] > 0
        assert sum(record["counts"].values()) == len(record["objects"])
        for obj in record["objects"]:
            assert set(obj) == {"label", "class_id", "score", "box"}
            assert obj["score"] >= 0.5 and len(obj["box"]) == 4
        _assert_annotated_copy(out / f"{photo.stem}.detected.jpg", photo)
        if real_model:
            expected = expected_detections["photos"][photo.name]
            assert record["counts"] == _expected_counts(expected)
            for got, want in zip(record["objects"], expected["detections"], strict=True):
                assert got["label"] == want["class"] and got["class_id"] == want["id"]
                assert got["score"] == pytest.approx(want["score"], abs=0.01)
                assert got["box"] == pytest.approx(want["box"], abs=0.02)


@pytest.fixture
def shared_model_factory(monkeypatch: pytest.MonkeyPatch, loaded_model: LoadedModel) -> None:
    """`create_detector` hands out the session's already loaded real model instead of reloading."""
    import bot.detection.factory

    monkeypatch.setattr(
        bot.detection.factory,
        "create_detector",
        lambda settings: InProcessDetector.from_loaded(loaded_model),
    )


def _settings(**overrides: Any) -> Settings:
    return Settings(_env_file=None, **overrides)  # type: ignore[call-arg]


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.usefixtures("shared_model_factory")
def test_many_files_on_a_terminal_show_progress_without_touching_json_output(
    tmp_path: Path,
    photos_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    photos = sorted(photos_dir.glob("*.jpg"))[:4]
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    status = detect_files(_settings(), photos, out=tmp_path, as_json=True, min_score=None)
    assert status == 0
    assert "4/4" in terminal.getvalue()
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line)["image"] for line in lines] == [str(p) for p in photos]


@pytest.mark.usefixtures("shared_model_factory")
def test_without_out_images_go_to_the_current_directory_with_min_score_applied(
    tmp_path: Path,
    photos_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    real_model: bool,
) -> None:
    monkeypatch.chdir(tmp_path)
    photo = photos_dir / "cup_coffee.jpg"
    status = detect_files(_settings(), [photo], out=None, as_json=False, min_score=0.7)
    assert status == 0
    _assert_annotated_copy(tmp_path / "cup_coffee.detected.jpg", photo)
    captured = capsys.readouterr()
    assert captured.err == ""
    if real_model:
        assert captured.out.startswith(f"{photo}: 1 × cup -> ")


def test_same_stems_get_distinct_output_names(tmp_path: Path) -> None:
    names = output_paths(
        [Path("a/x.jpg"), Path("b/x.png"), Path("x.JPG"), Path("y.jpeg")], tmp_path
    )
    assert [p.name for p in names] == [
        "x.detected.jpg",
        "x-2.detected.jpg",
        "x-3.detected.jpg",
        "y.detected.jpg",
    ]


def test_threshold_outside_zero_to_one_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = detect_files(
        _settings(), [tmp_path / "a.jpg"], out=tmp_path, as_json=False, min_score=1.5
    )
    assert status == 2
    assert "--min-score" in capsys.readouterr().err


def test_output_directory_that_cannot_be_made_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x", encoding="utf-8")
    status = detect_files(
        _settings(), [tmp_path / "a.jpg"], out=blocker / "out", as_json=False, min_score=None
    )
    assert status == 2
    err = capsys.readouterr().err
    assert str(blocker / "out") in err and len(err.splitlines()) == 1


def test_missing_model_fails_with_one_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "no-model"
    empty.mkdir()
    settings = _settings(model_path=empty)
    status = detect_files(
        settings, [tmp_path / "a.jpg"], out=tmp_path, as_json=False, min_score=None
    )
    assert status == 3
    err = capsys.readouterr().err.strip()
    assert str(empty) in err and "\n" not in err


def test_malformed_label_map_names_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    label_map = tmp_path / "labels.pbtxt"
    label_map.write_text('item {\n  id: 1\n  display_name: "a"\n  id: x\n}\n', encoding="utf-8")
    status = detect_files(
        _settings(label_map=label_map, model_path=tmp_path),
        [tmp_path / "a.jpg"],
        out=tmp_path,
        as_json=False,
        min_score=None,
    )
    assert status == 2
    assert f"{label_map}:4:" in capsys.readouterr().err
