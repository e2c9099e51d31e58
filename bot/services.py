"""Everything a handler needs, created once at start and closed at exit (no module-level state)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.config import Settings
from bot.detection.detector import Detector
from bot.detection.factory import create_model_catalog
from bot.detection.models import ModelCatalog
from bot.detection.pipeline import DetectionPipeline
from bot.inbox import Jobs
from bot.labels import LabelMap
from bot.limits.detection_slots import DetectionSlots
from bot.metrics import Metrics
from db.repository import Repository
from db.session import create_engine, create_sessionmaker

logger = logging.getLogger(__name__)

HEALTH_CHECK_TIMEOUT_S = 3.0
LATE_DATABASE_CALLS_S = 10.0


@dataclass
class Services:
    """The bot's long-lived parts: detector, pipeline, database, metrics and limits."""

    settings: Settings
    detector: Detector
    pipeline: DetectionPipeline
    repository: Repository
    engine: AsyncEngine
    metrics: Metrics
    labels: LabelMap
    detection_slots: DetectionSlots
    models: ModelCatalog
    jobs: Jobs = field(default_factory=Jobs)

    async def health(self) -> dict[str, object]:
        """State of the database and the detector, for /healthz."""
        database, detector = await asyncio.gather(
            _check(self.repository.ping()), _check(self.detector.healthy())
        )
        info = self.detector.info
        health: dict[str, object] = {
            "database": "up" if database else "down",
            "detector": "up" if detector else "down",
            "model": info.name,
            "version": info.version,
        }
        if database:
            try:
                backlog = await asyncio.wait_for(
                    self.repository.inbox.backlog(), HEALTH_CHECK_TIMEOUT_S
                )
            except Exception:
                logger.warning("reading the inbox backlog failed", exc_info=True)
            else:
                health["backlog"] = backlog.pending
                health["oldest_pending_s"] = (
                    round(backlog.oldest_pending_s, 1)
                    if backlog.oldest_pending_s is not None
                    else None
                )
                self.metrics.inbox_backlog.set(backlog.pending)
                self.metrics.inbox_oldest_pending_seconds.set(backlog.oldest_pending_s or 0.0)
        return health

    async def close(self) -> None:
        """Close the detector, let late database writes land and dispose of the engine."""
        try:
            await self.models.close()
        finally:
            await self.repository.finish_late_calls(LATE_DATABASE_CALLS_S)
            await self.engine.dispose()


async def _check(probe: Awaitable[bool]) -> bool:
    try:
        return bool(await asyncio.wait_for(probe, HEALTH_CHECK_TIMEOUT_S))
    except Exception:
        logger.warning("health check failed", exc_info=True)
        return False


async def create_services(settings: Settings) -> Services:
    """Start the detector and open the database; raises DetectorError / LabelMapError on failure."""
    metrics = Metrics()

    def count_fallback(failed: str, answered: str) -> None:
        metrics.model_fallbacks.labels(model=failed, fallback=answered).inc()

    models = create_model_catalog(settings, on_fallback=count_fallback)
    await models.start()
    detector = models.default_detector
    try:
        pipeline = DetectionPipeline.from_settings(settings, detector, models)
        engine = create_engine(settings.database_url)
    except BaseException:
        await models.close()
        raise
    return Services(
        settings=settings,
        detector=detector,
        pipeline=pipeline,
        repository=Repository(create_sessionmaker(engine), wait_timeout_s=settings.db_timeout_s),
        engine=engine,
        metrics=metrics,
        labels=pipeline.labels,
        detection_slots=DetectionSlots(settings.max_concurrent_detections, metrics),
        models=models,
    )
