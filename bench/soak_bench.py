"""Soak benchmark (not a test, not CI): the bot's resident memory over a long run of photos.

Run: `.venv/bin/python -m bench.soak_bench [--photos 10000] [--every 250] [--warmup 1000]`
(needs ../shared; the full 10,000 photos take about 10-15 minutes on 2 cores). Short check:
`--photos 300 --every 50 --warmup 100`.

The bot runs in its own process as `detectbot run` runs it (bench.serve_bot, as shipped: aiohttp,
asyncio), in webhook mode on MariaDB (database `detectx_bench_soak` on the server of
DETECTX_TEST_MYSQL_URL, default root@127.0.0.1:3306, created fresh), with the TF Serving stand-in
(real model) and the Bot API stand-in in their own processes. Photos go in chunks of `--every`,
each chunk from `--users` people seen for the first time (so nobody reaches the hourly cap and
per-person state keeps growing, as it does in production), POSTed as fast as the webhook accepts
them, one sender per person; after every chunk is answered the bot's RSS is read from /proc.
Reported: RSS at start, after the warm-up (`--warmup` photos answered), at the end, the peak after
warm-up, and the growth from warm-up to the end. Target (issue 11): <= +10 % after warm-up.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.e2e_bench import post_all
from bench.processes import (
    MODEL_DIR,
    bot_environment,
    bot_process,
    botapi_process,
    prepare_database,
    rss_bytes,
    shared_photos,
    tfserving_process,
)
from bench.tables import markdown_table, verdict

DATABASE = "detectx_bench_soak"
FIRST_USER = 7_300_000_000
GROWTH_TARGET = 0.10
CHUNK_TIMEOUT_S = 600.0
MB = 1024 * 1024


@dataclass(frozen=True)
class Sample:
    answered: int
    rss: int
    photos_per_s: float


async def soak(photos: int, every: int, warmup: int, users: int) -> tuple[list[Sample], str]:
    photo_paths = shared_photos()
    samples: list[Sample] = []
    with tempfile.TemporaryDirectory() as tmp:
        database_url, note = await prepare_database(DATABASE, Path(tmp))
        async with (
            tfserving_process() as (tfserving, _),
            botapi_process(photo_paths) as botapi,
        ):
            environment = bot_environment(botapi, database_url, tfserving)
            async with bot_process(botapi, environment, Path(tmp) / "bot.log") as running:
                samples.append(Sample(0, rss_bytes(running.pid), 0.0))
                answered = 0
                chunk = 0
                while answered < photos:
                    size = min(every, photos - answered)
                    first_user = FIRST_USER + chunk * users
                    items = [(first_user + i % users, i % len(photo_paths)) for i in range(size)]
                    updates = await botapi.photo_updates(items)
                    per_user: list[list[dict[str, Any]]] = [[] for _ in range(users)]
                    for i, update in enumerate(updates):
                        update["update_id"] = FIRST_USER + answered + i
                        per_user[i % users].append(update)
                    before = await botapi.count("sendPhoto")
                    started = time.monotonic()
                    await post_all(running.webhook_url, per_user, {})
                    await botapi.wait_count("sendPhoto", before + size, CHUNK_TIMEOUT_S)
                    rate = size / (time.monotonic() - started)
                    answered += size
                    chunk += 1
                    samples.append(Sample(answered, rss_bytes(running.pid), rate))
                    print(
                        f"  {answered:>6} photos answered: RSS {samples[-1].rss / MB:7.1f} MB, "
                        f"{rate:5.1f} photos/s",
                        flush=True,
                    )
    return samples, note


def report(samples: list[Sample], warmup: int, note: str) -> None:
    warm = next((s for s in samples if s.answered >= warmup), samples[-1])
    final = samples[-1]
    after = [s for s in samples if s.answered >= warm.answered]
    peak = max(after, key=lambda s: s.rss)
    growth = final.rss / warm.rss - 1
    print(f"\nbot RSS over {final.answered} photos (bot in its own process; {note})")
    rows = [
        ["RSS at start (MB)", f"{samples[0].rss / MB:.1f}", "", ""],
        [f"RSS after warm-up, {warm.answered} photos (MB)", f"{warm.rss / MB:.1f}", "", ""],
        [f"RSS at the end, {final.answered} photos (MB)", f"{final.rss / MB:.1f}", "", ""],
        [f"peak RSS after warm-up, at {peak.answered} photos (MB)", f"{peak.rss / MB:.1f}", "", ""],
        [
            "growth after warm-up (end vs warm-up)",
            f"{100 * growth:+.1f} %",
            f"<= +{100 * GROWTH_TARGET:.0f} %",
            verdict(growth <= GROWTH_TARGET),
        ],
    ]
    print(markdown_table(["figure", "value", "target", ""], rows))
    if warm is final:
        print(f"(fewer than {warmup} photos: the warm-up point is the last sample)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photos", type=int, default=10_000, help="photos in the run")
    parser.add_argument("--every", type=int, default=250, help="photos per RSS sample")
    parser.add_argument("--warmup", type=int, default=1_000, help="photos before the baseline")
    parser.add_argument("--users", type=int, default=8, help="new people per chunk")
    args = parser.parse_args()
    if not MODEL_DIR.is_dir():
        raise SystemExit(f"needs the shared model at {MODEL_DIR}")
    samples, note = asyncio.run(soak(args.photos, args.every, args.warmup, args.users))
    report(samples, args.warmup, note)


if __name__ == "__main__":
    main()
