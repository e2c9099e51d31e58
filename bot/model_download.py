"""`detectbot model download`: fetch a TF2 Detection Zoo archive into the model base dir.

The archive comes over HTTPS (plain HTTP only from a loopback address, for local mirrors and
tests). Its size is capped while it downloads, and the size of what it expands to is capped while
it is checked and extracted, so a tar or gzip bomb stops early; whatever was written is removed.
Only `<name>/saved_model/` is taken from the archive. It lands as the next numeric
version under `MODEL_PATH` by one atomic rename, so TF Serving (which polls the base
dir) and the in-process loader never see a half-written version. The SavedModel is
checked against the model contract in a separate Python process: TensorFlow's import
and its log noise stay out of the CLI, and a model that crashes the loader cannot
take the command down with it. Without TensorFlow (an install without the `inprocess`
extra) that check is skipped, and the command says so.

What is not verified: the archive's origin beyond the TLS certificate of the server (the zoo
publishes no checksums or signatures), and what the graph computes.
"""

from __future__ import annotations

import contextlib
import gzip
import http.client
import importlib.util
import ipaddress
import json
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

from tqdm import tqdm

from bot.config import Settings
from bot.detection.errors import ModelNotFound

ZOO_BASE_URL = "https://download.tensorflow.org/models/object_detection/tf2/20200711"
DEFAULT_MODEL = "ssd_mobilenet_v2_320x320_coco17_tpu-8"

# The zoo's largest archives are about 0.5 GB and expand to less than twice that.
MAX_ARCHIVE_BYTES = 1 << 30
MAX_EXTRACTED_BYTES = 3 << 30
MAX_ARCHIVE_MEMBERS = 10_000

CONTRACT_INPUT = "input_tensor"
CONTRACT_OUTPUTS = ("detection_boxes", "detection_classes", "detection_scores", "num_detections")

log = logging.getLogger(__name__)

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_CHUNK = 1 << 20


@dataclass(frozen=True)
class ZooModel:
    name: str
    approx_mb: int
    note: str


KNOWN_MODELS: tuple[ZooModel, ...] = (
    ZooModel(DEFAULT_MODEL, 20, "SSD MobileNet v2 320x320, fastest, COCO mAP 20.2"),
    ZooModel(
        "ssd_mobilenet_v2_fpnlite_320x320_coco17_tpu-8", 20, "SSD MobileNet v2 FPNLite, mAP 22.2"
    ),
    ZooModel("efficientdet_d0_coco17_tpu-32", 30, "EfficientDet D0 512x512, mAP 33.6"),
    ZooModel(
        "ssd_mobilenet_v1_fpn_640x640_coco17_tpu-8", 90, "SSD MobileNet v1 FPN 640x640, mAP 29.1"
    ),
    ZooModel(
        "faster_rcnn_resnet50_v1_640x640_coco17_tpu-8", 200, "Faster R-CNN ResNet50, mAP 29.3"
    ),
    ZooModel(
        "centernet_resnet50_v1_fpn_512x512_coco17_tpu-8", 230, "CenterNet ResNet50 FPN, mAP 31.2"
    ),
    ZooModel("ssd_resnet50_v1_fpn_640x640_coco17_tpu-8", 245, "RetinaNet50 640x640, mAP 34.3"),
)


class ModelDownloadError(Exception):
    """A download that cannot finish; str() is one line a user can act on."""


def known_names() -> str:
    return ", ".join(m.name for m in KNOWN_MODELS)


def list_models() -> str:
    width = max(len(m.name) for m in KNOWN_MODELS)
    lines = [f"{'name':<{width}}  {'size':>8}  notes"]
    for m in KNOWN_MODELS:
        default = " (default)" if m.name == DEFAULT_MODEL else ""
        lines.append(f"{m.name:<{width}}  {'~' + str(m.approx_mb) + ' MB':>8}  {m.note}{default}")
    lines.append("Sizes are approximate; any other TF2 Detection Zoo name works too.")
    return "\n".join(lines)


def model_versions(base: Path) -> list[int]:
    """Numeric version dirs under a model base dir, ascending (what TF Serving would see)."""
    if not base.is_dir():
        return []
    return sorted(int(p.name) for p in base.iterdir() if p.is_dir() and p.name.isdigit())


