"""/stats per model and version label on a hand-made data set, on SQLite and MariaDB, and the
Wilson interval and significance test against values worked out by hand."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from bot.preference import two_proportion_p_value, wilson_interval
from db.records import FailedDetection, ModelVersionStats, NewDetection, UserInfo
from db.repository import Repository
from db.session import create_engine
from tests.support.records import new_detection

CHAT = 7


def arm_detection(
    message_id: int,
    label: str | None,
    version: str,
    ms: float,
    objects: int,
    model: str = "detector",
) -> NewDetection:
    return dataclasses.replace(
        new_detection(CHAT, CHAT, message_id, ["person"] * objects, inference_ms=ms),
        model_name=model,
        model_version=version,
        model_label=label,
    )


async def seed(repository: Repository, database_url: str) -> None:
    """stable (v1): 4 ok at 10/20/30/40 ms with 1, 1, 2, 0 objects, 1 detector failure, rated
    2 👍 8 👎; canary (v2): 3 ok at 5/50/7 ms with 3, 1, 1 objects, rated 9 👍 1 👎;
    detector_accurate without a label (v7): 1 ok at 100 ms with 2 objects and 1 failure.
    Outside the figures: a stable detection 40 days old and an image error (no model)."""
    for user in range(1, 11):
        await repository.people.register(UserInfo(user, user), None)
    await repository.people.register(UserInfo(CHAT, CHAT), None)
    stable = [
        await repository.detections.record(arm_detection(i, "stable", "1", ms, n))
        for i, (ms, n) in enumerate([(10, 1), (20, 1), (30, 2), (40, 0)], start=1)
    ]
    canary = [
        await repository.detections.record(arm_detection(i, "canary", "2", ms, n))
        for i, (ms, n) in enumerate([(5, 3), (50, 1), (7, 1)], start=10)
    ]
    await repository.detections.record(arm_detection(20, None, "7", 100, 2, "detector_accurate"))
    old = await repository.detections.record(arm_detection(30, "stable", "1", 999, 5))
    for message_id, model, label in [(40, "detector", "stable"), (41, "detector_accurate", None)]:
        await repository.detections.record_failed(
            FailedDetection(
                CHAT, CHAT, message_id, "detector_unavailable", model_name=model, model_label=label
            )
        )
    await repository.detections.record_failed(FailedDetection(CHAT, CHAT, 42, "corrupt_image"))
    for user in range(1, 11):
        await repository.feedback.rate(user, stable[user % 2], 1 if user <= 2 else -1)
        await repository.feedback.rate(user, canary[user % 3], 1 if user <= 9 else -1)
        await repository.feedback.rate(user, old, 1)
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text("UPDATE detections SET created_at = :at WHERE id = :id"),
                {"at": datetime.now(UTC) - timedelta(days=40), "id": old},
            )
    finally:
        await engine.dispose()


async def test_model_stats_match_the_hand_made_data_set(
    repository: Repository, database_url: str
) -> None:
    await seed(repository, database_url)

    arms = await repository.stats.per_model(days=30)

    assert arms == [
        ModelVersionStats("detector", "canary", ("2",), 3, 0, 7.0, 50.0, 5 / 3, 9, 1),
        ModelVersionStats("detector", "stable", ("1",), 4, 1, 25.0, 40.0, 1.0, 2, 8),
        ModelVersionStats("detector_accurate", None, ("7",), 1, 1, 100.0, 100.0, 2.0, 0, 0),
    ]
    assert arms[1].failure_rate == pytest.approx(0.2)


def test_wilson_interval_matches_the_hand_computed_bounds() -> None:
    # 2 of 10: p = 0.2, z² = 3.8415; centre (0.2 + 0.19207) / 1.38415 = 0.28326,
    # half-width 1.96 · sqrt(0.016 + 0.0096036) / 1.38415 = 0.22658 → [0.0567, 0.5098].
    share = wilson_interval(2, 10)
    assert share.low == pytest.approx(0.05668, abs=1e-4)
    assert share.high == pytest.approx(0.50984, abs=1e-4)
    # 9 of 10: centre 0.78899, half-width 0.19314 → [0.5958, 0.9821].
    share = wilson_interval(9, 10)
    assert share.low == pytest.approx(0.59585, abs=1e-4)
    assert share.high == pytest.approx(0.98212, abs=1e-4)
    assert (wilson_interval(0, 0).low, wilson_interval(0, 0).high) == (0.0, 1.0)
    assert wilson_interval(10, 10).high == pytest.approx(1.0)


def test_two_versions_differ_significantly_only_with_enough_evidence() -> None:
    # pooled 11/20 = 0.55; sd sqrt(0.55 · 0.45 · 0.2) = 0.22249; z = 0.7 / 0.22249 = 3.146;
    # two-sided p = erfc(3.146 / √2) = 0.00165.
    p = two_proportion_p_value(wilson_interval(2, 10), wilson_interval(9, 10))
    assert p == pytest.approx(0.00165, abs=2e-5)
    p = two_proportion_p_value(wilson_interval(5, 10), wilson_interval(6, 10))
    assert p is not None and p > 0.5
    assert two_proportion_p_value(wilson_interval(0, 0), wilson_interval(6, 10)) is None
