"""Per model and version label over a period: the figures /stats compares versions by.

One row per arm, (model_name, model_label): photos sent to the same model and version label.
Failed attempts know the model and label they were sent to but not the version (none answered),
so the failure rate is the arm's; `versions` lists the numeric versions that answered its photos.
Counts, averages and ratings are GROUP BY queries; the median and the nearest-rank p95 are read
with ORDER BY ... LIMIT/OFFSET per arm (arms are few), so nothing scales with rows in Python.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Detection, Feedback
from db.records import ModelVersionStats

_detections = cast(Table, Detection.__table__)
_feedback = cast(Table, Feedback.__table__)


async def read_model_stats(session: AsyncSession, *, since: datetime) -> list[ModelVersionStats]:
    """Every arm with a detection since `since`, by model name then label (no label first)."""
    d, f = _detections, _feedback
    arm = (d.c.model_name, d.c.model_label)
    in_period = (d.c.model_name.is_not(None), d.c.created_at >= since)
    is_ok = d.c.status == "ok"
    totals = (
        await session.execute(
            select(
                *arm,
                func.sum(case((is_ok, 1), else_=0)),
                func.sum(case((is_ok, 0), else_=1)),
                func.sum(case((is_ok, d.c.object_count), else_=0)),
            )
            .where(*in_period)
            .group_by(*arm)
        )
    ).all()
    versions: dict[tuple[str, str | None], list[str]] = {}
    for name, label, version in await session.execute(
        select(*arm, d.c.model_version)
        .where(*in_period, is_ok, d.c.model_version.is_not(None))
        .group_by(*arm, d.c.model_version)
    ):
        versions.setdefault((name, label), []).append(version)
    ratings: dict[tuple[str, str | None], tuple[int, int]] = {
        (name, label): (int(up or 0), int(down or 0))
        for name, label, up, down in await session.execute(
            select(
                *arm,
                func.sum(case((f.c.rating == 1, 1), else_=0)),
                func.sum(case((f.c.rating == -1, 1), else_=0)),
            )
            .join(f, f.c.detection_id == d.c.id)
            .where(*in_period, f.c.rating.is_not(None))
            .group_by(*arm)
        )
    }
    result = []
    for name, label, ok, failed, objects in totals:
        key = (name, label)
        timed = (*in_period, is_ok, d.c.inference_ms.is_not(None), _same_arm(name, label))
        latencies = await _order_statistics(session, timed, int(ok or 0))
        up, down = ratings.get(key, (0, 0))
        result.append(
            ModelVersionStats(
                model_name=name,
                model_label=label,
                versions=tuple(sorted(versions.get(key, []), key=_version_order)),
                detections_ok=int(ok or 0),
                detections_failed=int(failed or 0),
                median_inference_ms=latencies[0],
                p95_inference_ms=latencies[1],
                mean_objects=int(objects or 0) / int(ok) if ok else None,
                thumbs_up=up,
                thumbs_down=down,
            )
        )
    return sorted(result, key=lambda s: (s.model_name, s.model_label or ""))


def _same_arm(name: str, label: str | None) -> Any:
    d = _detections
    same_label = d.c.model_label.is_(None) if label is None else d.c.model_label == label
    return (d.c.model_name == name) & same_label


async def _order_statistics(
    session: AsyncSession, where: tuple[Any, ...], at_most: int
) -> tuple[float | None, float | None]:
    """(median, nearest-rank p95) of inference_ms over the rows `where` selects."""
    d = _detections
    n = await session.scalar(select(func.count(d.c.inference_ms)).where(*where)) if at_most else 0
    if not n:
        return None, None
    ordered = select(d.c.inference_ms).where(*where).order_by(d.c.inference_ms)
    middle = [
        float(v) for v in await session.scalars(ordered.limit(2 - n % 2).offset((n - 1) // 2))
    ]
    p95 = await session.scalar(ordered.limit(1).offset(math.ceil(0.95 * n) - 1))
    return sum(middle) / len(middle), float(p95) if p95 is not None else None


def _version_order(version: str) -> tuple[int, str]:
    return (int(version), "") if version.isdigit() else (1 << 62, version)
