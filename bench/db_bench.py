"""Database benchmark (not a test): write throughput and stats latency, SQLite vs MariaDB.

    .venv/bin/python -m bench.db_bench [--detections 2000] [--tasks 8] [--stats-rows 100000]

Writes: N detections with 3 objects each through repository.detections.record from
concurrent tasks; prints detections/s and per-write p50/p95. Stats: bulk-seeds 100,000
detections (300,000 objects) over 30 days with core executemany, then times
repository.stats.overview(). MariaDB: the server of DETECTX_TEST_MYSQL_URL (default
root@127.0.0.1:3306), database `detectx_bench`, created and emptied by this script.
Targets: >= 500 detections/s on MariaDB from 8 tasks; stats < 1 s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Table, insert, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from db.migrate import downgrade, upgrade
from db.models import DetectedObject, Detection, User
from db.records import NewDetection, NewObject, UserInfo
from db.repository import Repository
from db.session import create_engine, create_sessionmaker, mask_url

DEFAULT_MYSQL_URL = "mysql+aiomysql://root@127.0.0.1:3306/detectx_test?charset=utf8mb4"
LABELS = ["person", "dog", "cat", "car", "bicycle", "chair", "bottle", "cup", "bird", "tv"]
SEED_CHUNK = 5_000


@dataclass(frozen=True)
class Result:
    backend: str
    detections_per_s: float
    p50_write_ms: float
    p95_write_ms: float
    stats_best_s: float
    stats_median_s: float


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(q * len(ordered)) - 1))]


def new_detection(user_id: int, message_id: int, rng: random.Random) -> NewDetection:
    return NewDetection(
        user_id=user_id,
        chat_id=-1001234567890,
        message_id=message_id,
        file_id=f"file-{message_id}",
        file_unique_id=f"uniq-{message_id}",
        width=1280,
        height=960,
        model_name="ssd_mobilenet_v1_coco",
        model_version="1",
        inference_ms=rng.uniform(20, 120),
        total_ms=rng.uniform(60, 200),
        objects=[
            NewObject(i + 1, rng.choice(LABELS), rng.uniform(0.5, 1), (0.1, 0.1, 0.6, 0.6))
            for i in range(3)
        ],
    )


async def reset_schema(url: str) -> None:
    await downgrade(url, "base")
    await upgrade(url)


async def bench_writes(url: str, detections: int, tasks: int) -> tuple[float, list[float]]:
    engine = create_engine(url)
    repository = Repository(create_sessionmaker(engine))
    try:
        for user in range(tasks):
            await repository.people.register(
                UserInfo(1000 + user, 1000 + user, f"bench{user}"), None
            )
        latencies: list[float] = []
        per_task = detections // tasks

        async def writer(task: int) -> None:
            rng = random.Random(task)
            for i in range(per_task):
                item = new_detection(1000 + task, task * per_task + i, rng)
                started = time.perf_counter()
                await repository.detections.record(item)
                latencies.append((time.perf_counter() - started) * 1000)

        started = time.perf_counter()
        await asyncio.gather(*(writer(t) for t in range(tasks)))
        elapsed = time.perf_counter() - started
        return per_task * tasks / elapsed, latencies
    finally:
        await engine.dispose()


async def seed_for_stats(url: str, rows: int) -> None:
    rng = random.Random(7)
    now = datetime.now(UTC).replace(tzinfo=None)
    users_table: Table = User.__table__  # type: ignore[assignment]
    detections_table: Table = Detection.__table__  # type: ignore[assignment]
    objects_table: Table = DetectedObject.__table__  # type: ignore[assignment]
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                insert(users_table),
                [{"id": u, "chat_id": u, "username": f"user{u}"} for u in range(1, 1001)],
            )
        for start in range(1, rows + 1, SEED_CHUNK):
            ids = range(start, min(start + SEED_CHUNK, rows + 1))
            detections = [
                {
                    "id": i,
                    "user_id": rng.randint(1, 1000),
                    "chat_id": -100,
                    "message_id": i,
                    "status": "ok" if i % 20 else "failed",
                    "object_count": 3 if i % 20 else 0,
                    "inference_ms": rng.uniform(20, 120) if i % 20 else None,
                    "created_at": now - timedelta(minutes=rng.randint(0, 60 * 24 * 30)),
                }
                for i in ids
            ]
            objects = [
                {
                    "detection_id": i,
                    "class_id": k,
                    "label": rng.choice(LABELS),
                    "score": 0.9,
                    "ymin": 0.1,
                    "xmin": 0.1,
                    "ymax": 0.5,
                    "xmax": 0.5,
                }
                for i in ids
                if i % 20
                for k in range(3)
            ]
            async with engine.begin() as conn:
                await conn.execute(insert(detections_table), detections)
                await conn.execute(insert(objects_table), objects)
        if make_url(url).get_backend_name() == "sqlite":
            async with engine.begin() as conn:
                await conn.execute(text("ANALYZE"))
    finally:
        await engine.dispose()


async def bench_stats(url: str, repeats: int = 5) -> list[float]:
    engine = create_engine(url)
    repository = Repository(create_sessionmaker(engine))
    try:
        timings = []
        for _ in range(repeats):
            started = time.perf_counter()
            await repository.stats.overview()
            timings.append(time.perf_counter() - started)
        return timings
    finally:
        await engine.dispose()


async def run_backend(name: str, url: str, detections: int, tasks: int, stats_rows: int) -> Result:
    await reset_schema(url)
    rate, latencies = await bench_writes(url, detections, tasks)
    await reset_schema(url)
    seeded = time.perf_counter()
    await seed_for_stats(url, stats_rows)
    print(f"  {name}: seeded {stats_rows:,} detections in {time.perf_counter() - seeded:.1f} s")
    timings = await bench_stats(url)
    return Result(
        backend=name,
        detections_per_s=rate,
        p50_write_ms=statistics.median(latencies),
        p95_write_ms=percentile(latencies, 0.95),
        stats_best_s=min(timings),
        stats_median_s=statistics.median(timings),
    )


async def bench_database_url(base_url: str) -> str:
    """`detectx_bench` on the server of base_url, created if missing."""
    admin = create_async_engine(make_url(base_url).set(database=None), poolclass=NullPool)
    try:
        async with admin.connect() as conn:
            await conn.execute(
                text(
                    "CREATE DATABASE IF NOT EXISTS detectx_bench "
                    "CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
                )
            )
    finally:
        await admin.dispose()
    return make_url(base_url).set(database="detectx_bench").render_as_string(hide_password=False)


async def main_async(args: argparse.Namespace) -> None:
    results = []
    with tempfile.TemporaryDirectory(prefix="detectx-bench-") as tmp:
        backends: list[tuple[str, str]] = []
        if "sqlite" in args.backends:
            backends.append(("sqlite", f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"))
        if "mariadb" in args.backends:
            base = os.environ.get("DETECTX_TEST_MYSQL_URL") or DEFAULT_MYSQL_URL
            backends.append(("mariadb", await bench_database_url(base)))
        for name, url in backends:
            print(f"{name}: {mask_url(url)}")
            results.append(
                await run_backend(name, url, args.detections, args.tasks, args.stats_rows)
            )
    print()
    print(
        f"{args.detections} detections x 3 objects from {args.tasks} tasks; "
        f"stats over {args.stats_rows:,} detections"
    )
    print(
        f"{'backend':<8} {'det/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'stats best':>11} {'median':>8}"
    )
    for r in results:
        print(
            f"{r.backend:<8} {r.detections_per_s:>8.0f} {r.p50_write_ms:>8.1f} "
            f"{r.p95_write_ms:>8.1f} {r.stats_best_s:>10.3f}s {r.stats_median_s:>7.3f}s"
        )
    if len(results) == 2:
        sqlite, mariadb = results
        print(
            f"mariadb/sqlite: writes {mariadb.detections_per_s / sqlite.detections_per_s:.2f}x, "
            f"stats {mariadb.stats_median_s / sqlite.stats_median_s:.2f}x the time"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--detections", type=int, default=2000)
    parser.add_argument("--tasks", type=int, default=8)
    parser.add_argument("--stats-rows", type=int, default=100_000)
    parser.add_argument("--backends", type=lambda s: s.split(","), default=["sqlite", "mariadb"])
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
