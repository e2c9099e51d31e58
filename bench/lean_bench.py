"""Lean TF Serving client benchmark: today's path (official messages) against the lean one.

Run: `.venv/bin/python -m bench.lean_bench [--detections 100] [--calls 300] [--sizes]`
(needs ../shared and git).

"Today's path" is the code just before the bot got its own TF Serving messages (the parent of
the commit that removed `from tensorflow_serving.apis import` from bot/detection/tfserving.py),
exported from git into a temporary tree; "lean" is this checkout. Each path runs in its own fresh
interpreter, in the same run, against one TF Serving stand-in in a separate process:
- import time of the TF Serving mode (`bot.detection.tfserving` plus `bot.runner`, what
  `detectbot run` loads) and RSS after it, after `start()` and after N detections;
- client CPU per call of building and serializing a 1024×768 PredictRequest, and of parsing a
  PredictResponse (both output encodings) into arrays;
- with `--sizes`: the installed size of a fresh venv with `pip install .` against
  `pip install '.[inprocess]'` (slow: minutes, it installs TensorFlow).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import venv
from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
MODEL_DIR = SHARED / "models" / "ssd_mobilenet_v1_coco"
PHOTO = SHARED / "photos" / "person_astronaut.jpg"

_CHILD = r"""
import asyncio, json, resource, sys, time

def rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024

started = time.perf_counter()
from bot.detection.tfserving import TFServingDetector
import bot.runner
import_s = time.perf_counter() - started
rss_import = rss_mb()

import numpy as np
from PIL import Image
from bot.detection import tensors
address, photo, detections, calls, responses = sys.argv[1:6]
detections, calls = int(detections), int(calls)

async def detect():
    detector = TFServingDetector(address, "detector", "serving_default", 10.0, 3)
    await detector.start()
    rss_start = rss_mb()
    image = np.asarray(Image.open(photo).convert("RGB"))
    for _ in range(detections):
        await detector.detect(image)
    rss_after = rss_mb()
    await detector.close()
    return detector, rss_start, rss_after

detector, rss_start, rss_after = asyncio.run(detect())

batch = np.random.default_rng(0).integers(0, 256, (1, 768, 1024, 3), dtype=np.uint8)
started = time.process_time()
for _ in range(calls):
    wire = detector._predict_request(batch).SerializeToString()
build_us = (time.process_time() - started) / calls * 1e6

response_class = type(detector._predict_request(batch)).__module__
from importlib import import_module
predict_pb2 = import_module(response_class)
parse_us = {}
for encoding, path in json.loads(responses).items():
    data = open(path, "rb").read()
    started = time.process_time()
    for _ in range(calls):
        response = predict_pb2.PredictResponse.FromString(data)
        arrays = {k: tensors.from_tensor_proto(v) for k, v in response.outputs.items()}
    parse_us[encoding] = (time.process_time() - started) / calls * 1e6

print(json.dumps({
    "bot_package": sys.modules["bot"].__file__,
    "tensorflow_loaded": "tensorflow" in sys.modules,
    "matplotlib_loaded": "matplotlib" in sys.modules,
    "import_s": import_s,
    "rss_import_mb": rss_import,
    "rss_start_mb": rss_start,
    "rss_after_mb": rss_after,
    "request_bytes": len(wire),
    "build_us": build_us,
    "parse_us": parse_us,
}))
"""


def today_commit() -> str:
    found = subprocess.run(
        [
            "git",
            "log",
            "-1",
            "--format=%H",
            "-S",
            "from tensorflow_serving.apis import",
            "--",
            "bot/detection/tfserving.py",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if not found:
        raise SystemExit("lean_bench: cannot find the commit that made the client lean")
    return f"{found}^"


def export_tree(commit: str, target: Path) -> Path:
    archive = subprocess.run(
        ["git", "archive", "--format=tar", commit, "bot", "handlers", "db"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(target, filter="data")
    return target


def write_responses(tmp: Path) -> dict[str, str]:
    """The stand-in's answer for a 1024×768 photo, in both output encodings, as wire bytes."""
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    from tests.support.tfserving_standin import as_proto_field

    rng = np.random.default_rng(1)
    outputs = {
        "detection_boxes": rng.random((1, 100, 4), dtype=np.float32),
        "detection_classes": rng.integers(1, 91, (1, 100)).astype(np.float32),
        "detection_scores": np.sort(rng.random((1, 100), dtype=np.float32))[:, ::-1].copy(),
        "num_detections": np.array([100.0], np.float32),
    }
    paths = {}
    for encoding in ("typed_val", "tensor_content"):
        response = predict_pb2.PredictResponse()
        response.model_spec.name = "detector"
        response.model_spec.version.value = 1
        for name, array in outputs.items():
            proto = tf.make_tensor_proto(array) if encoding == "tensor_content" else None
            response.outputs[name].CopyFrom(proto or as_proto_field(array))
        path = tmp / f"response-{encoding}.bin"
        path.write_bytes(response.SerializeToString())
        paths[encoding] = str(path)
    return paths


