"""`detectbot model download` against a local HTTP server serving archives the tests build."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import io
import os
import socket
import subprocess
import sys
import tarfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from bot.detection.inprocess import InProcessDetector
from bot.model_download import (
    DEFAULT_MODEL,
    MAX_ARCHIVE_MEMBERS,
    ModelDownloadError,
    download_model,
)
from tests.support.tiny_model import RED_CLASS, build_tiny_model

NAME = "tiny_ssd_coco17_tpu-8"


@dataclass(frozen=True)
class Route:
    body: bytes
    declared_length: int | None = None


@dataclass(frozen=True)
class ZooServer:
    base_url: str
    routes: dict[str, Route]


def _save_foreign_model(path: Path) -> None:
    """A classifier-style SavedModel: float images in, logits out; not the detector contract."""
    import tensorflow as tf

    class Foreign(tf.Module):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.gain = tf.Variable(0.5)

    module = Foreign()

    @tf.function(input_signature=[tf.TensorSpec([None, 224, 224, 3], tf.float32)])
    def serve(images: Any) -> dict[str, Any]:
        return {"logits": tf.reduce_mean(images, axis=[1, 2]) * module.gain}

    tf.saved_model.save(module, str(path), signatures={"serving_default": serve})


def _zoo_archive(
    saved_model: Path, *, extra: dict[str, bytes] | None = None, name: str = NAME
) -> bytes:
    """A zoo-shaped archive: NAME/saved_model/ plus the checkpoint and config zoo archives hold."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(saved_model, arcname=f"{name}/saved_model")
        members = {
            f"{name}/pipeline.config": b"model { ssd { num_classes: 90 } }\n",
            f"{name}/checkpoint/ckpt-0.index": b"\0" * 64,
            **(extra or {}),
        }
        for member, data in members.items():
            info = tarfile.TarInfo(member)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


class _Handler(BaseHTTPRequestHandler):
    routes: ClassVar[dict[str, Route]] = {}

    def do_GET(self) -> None:
        route = self.routes.get(self.path)
        if route is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/x-tar")
        length = route.declared_length if route.declared_length is not None else len(route.body)
        if length >= 0:
            self.send_header("Content-Length", str(length))
        self.end_headers()
        with contextlib.suppress(ConnectionError):
            self.wfile.write(route.body)
        self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        pass


BIG_BODY = os.urandom(3 << 20)
CAP = 1 << 20


def _gzip_bomb() -> bytes:
    """A 60 KB archive of one 64 MB file of zeros inside saved_model/."""
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=9) as stream:
        info = tarfile.TarInfo(f"{NAME}/saved_model/saved_model.pb")
        info.size = 64 << 20
        stream.write(info.tobuf())
        zeros = bytes(1 << 20)
        for _ in range(64):
            stream.write(zeros)
    return buffer.getvalue()