def download_model(
    name: str,
    dest_base: Path,
    *,
    base_url: str = ZOO_BASE_URL,
    progress: bool = True,
    signature: str = "serving_default",
    timeout_s: float = 30.0,
    max_archive_bytes: int = MAX_ARCHIVE_BYTES,
    max_extracted_bytes: int = MAX_EXTRACTED_BYTES,
    check: bool = True,
) -> Path:
    """Download `name`, install its SavedModel as the next version under `dest_base`.

    Returns the new version dir. Raises ModelDownloadError; nothing is left behind then.
    `check=False` skips the signature check (it needs TensorFlow).
    """
    if not _NAME.match(name):
        raise ModelDownloadError(
            f"invalid model name {name!r}: use letters, digits, '_', '-' and '.'"
        )
    check_url(base_url)
    created_base = not dest_base.exists()
    dest_base.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".download-", dir=dest_base))
    installed = False
    try:
        archive = staging / f"{name}.tar.gz"
        url = f"{base_url.rstrip('/')}/{name}.tar.gz"
        _fetch(url, name, archive, progress=progress, timeout_s=timeout_s, limit=max_archive_bytes)
        _check_gzip(archive, name, max_extracted_bytes)
        model_dir = staging / "model"
        _extract_saved_model(archive, name, model_dir, max_extracted_bytes)
        archive.unlink()
        problems = (
            check_signature(inspect_saved_model(model_dir, signature), signature) if check else []
        )
        if problems:
            raise ModelDownloadError(
                f"{name} does not match the model contract: {'; '.join(problems)}"
            )
        final = _install(model_dir, dest_base)
        installed = True
        return final
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if created_base and not installed:
            with contextlib.suppress(OSError):
                dest_base.rmdir()