def run_child(
    tree: Path, address: str, detections: int, calls: int, responses: dict[str, str]
) -> Any:
    env = dict(os.environ, PYTHONPATH=str(tree), TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            _CHILD,
            address,
            str(PHOTO),
            str(detections),
            str(calls),
            json.dumps(responses),
        ],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"lean_bench: child in {tree} failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert Path(result["bot_package"]).resolve().is_relative_to(tree.resolve()), result
    return result


def venv_size_mb(extras: str, tmp: Path) -> tuple[float, float]:
    """(all files, without __pycache__) of a fresh venv; images strip the bytecode caches."""
    target = tmp / f"venv{extras or '-lean'}"
    venv.EnvBuilder(with_pip=True).create(target)
    spec = f"{ROOT}[{extras}]" if extras else str(ROOT)
    subprocess.run(
        [str(target / "bin" / "python"), "-m", "pip", "install", "--quiet", spec],
        check=True,
        env=dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1"),
    )
    files = [p for p in target.rglob("*") if p.is_file() and not p.is_symlink()]
    total = sum(p.stat().st_size for p in files)
    code = sum(p.stat().st_size for p in files if "__pycache__" not in p.parts)
    return total / 1e6, code / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--detections", type=int, default=100)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--sizes", action="store_true", help="also measure fresh venv sizes")
    parser.add_argument("--sizes-only", action="store_true", help="only the venv sizes")
    args = parser.parse_args()
    if args.sizes_only:
        with tempfile.TemporaryDirectory(prefix="lean-bench-") as tmp_name:
            print_sizes(
                {
                    "lean": venv_size_mb("", Path(tmp_name)),
                    "inprocess": venv_size_mb("inprocess", Path(tmp_name)),
                }
            )
        return
    if not MODEL_DIR.is_dir():
        raise SystemExit(f"lean_bench: needs the shared model at {MODEL_DIR}")

    with tempfile.TemporaryDirectory(prefix="lean-bench-") as tmp_name:
        tmp = Path(tmp_name)
        commit = today_commit()
        today = export_tree(commit, tmp / "today")
        responses = write_responses(tmp)
        server = subprocess.Popen(
            [sys.executable, "-m", "bench.serve_standin", str(MODEL_DIR)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
        )
        try:
            assert server.stdout is not None
            port = int(server.stdout.readline().split()[1])
            address = f"127.0.0.1:{port}"
            results: dict[str, list[Any]] = {"today": [], "lean": []}
            for _ in range(args.rounds):
                for name, tree in (("today", today), ("lean", ROOT)):
                    results[name].append(
                        run_child(tree, address, args.detections, args.calls, responses)
                    )
        finally:
            if server.stdin is not None:
                server.stdin.close()
            server.wait(timeout=30)
        sizes: dict[str, tuple[float, float]] = {}
        if args.sizes:
            sizes = {"lean": venv_size_mb("", tmp), "inprocess": venv_size_mb("inprocess", tmp)}
        shutil.rmtree(today, ignore_errors=True)
    report(commit, results, sizes, args.detections, args.calls)


def _best(runs: list[Any], key: str) -> float:
    return min(float(r[key]) for r in runs)


def report(
    commit: str,
    results: dict[str, list[Any]],
    sizes: dict[str, tuple[float, float]],
    n: int,
    calls: int,
) -> None:
    today, lean = results["today"], results["lean"]
    print(f"today's path: {commit}; lean: this checkout; best of {len(lean)} rounds each")
    rows = [
        ("import time of the TF Serving mode, s", "import_s"),
        ("RSS after import, MB", "rss_import_mb"),
        ("RSS after start(), MB", "rss_start_mb"),
        (f"RSS after {n} detections, MB", "rss_after_mb"),
        (f"build + serialize a 1024×768 request, µs/call ({calls} calls)", "build_us"),
    ]
    print("| what | today | lean | lean/today |\n|---|---|---|---|")
    for label, key in rows:
        a, b = _best(today, key), _best(lean, key)
        print(f"| {label} | {a:.2f} | {b:.2f} | {b / a:.2f} |")
    for encoding in ("typed_val", "tensor_content"):
        a = min(r["parse_us"][encoding] for r in today)
        b = min(r["parse_us"][encoding] for r in lean)
        print(f"| parse a response ({encoding}), µs/call | {a:.1f} | {b:.1f} | {b / a:.2f} |")
    print(
        f"TensorFlow loaded: today {today[0]['tensorflow_loaded']}, "
        f"lean {lean[0]['tensorflow_loaded']}; matplotlib loaded: today "
        f"{today[0]['matplotlib_loaded']}, lean {lean[0]['matplotlib_loaded']}"
    )
    if sizes:
        print_sizes(sizes)


def print_sizes(sizes: dict[str, tuple[float, float]]) -> None:
    for name, spec in (("lean", "."), ("inprocess", "'.[inprocess]'")):
        total, code = sizes[name]
        print(
            f"fresh venv, pip install {spec}: {total:.0f} MB, "
            f"{code:.0f} MB without __pycache__ (as in the image)"
        )


if __name__ == "__main__":
    main()
