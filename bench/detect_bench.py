"""Detection benchmark: model alone vs the full pipeline, in-process and through gRPC.

Run: `.venv/bin/python -m bench.detect_bench [--calls 60] [--rounds 3]` (needs ../shared).

Side by side in one run, on the real model and the shared photos:
- model only: the signature called on pre-resized 300×300 tensors, in-process;
- pipeline in-process: decode → resize → infer → annotate → encode through `DetectionPipeline`;
- pipeline gRPC: the same with `TFServingDetector` against the TF Serving stand-in running in a
  separate process (as TF Serving would);
each at concurrency 1 and 4. Rounds alternate the configurations so machine noise spreads evenly.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path

import numpy as np
from PIL import Image

from bot.detection.inprocess import InProcessDetector, LoadedModel, load_model
from bot.detection.pipeline import DetectionPipeline
from bot.detection.tfserving import TFServingDetector
from bot.labels import load_label_map

SHARED = Path(__file__).resolve().parents[2] / "shared"
MODEL_DIR = SHARED / "models" / "ssd_mobilenet_v1_coco"
PHOTOS_DIR = SHARED / "photos"

Call = Callable[[int], Awaitable[object]]


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
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line.startswith("PORT "):
        process.kill()
        raise SystemExit("the TF Serving stand-in did not start")
    return process, f"127.0.0.1:{line.split()[1]}"


def pipeline_for(detector: InProcessDetector | TFServingDetector) -> DetectionPipeline:
    return DetectionPipeline(
        detector,
        load_label_map(None),
        max_image_pixels=50_000_000,
        max_file_bytes=20 * 1024 * 1024,
        inference_max_side=1024,
    )


async def run(calls: int, rounds: int) -> None:
    photos = [p.read_bytes() for p in sorted(PHOTOS_DIR.glob("*.jpg"))]
    model: LoadedModel = await asyncio.to_thread(
        load_model, MODEL_DIR, "serving_default", "detector"
    )
    tensors = [pre_resized(p) for p in photos]
    inprocess = pipeline_for(InProcessDetector.from_loaded(model))
    process, address = start_standin(MODEL_DIR)
    remote_detector = TFServingDetector(address, "detector", timeout_s=30.0)
    await remote_detector.start()
    remote = pipeline_for(remote_detector)

    async def model_only(i: int) -> object:
        return await asyncio.to_thread(model.run, tensors[i % len(tensors)])

    async def pipeline_inprocess(i: int) -> object:
        return await inprocess.run(photos[i % len(photos)], min_score=0.5)

    async def pipeline_grpc(i: int) -> object:
        return await remote.run(photos[i % len(photos)], min_score=0.5)

    configs: list[tuple[Series, Call]] = []
    for concurrency in (1, 4):
        configs += [
            (Series("model only (in-process)", concurrency), model_only),
            (Series("pipeline in-process", concurrency), pipeline_inprocess),
            (Series("pipeline gRPC", concurrency), pipeline_grpc),
        ]
    try:
        for _, call in configs:
            await measure(Series("warm-up", 2), call, 10)
        for _ in range(rounds):
            for series, call in configs:
                await measure(series, call, calls)
    finally:
        await remote_detector.close()
        process.kill()
        process.wait()
    report({(s.name, s.concurrency): s for s, _ in configs}, calls * rounds)


def report(results: dict[tuple[str, int], Series], calls: int) -> None:
    print(f"\n{calls} calls per row, 6 shared photos, real model (ssd_mobilenet_v1_coco)\n")
    print(f"| {'what':<24} | conc | median ms | p95 ms | images/s |")
    print(f"|{'-' * 26}|------|-----------|--------|----------|")
    for (name, concurrency), s in results.items():
        print(
            f"| {name:<24} | {concurrency:>4} | {s.median:>9.1f} | {s.p95:>6.1f} "
            f"| {s.throughput:>8.1f} |"
        )
    model1 = results[("model only (in-process)", 1)]
    local1 = results[("pipeline in-process", 1)]
    grpc1 = results[("pipeline gRPC", 1)]
    model4 = results[("model only (in-process)", 4)]
    local4 = results[("pipeline in-process", 4)]
    grpc4 = results[("pipeline gRPC", 4)]
    overhead = (local1.median - model1.median) / model1.median
    print("\nratios (target in brackets):")
    print(f"- pipeline overhead at concurrency 1: {overhead:+.0%} of model time [<= 15%]")
    print(
        "- gRPC / in-process pipeline median at concurrency 1: "
        f"{grpc1.median / local1.median:.2f}x [<= 1.2x]"
    )
    print(
        f"- in-process pipeline / model-only throughput at concurrency 4: "
        f"{local4.throughput / model4.throughput:.0%} [>= 85%]"
    )
    print(
        f"- gRPC pipeline / model-only throughput at concurrency 4: "
        f"{grpc4.throughput / model4.throughput:.0%} [>= 85%]"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=60, help="calls per row per round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if not MODEL_DIR.is_dir():
        raise SystemExit(f"needs the shared model at {MODEL_DIR}")
    asyncio.run(run(args.calls, args.rounds))


if __name__ == "__main__":
    main()
