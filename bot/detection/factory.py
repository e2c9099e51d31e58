"""Choose the detector the settings ask for: TF Serving when an address is set, else in-process.

Neither choice imports TensorFlow here: the TF Serving client never does, and the in-process
detector imports it when it loads its model.
"""

from __future__ import annotations

from bot.config import Settings
from bot.detection.detector import Detector
from bot.detection.models import FallbackHook, ModelCatalog


def create_detector(settings: Settings, model_name: str | None = None) -> Detector:
    """A detector of `model_name` (default: the default model), not started yet: the caller
    awaits `start()` and, at the end, `close()`."""
    if settings.tfserving_address:
        from bot.detection.tfserving import TFServingDetector

        return TFServingDetector(
            settings.tfserving_address,
            model_name or settings.default_model,
            settings.model_signature,
            timeout_s=settings.tfserving_timeout_s,
            retries=settings.tfserving_retries,
        )
    from bot.detection.inprocess import InProcessDetector
    from bot.model_download import fetch_default_model

    fetch = (lambda: fetch_default_model(settings)) if settings.model_auto_download else None
    return InProcessDetector(settings.model_path, settings.model_signature, fetch_model=fetch)


def create_model_catalog(
    settings: Settings, on_fallback: FallbackHook | None = None
) -> ModelCatalog:
    """Every model of MODEL_NAME from TF Serving; in-process mode serves the one local model."""
    names = settings.model_names if settings.tfserving_address else (settings.default_model,)
    return ModelCatalog(
        {name: create_detector(settings, name) for name in names},
        canary_share=settings.canary_share if settings.tfserving_address else 0.0,
        latency_window=settings.model_latency_window,
        on_fallback=on_fallback,
    )
