"""One person's flood of photos does not starve everyone else: claim order interleaves chats."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.bot_fixtures import StartBot

FLOODER = 5_000_002_001
OTHERS = [5_000_002_100 + n for n in range(10)]
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@sqlite_only
async def test_ten_people_with_two_photos_are_not_queued_behind_one_persons_forty(
    start_bot: StartBot, tfserving_standin: Any, photos_dir: Path
) -> None:
    bot = await start_bot(max_concurrent_detections=2, worker_concurrency=4)
    tfserving_standin.latency_s = 0.05
    api = bot.api
    photo = (photos_dir / "cat_chelsea.jpg").read_bytes()
    api.push_updates([api.private_photo_update(FLOODER, photo) for _ in range(40)])
    await api.wait_for("sendPhoto", 1, timeout=60)
    api.push_updates([api.private_photo_update(user, photo) for user in OTHERS for _ in range(2)])
    replies = await api.wait_for("sendPhoto", 60, timeout=180)

    order = [call.chat_id for call in replies]
    last_other = max(i for i, chat in enumerate(order) if chat != FLOODER)
    flooder_before = order[:last_other].count(FLOODER)
    print(f"\nthe others' 20 photos were all answered after {flooder_before} of the 40")
    assert flooder_before <= 30, order
    assert order.count(FLOODER) == 40
