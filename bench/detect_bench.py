"""Detection benchmark: the model alone vs the full pipeline, today's code and this tree's.

Run: `.venv/bin/python -m bench.detect_bench [--calls 60] [--rounds 3] [--baseline REV]`
(needs ../shared and git).

In one run, on the real model and the shared photos:
- model only: the signature called on pre-resized 300×300 tensors, in-process;
- pipeline in-process: decode → resize → infer → annotate → encode through `DetectionPipeline`;
- pipeline gRPC: the same with the TF Serving detector against the stand-in running in a
  separate process (as TF Serving would);
each at concurrency 1 and 4, for this tree ("new") and for the code at `--baseline` ("today").
The baseline's `bot/` package is exported from git into a temporary directory and runs in a
child process that this script drives round by round, so both are measured under the same
machine load. Both build their pipeline and detectors from the same `Settings` through
`DetectionPipeline.from_settings` and `create_detector`: the measured path is the production
path. Rounds alternate the configurations so machine noise spreads evenly.

`--profile-only NAME` runs one series (e.g. `"pipeline in-process"`) of this tree only, for a
sampling profiler attached from outside (`py-spy record --pid ...`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path

import numpy as np
from PIL import Image

from bot.config import Settings
from bot.detection.detector import Detector
from bot.detection.factory import create_detector
from bot.detection.inprocess import LoadedModel, load_model
from bot.detection.pipeline import DetectionPipeline

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
MODEL_DIR = SHARED / "models" / "ssd_mobilenet_v1_coco"
PHOTOS_DIR = SHARED / "photos"
BASELINE_REV = "ee54b16"  # main before issue 11's pipeline work
MODEL_INPUT_SIZE = "300x300"  # the shared model's input, from its README

Call = Callable[[int], Awaitable[object]]
MODEL_ONLY = "model only (in-process)"
PIPELINES = ("pipeline in-process", "pipeline gRPC")


@dataclass
class Series:
    name: str
    concurrency: int
    latencies_ms: list[float] = field(default_factory=list)
    wall_s: float = 0.0
    calls: int = 0

    @property
    def median(self) -> float:
        return statistics.median(self.latencies_ms)

    @property
    def p95(self) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]

    @property
    def throughput(self) -> float:
        return self.calls / self.wall_s


async def measure(series: Series, call: Call, calls: int) -> None:
    """`calls` calls from `series.concurrency` workers; adds latencies and wall time."""
    next_index = iter(range(calls))

    async def worker() -> None:
        for i in next_index:
            started = time.perf_counter()
            await call(i)
            series.latencies_ms.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(series.concurrency)))
    series.wall_s += time.perf_counter() - started
    series.calls += calls


def pre_resized(photo: bytes) -> np.ndarray:
    image = Image.open(BytesIO(photo)).convert("RGB").resize((300, 300), Image.Resampling.BILINEAR)
    return np.asarray(image, dtype=np.uint8)[np.newaxis]


def start_standin(model_dir: Path) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.serve_standin", str(model_dir)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=ROOT,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line.startswith("PORT "):
        process.kill()
        raise SystemExit("the TF Serving stand-in did not start")
    return process, f"127.0.0.1:{line.split()[1]}"


def settings_for(address: str | None) -> Settings:
    """The same settings for both trees; a tree that lacks a setting ignores it."""
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        model_path=MODEL_DIR,
        tfserving_address=address,
        model_name="detector",
        tfserving_timeout_s=30.0,
        model_input_size=MODEL_INPUT_SIZE,  # type: ignore[arg-type]
    )


async def pipelines(address: str) -> tuple[dict[str, DetectionPipeline], list[Detector]]:
    detectors: list[Detector] = []
    built: dict[str, DetectionPipeline] = {}
    for name, settings in zip(PIPELINES, (settings_for(None), settings_for(address)), strict=True):
        detector = create_detector(settings)
        await detector.start()
        detectors.append(detector)
        built[name] = DetectionPipeline.from_settings(settings, detector)
    return built, detectors


def pipeline_call(pipeline: DetectionPipeline, photos: list[bytes]) -> Call:
    async def call(i: int) -> object:
        return await pipeline.run(photos[i % len(photos)], min_score=0.5)

    return call


def load_photos() -> list[bytes]:
    return [p.read_bytes() for p in sorted(PHOTOS_DIR.glob("*.jpg"))]


# --- the baseline tree, in a child process ----------------------------------------------------


async def serve_rounds(address: str) -> None:
    """Child side: build the baseline's pipelines, then measure what stdin asks, one line each."""
    import bot

    photos = load_photos()
    built, detectors = await pipelines(address)
    print(json.dumps({"ready": str(Path(bot.__file__).parent)}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        series = Series(request["name"], request["concurrency"])
        await measure(series, pipeline_call(built[request["name"]], photos), request["calls"])
        print(
            json.dumps({"latencies_ms": series.latencies_ms, "wall_s": series.wall_s}), flush=True
        )
    for detector in detectors:
        await detector.close()


class Baseline:
    """The baseline tree's pipelines, measured in a child process on request."""

    def __init__(self, revision: str, address: str) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="detect-bench-baseline-")
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", "--format=tar", revision, "bot"],
            check=True,
            capture_output=True,
        ).stdout
        with tarfile.open(fileobj=BytesIO(archive)) as tar:
            tar.extractall(self._tmp.name, filter="data")
        env = {**os.environ, "PYTHONPATH": f"{self._tmp.name}{os.pathsep}{ROOT}"}
        self._process = subprocess.Popen(
            [sys.executable, "-m", "bench.detect_bench", "--serve-baseline", address],
            cwd=self._tmp.name,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        ready = json.loads(self._readline())
        if Path(ready["ready"]).resolve() != (Path(self._tmp.name) / "bot").resolve():
            raise SystemExit(f"the baseline child imported bot from {ready['ready']}")

    def _readline(self) -> str:
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line:
            raise SystemExit("the baseline child exited")
        return line

    async def measure(self, series: Series, calls: int) -> None:
        assert self._process.stdin is not None
        request = {"name": series.name, "concurrency": series.concurrency, "calls": calls}
        self._process.stdin.write(json.dumps(request) + "\n")
        self._process.stdin.flush()
        answer = json.loads(await asyncio.to_thread(self._readline))
        series.latencies_ms += answer["latencies_ms"]
        series.wall_s += answer["wall_s"]
        series.calls += calls

    def close(self) -> None:
        if self._process.stdin is not None:
            self._process.stdin.close()
        try:
            self._process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._process.kill()
        self._tmp.cleanup()


# --- the run ----------------------------------------------------------------------------------


async def run(calls: int, rounds: int, baseline_rev: str) -> None:
    photos = load_photos()
    model: LoadedModel = await asyncio.to_thread(
        load_model, MODEL_DIR, "serving_default", "detector"
    )
    tensors = [pre_resized(p) for p in photos]
    process, address = start_standin(MODEL_DIR)
    built, detectors = await pipelines(address)
    baseline = Baseline(baseline_rev, address)

    async def model_only(i: int) -> object:
        return await asyncio.to_thread(model.run, tensors[i % len(tensors)])

    Step = Callable[[Series, int], Awaitable[None]]

    def local(call: Call) -> Step:
        async def step(series: Series, n: int) -> None:
            await measure(series, call, n)

        return step

    results: dict[tuple[str, str, int], Series] = {}
    steps: list[tuple[Series, Step]] = []
    for concurrency in (1, 4):
        model_series = Series(MODEL_ONLY, concurrency)
        results[("", MODEL_ONLY, concurrency)] = model_series
        steps.append((model_series, local(model_only)))
        for name in PIPELINES:
            today, new = Series(name, concurrency), Series(name, concurrency)
            results[("today", name, concurrency)] = today
            results[("new", name, concurrency)] = new
            steps.append((today, baseline.measure))
            steps.append((new, local(pipeline_call(built[name], photos))))
    try:
        for series, step in steps:
            await step(Series(series.name, series.concurrency), 10)
        for _ in range(rounds):
            for series, step in steps:
                await step(series, calls)
    finally:
        baseline.close()
        for detector in detectors:
            await detector.close()
        process.kill()
        process.wait()
    report(results, calls * rounds, baseline_rev)


def report(results: dict[tuple[str, str, int], Series], calls: int, baseline_rev: str) -> None:
    print(
        f"\n{calls} calls per row, 6 shared photos, real model (ssd_mobilenet_v1_coco); "
        f"today = {baseline_rev}, new = this tree (MODEL_INPUT_SIZE={MODEL_INPUT_SIZE})\n"
    )
    print(f"| {'what':<32} | conc | median ms | p95 ms | images/s |")
    print(f"|{'-' * 34}|------|-----------|--------|----------|")
    for (side, name, concurrency), s in sorted(
        results.items(), key=lambda item: (item[0][2], item[0][1] != MODEL_ONLY, item[0][1])
    ):
        label = f"{name}, {side}" if side else name
        print(
            f"| {label:<32} | {concurrency:>4} | {s.median:>9.1f} | {s.p95:>6.1f} "
            f"| {s.throughput:>8.1f} |"
        )
    model1 = results[("", MODEL_ONLY, 1)]
    model4 = results[("", MODEL_ONLY, 4)]
    print("\n| target | today | new |")
    print("|---|---|---|")

    def row(target: str, figure: Callable[[str], str]) -> None:
        print(f"| {target} | {figure('today')} | {figure('new')} |")

    row(
        "pipeline overhead over the model, in-process, concurrency 1 (≤ +15 %)",
        lambda side: _percent(
            results[(side, "pipeline in-process", 1)].median / model1.median - 1, signed=True
        ),
    )
    row(
        "in-process pipeline / model-only throughput, concurrency 4 (≥ 90 %)",
        lambda side: _percent(
            results[(side, "pipeline in-process", 4)].throughput / model4.throughput
        ),
    )
    row(
        "gRPC pipeline / model-only throughput, concurrency 4 (≥ 85 %)",
        lambda side: _percent(results[(side, "pipeline gRPC", 4)].throughput / model4.throughput),
    )
    row(
        "gRPC / in-process pipeline median, concurrency 1 (≤ 1.2×)",
        lambda side: f"{_grpc_over_local(results, side):.2f}×",
    )


def _grpc_over_local(results: dict[tuple[str, str, int], Series], side: str) -> float:
    return (
        results[(side, "pipeline gRPC", 1)].median
        / results[(side, "pipeline in-process", 1)].median
    )


def _percent(value: float, *, signed: bool = False) -> str:
    return f"{value:+.0%}" if signed else f"{value:.0%}"


async def profile_only(name: str, concurrency: int, calls: int) -> None:
    photos = load_photos()
    process, address = start_standin(MODEL_DIR)
    built, detectors = await pipelines(address)
    try:
        print("READY", os.getpid(), flush=True)
        series = Series(name, concurrency)
        await measure(series, pipeline_call(built[name], photos), calls)
        print(f"{calls} calls, median {series.median:.1f} ms", flush=True)
    finally:
        for detector in detectors:
            await detector.close()
        process.kill()
        process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=60, help="calls per row per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--baseline", default=BASELINE_REV, help="git revision of 'today'")
    parser.add_argument("--profile-only", metavar="NAME", choices=PIPELINES)
    parser.add_argument("--concurrency", type=int, default=1, help="with --profile-only")
    parser.add_argument("--serve-baseline", metavar="ADDRESS", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not MODEL_DIR.is_dir():
        raise SystemExit(f"needs the shared model at {MODEL_DIR}")
    if args.serve_baseline:
        asyncio.run(serve_rounds(args.serve_baseline))
    elif args.profile_only:
        asyncio.run(profile_only(args.profile_only, args.concurrency, args.calls))
    else:
        asyncio.run(run(args.calls, args.rounds, args.baseline))


if __name__ == "__main__":
    main()
