"""Choose the detector the settings ask for: TF Serving when an address is set, else in-process."""

from __future__ import annotations

from bot.config import Settings
from bot.detection.detector import Detector


def create_detector(settings: Settings) -> Detector:
    """A detector, not started yet: the caller awaits `start()` and, at the end, `close()`."""
    if settings.tfserving_address:
        from bot.detection.tfserving import TFServingDetector

        return TFServingDetector(
            settings.tfserving_address,
            settings.model_name,
            settings.model_signature,
            timeout_s=settings.tfserving_timeout_s,
            retries=settings.tfserving_retries,
        )
    from bot.detection.inprocess import InProcessDetector

    return InProcessDetector(settings.model_path, settings.model_signature)
