"""Choose the detector the settings ask for: TF Serving when an address is set, else in-process.

Neither choice imports TensorFlow here: the TF Serving client never does, and the in-process
detector imports it when it loads its model.
"""

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
    from bot.model_download import fetch_default_model

    fetch = (lambda: fetch_default_model(settings)) if settings.model_auto_download else None
    return InProcessDetector(settings.model_path, settings.model_signature, fetch_model=fetch)