def check_url(base_url: str) -> None:
    """HTTPS only; plain HTTP is accepted from a loopback address (a local mirror, tests)."""
    parts = urllib.parse.urlsplit(base_url)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and parts.hostname and _is_loopback(parts.hostname):
        return
    raise ModelDownloadError(
        f"refusing {base_url}: models are downloaded over https:// only "
        "(plain http:// only from localhost)"
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _HttpsOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects, but never from HTTPS down to plain HTTP."""

    def redirect_request(
        self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str
    ) -> Any:
        check_url(newurl)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _fetch(
    url: str, name: str, target: Path, *, progress: bool, timeout_s: float, limit: int
) -> None:
    request = urllib.request.Request(url, headers={"User-Agent": "detectbot-model-download"})
    opener = urllib.request.build_opener(_HttpsOnlyRedirects)
    try:
        with opener.open(request, timeout=timeout_s) as response:
            total = _content_length(response)
            if total is not None and total > limit:
                raise ModelDownloadError(
                    f"archive {name}.tar.gz is {total} bytes, over the {_mb(limit)} limit; refused"
                )
            received = _copy_with_progress(
                response, target, total, name, progress=progress, limit=limit
            )
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            raise ModelDownloadError(f"unknown model {name}; known: {known_names()}") from None
        raise ModelDownloadError(f"HTTP {exc.code} {exc.reason} from {url}") from None
    except urllib.error.URLError as exc:
        raise ModelDownloadError(
            f"cannot reach {url}: {_reason(exc.reason, timeout_s)} (offline?)"
        ) from None
    except TimeoutError:
        raise ModelDownloadError(
            f"download of {name} stalled: no data for {timeout_s:g} s; try again"
        ) from None
    except (ConnectionError, http.client.HTTPException) as exc:
        raise ModelDownloadError(
            f"download of {name} broke off: {_reason(exc, timeout_s)}"
        ) from None
    if total is not None and received != total:
        raise ModelDownloadError(
            f"download of {name} was cut off after {received} of {total} bytes; try again"
        )


def _content_length(response: Any) -> int | None:
    value = response.headers.get("Content-Length")
    return int(value) if value and value.isdigit() else None


def _mb(n: int) -> str:
    return f"{n / (1 << 20):g} MB"


def _copy_with_progress(
    source: BinaryIO, target: Path, total: int | None, name: str, *, progress: bool, limit: int
) -> int:
    received = 0
    with (
        target.open("wb") as out,
        tqdm(
            total=total,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc=name,
            disable=None if progress else True,
            leave=False,
        ) as bar,
    ):
        while chunk := source.read(_CHUNK):
            received += len(chunk)
            if received > limit:
                raise ModelDownloadError(
                    f"archive {name}.tar.gz grew past the {_mb(limit)} limit while downloading; "
                    "refused"
                )
            out.write(chunk)
            bar.update(len(chunk))
    return received


def _reason(reason: object, timeout_s: float) -> str:
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, socket.gaierror):
        return "host name not found"
    if isinstance(reason, TimeoutError):
        return f"no answer within {timeout_s:g} s"
    text = str(getattr(reason, "strerror", None) or reason)
    return " ".join(text.split()) or type(reason).__name__


def _check_gzip(archive: Path, name: str, max_bytes: int) -> None:
    """Read the whole gzip stream once: catches truncation and bad CRCs before extracting, and
    stops as soon as it expands past `max_bytes` (a gzip bomb), without writing anything."""
    expanded = 0
    try:
        with gzip.open(archive, "rb") as stream:
            while chunk := stream.read(_CHUNK):
                expanded += len(chunk)
                if expanded > max_bytes:
                    raise ModelDownloadError(
                        f"archive {name}.tar.gz expands to more than {_mb(max_bytes)}; refused"
                    )
    except (OSError, EOFError, zlib.error) as exc:
        raise ModelDownloadError(
            f"archive {name}.tar.gz is corrupt or truncated ({_one_line(exc)}); try again"
        ) from None


def _extract_saved_model(archive: Path, name: str, target: Path, max_bytes: int) -> None:
    """Extract only `<name>/saved_model/**`; refuse links, devices and paths leaving `target`,
    and stop before the files would add up to more than `max_bytes` or
    MAX_ARCHIVE_MEMBERS entries (a tar bomb)."""
    prefix = PurePosixPath(name, "saved_model")
    target.mkdir()
    found_pb = False
    extracted = 0
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for count, member in enumerate(tar, start=1):
                if count > MAX_ARCHIVE_MEMBERS:
                    raise ModelDownloadError(
                        f"archive {name}.tar.gz has more than {MAX_ARCHIVE_MEMBERS} entries; "
                        "refused"
                    )
                path = PurePosixPath(member.name.removeprefix("./"))
                if path.is_absolute() or ".." in path.parts:
                    raise ModelDownloadError(
                        f"archive member {member.name!r} points outside the model dir; refused"
                    )
                if path == prefix or prefix not in path.parents:
                    continue
                relative = path.relative_to(prefix)
                out = target.joinpath(*relative.parts)
                if member.isdir():
                    out.mkdir(parents=True, exist_ok=True)
                elif member.isfile():
                    extracted += member.size
                    if extracted > max_bytes:
                        raise ModelDownloadError(
                            f"archive {name}.tar.gz holds more than {_mb(max_bytes)} of files; "
                            "refused"
                        )
                    out.parent.mkdir(parents=True, exist_ok=True)
                    source = tar.extractfile(member)
                    assert source is not None
                    with source, out.open("wb") as sink:
                        shutil.copyfileobj(source, sink, _CHUNK)
                    found_pb = found_pb or relative == PurePosixPath("saved_model.pb")
                else:
                    raise ModelDownloadError(
                        f"archive member {member.name!r} is a link or device; refused"
                    )
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise ModelDownloadError(
            f"archive {name}.tar.gz is corrupt or truncated ({_one_line(exc)}); try again"
        ) from None
    if not found_pb:
        raise ModelDownloadError(f"archive {name}.tar.gz has no {prefix}/saved_model.pb")


def _install(model_dir: Path, dest_base: Path) -> Path:
    """Move the staged model to the next free version number in one rename."""
    version = (model_versions(dest_base) or [0])[-1] + 1
    while True:
        final = dest_base / str(version)
        try:
            final.mkdir()
        except FileExistsError:
            version += 1
            continue
        os.replace(model_dir, final)
        return final


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def inspect_saved_model(
    model_dir: Path, signature: str, *, timeout_s: float = 600.0
) -> dict[str, Any]:
    """Load the SavedModel in a worker process; return its signature's inputs and outputs.

    Result: {"inputs": {name: {"dtype", "shape"}}, "outputs": {...}} or {"error": "..."}.
    """
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="-1")
    command = [sys.executable, "-c", _WORKER, str(model_dir), signature]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, env=env, timeout=timeout_s, check=False
        )
    except subprocess.TimeoutExpired:
        raise ModelDownloadError(
            f"loading the SavedModel took longer than {timeout_s:g} s; refused"
        ) from None
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        tail = done.stderr.strip().splitlines()
        detail = tail[-1] if tail else f"exit status {done.returncode}"
        raise ModelDownloadError(f"TensorFlow cannot load the SavedModel: {detail}")
    facts: dict[str, Any] = json.loads(lines[-1])
    return facts


_WORKER = """
import json, sys
import tensorflow as tf
path, name = sys.argv[1], sys.argv[2]
try:
    fn = tf.saved_model.load(path).signatures.get(name)
except Exception as exc:
    print(json.dumps({"error": " ".join(str(exc).split())[:300]}))
    raise SystemExit(0)
def spec(t):
    return {"dtype": t.dtype.name,
            "shape": None if t.shape.rank is None else [d if d is not None else -1
                                                        for d in t.shape.as_list()]}
if fn is None:
    print(json.dumps({"inputs": None, "outputs": None}))
else:
    print(json.dumps({
        "inputs": {k: spec(v) for k, v in fn.structured_input_signature[1].items()},
        "outputs": {k: spec(v) for k, v in fn.structured_outputs.items()},
    }))
"""


def check_signature(facts: dict[str, Any], signature: str) -> list[str]:
    """What in the inspected signature breaks the contract (empty list: it matches)."""
    if "error" in facts:
        return [f"cannot load it: {facts['error']}"]
    inputs, outputs = facts.get("inputs"), facts.get("outputs")
    if inputs is None or outputs is None:
        return [f"no signature {signature!r}"]
    problems = []
    tensor = inputs.get(CONTRACT_INPUT)
    if tensor is None:
        problems.append(f"input {CONTRACT_INPUT!r} missing (inputs: {', '.join(inputs) or '-'})")
    else:
        if tensor["dtype"] != "uint8":
            problems.append(f"input {CONTRACT_INPUT!r} is {tensor['dtype']}, not uint8")
        shape = tensor["shape"]
        if shape is not None and (len(shape) != 4 or shape[3] not in (3, -1)):
            problems.append(f"input {CONTRACT_INPUT!r} has shape {shape}, not [1, H, W, 3]")
    missing = [name for name in CONTRACT_OUTPUTS if name not in outputs]
    if missing:
        problems.append(f"outputs missing: {', '.join(missing)}")
    return problems


def download_cli(
    settings: Settings, name: str | None, *, list_only: bool, base_url: str | None = None
) -> int:
    if list_only:
        print(list_models())
        return 0
    model = name or DEFAULT_MODEL
    check = tensorflow_installed()
    try:
        final = download_model(
            model,
            settings.model_path,
            base_url=base_url or settings.model_download_url or ZOO_BASE_URL,
            signature=settings.model_signature,
            check=check,
        )
    except ModelDownloadError as exc:
        print(f"detectbot: model download: {_one_line(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("detectbot: model download: interrupted; nothing was installed", file=sys.stderr)
        return 130
    checked = (
        f"signature {settings.model_signature!r} matches the contract"
        if check
        else "signature not checked: TensorFlow is not installed, "
        "pip install 'detectx-bot[inprocess]' to check it"
    )
    print(
        f"installed {model} as {final} ({checked}); TF Serving loads the new version by "
        "itself, restart `detectbot run` for the in-process model"
    )
    return 0


def tensorflow_installed() -> bool:
    return importlib.util.find_spec("tensorflow") is not None


def fetch_default_model(settings: Settings) -> Path:
    """First run: download the default model into MODEL_PATH, with the progress bar.

    Raises ModelNotFound with one line naming MODEL_PATH and the download command.
    """
    log.warning(
        "no model in %s (MODEL_PATH) yet: downloading %s (~20 MB; MODEL_AUTO_DOWNLOAD=false "
        "turns this off)",
        settings.model_path,
        DEFAULT_MODEL,
    )
    try:
        return download_model(
            DEFAULT_MODEL,
            settings.model_path,
            base_url=settings.model_download_url or ZOO_BASE_URL,
            signature=settings.model_signature,
        )
    except ModelDownloadError as exc:
        raise ModelNotFound(
            f"no model in {settings.model_path} (MODEL_PATH) and the download failed: "
            f"{_one_line(exc)}; run `detectbot model download` when online, "
            "or point MODEL_PATH at a model"
        ) from None