def _tar_bomb() -> bytes:
    """More entries than any model has: empty files under saved_model/."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for n in range(MAX_ARCHIVE_MEMBERS + 1):
            tar.addfile(tarfile.TarInfo(f"{NAME}/saved_model/assets/{n}"), io.BytesIO())
    return buffer.getvalue()


@pytest.fixture(scope="module")
def zoo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ZooServer]:
    root = tmp_path_factory.mktemp("zoo")
    good_model = build_tiny_model(root / "good") / "1"
    _save_foreign_model(root / "wrong")
    good = _zoo_archive(good_model)
    routes = {
        f"/good/{NAME}.tar.gz": Route(good),
        f"/wrong/{NAME}.tar.gz": Route(_zoo_archive(root / "wrong")),
        f"/truncated/{NAME}.tar.gz": Route(good[: len(good) * 2 // 3]),
        f"/cutoff/{NAME}.tar.gz": Route(good[: len(good) // 2], declared_length=len(good)),
        f"/html/{NAME}.tar.gz": Route(b"<html><body>Moved</body></html>\n"),
        f"/evil/{NAME}.tar.gz": Route(
            _zoo_archive(good_model, extra={f"{NAME}/saved_model/../../../escape.txt": b"x"})
        ),
        f"/default/{DEFAULT_MODEL}.tar.gz": Route(_zoo_archive(good_model, name=DEFAULT_MODEL)),
        f"/big/{NAME}.tar.gz": Route(BIG_BODY),
        f"/big-unsized/{NAME}.tar.gz": Route(BIG_BODY, declared_length=-1),
        f"/gzip-bomb/{NAME}.tar.gz": Route(_gzip_bomb()),
        f"/tar-bomb/{NAME}.tar.gz": Route(_tar_bomb()),
    }
    handler = type("ZooHandler", (_Handler,), {"routes": routes})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield ZooServer(f"http://127.0.0.1:{server.server_address[1]}", routes)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODEL_", "TFSERVING_"))}
    env["MODEL_PATH"] = str(tmp_path / "saved_model")
    return subprocess.run(
        [sys.executable, "-m", "bot", "model", "download", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def _leftovers(base: Path) -> list[str]:
    return sorted(p.name for p in base.iterdir()) if base.exists() else []


async def test_two_downloads_land_in_versions_1_and_2_and_the_loader_takes_2(
    zoo: ZooServer, tmp_path: Path
) -> None:
    base = tmp_path / "saved_model"

    first = await asyncio.to_thread(_cli, tmp_path, NAME, "--base-url", f"{zoo.base_url}/good")
    assert first.returncode == 0, first.stderr
    assert f"installed {NAME} as {base / '1'}" in first.stdout

    second = await asyncio.to_thread(
        download_model, NAME, base, base_url=f"{zoo.base_url}/good", progress=False
    )

    assert second == base / "2"
    assert _leftovers(base) == ["1", "2"]
    for version in ("1", "2"):
        assert (base / version / "saved_model.pb").is_file()
        assert (base / version / "variables" / "variables.index").is_file()
        assert not (base / version / "pipeline.config").exists()
        assert not (base / version / "checkpoint").exists()
    detector = InProcessDetector(base, "serving_default")
    await detector.start()
    try:
        red = np.zeros((32, 48, 3), np.uint8)
        red[..., 0] = 255
        found = await detector.detect(red)
    finally:
        await detector.close()
    assert detector.info.version == "2"
    assert int(found.class_ids[0]) == RED_CLASS


def test_download_keeps_existing_versions_and_takes_the_next_number(
    zoo: ZooServer, tmp_path: Path
) -> None:
    base = tmp_path / "saved_model"
    (base / "7").mkdir(parents=True)
    (base / "notes").mkdir()

    installed = download_model(NAME, base, base_url=f"{zoo.base_url}/good", progress=False)

    assert installed == base / "8"
    assert _leftovers(base) == ["7", "8", "notes"]


@pytest.mark.parametrize(
    ("route", "name", "expected"),
    [
        (
            "good",
            "no_such_model_coco17",
            "unknown model no_such_model_coco17; known: ssd_mobilenet",
        ),
        ("truncated", NAME, f"archive {NAME}.tar.gz is corrupt or truncated"),
        ("cutoff", NAME, f"download of {NAME} was cut off after"),
        ("html", NAME, f"archive {NAME}.tar.gz is corrupt or truncated"),
        ("evil", NAME, "points outside the model dir; refused"),
    ],
)
def test_bad_download_fails_with_one_line_and_leaves_nothing(
    zoo: ZooServer, tmp_path: Path, route: str, name: str, expected: str
) -> None:
    done = _cli(tmp_path, name, "--base-url", f"{zoo.base_url}/{route}")

    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("detectbot: model download: ")
    assert expected in lines[0]
    assert _leftovers(tmp_path / "saved_model") == []
    assert not (tmp_path / "escape.txt").exists()


def test_offline_fails_with_one_line(tmp_path: Path) -> None:
    done = _cli(tmp_path, "--base-url", f"http://127.0.0.1:{_free_port()}/tf2/20200711")

    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "cannot reach" in lines[0]
    assert "ssd_mobilenet_v2_320x320_coco17_tpu-8.tar.gz" in lines[0]
    assert "connection refused" in lines[0]
    assert not (tmp_path / "saved_model").exists()


def test_model_with_a_foreign_signature_is_refused(zoo: ZooServer, tmp_path: Path) -> None:
    done = _cli(tmp_path, NAME, "--base-url", f"{zoo.base_url}/wrong")

    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert f"{NAME} does not match the model contract" in lines[0]
    assert "input 'input_tensor' missing" in lines[0]
    assert "outputs missing: detection_boxes" in lines[0]
    assert _leftovers(tmp_path / "saved_model") == []


def test_refused_download_raises_and_keeps_earlier_versions(zoo: ZooServer, tmp_path: Path) -> None:
    base = tmp_path / "saved_model"
    (base / "1").mkdir(parents=True)

    with pytest.raises(ModelDownloadError, match="corrupt or truncated"):
        download_model(NAME, base, base_url=f"{zoo.base_url}/truncated", progress=False)

    assert _leftovers(base) == ["1"]


def test_list_names_the_default_model_with_its_size(tmp_path: Path) -> None:
    done = _cli(tmp_path, "--list")

    assert done.returncode == 0
    default_line = next(
        line for line in done.stdout.splitlines() if "ssd_mobilenet_v2_320x320" in line
    )
    assert "~20 MB" in default_line
    assert "(default)" in default_line


@pytest.mark.parametrize(
    ("route", "kwargs", "expected"),
    [
        ("big", {"max_archive_bytes": CAP}, "is 3145728 bytes, over the 1 MB limit"),
        ("big-unsized", {"max_archive_bytes": CAP}, "grew past the 1 MB limit while downloading"),
        ("gzip-bomb", {"max_extracted_bytes": 8 << 20}, "expands to more than 8 MB"),
        ("tar-bomb", {}, f"has more than {MAX_ARCHIVE_MEMBERS} entries"),
    ],
    ids=["declared-too-big", "streamed-too-big", "gzip-bomb", "tar-bomb"],
)
def test_oversized_archives_stop_early_and_leave_nothing(
    zoo: ZooServer, tmp_path: Path, route: str, kwargs: dict[str, Any], expected: str
) -> None:
    base = tmp_path / "saved_model"
    (base / "1").mkdir(parents=True)

    with pytest.raises(ModelDownloadError, match=expected):
        download_model(NAME, base, base_url=f"{zoo.base_url}/{route}", progress=False, **kwargs)

    assert _leftovers(base) == ["1"]
    assert list((base / "1").iterdir()) == []


@pytest.mark.parametrize(
    "url",
    [
        "http://download.example.org/models",
        "ftp://127.0.0.1/models",
        "file:///etc",
    ],
)
def test_only_https_is_accepted_except_from_localhost(tmp_path: Path, url: str) -> None:
    with pytest.raises(ModelDownloadError, match=r"https:// only"):
        download_model(NAME, tmp_path / "saved_model", base_url=url, progress=False)
    assert not (tmp_path / "saved_model").exists()


def _detect(tmp_path: Path, image: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("MODEL_", "TFSERVING_"))}
    clean.update(MODEL_PATH=str(tmp_path / "saved_model"), **env)
    return subprocess.run(
        [sys.executable, "-m", "bot", "detect", str(image), "--out", str(tmp_path / "out")],
        cwd=tmp_path,
        env=clean,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _red_png(tmp_path: Path) -> Path:
    from PIL import Image

    path = tmp_path / "red.png"
    Image.new("RGB", (48, 32), (255, 0, 0)).save(path)
    return path


def test_first_detect_without_a_model_downloads_the_default_one(
    zoo: ZooServer, tmp_path: Path
) -> None:
    done = _detect(tmp_path, _red_png(tmp_path), MODEL_DOWNLOAD_URL=f"{zoo.base_url}/default")

    assert done.returncode == 0, done.stderr
    assert "red.png: 1 × person" in done.stdout
    assert f"downloading {DEFAULT_MODEL}" in done.stderr
    assert (tmp_path / "saved_model" / "1" / "saved_model.pb").is_file()


def test_first_run_offline_fails_with_one_line_naming_model_path_and_the_command(
    tmp_path: Path,
) -> None:
    offline = f"http://127.0.0.1:{_free_port()}/tf2"
    done = _detect(tmp_path, _red_png(tmp_path), MODEL_DOWNLOAD_URL=offline)

    assert done.returncode == 3
    errors = [line for line in done.stderr.splitlines() if line.startswith("detectbot:")]
    assert len(errors) == 1, done.stderr
    assert f"no model in {tmp_path / 'saved_model'} (MODEL_PATH)" in errors[0]
    assert "`detectbot model download`" in errors[0]
    assert "connection refused" in errors[0]
    assert not (tmp_path / "saved_model").exists()


def test_auto_download_can_be_turned_off(zoo: ZooServer, tmp_path: Path) -> None:
    done = _detect(
        tmp_path,
        _red_png(tmp_path),
        MODEL_DOWNLOAD_URL=f"{zoo.base_url}/default",
        MODEL_AUTO_DOWNLOAD="false",
    )

    assert done.returncode == 3
    assert "detectbot model download" in done.stderr
    assert "downloading" not in done.stderr
    assert not (tmp_path / "saved_model").exists()
