"""Model fixtures: the real shared detector when ../shared exists, else a tiny built one.

TensorFlow is imported only when a test asks for a model, so suites that need none stay fast.
The test run's header and summary name the model that ran.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from bot.detection.inprocess import InProcessDetector, LoadedModel
    from bot.detection.tfserving import TFServingDetector
    from tests.support.tfserving_standin import TFServingStandIn

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SHARED_DIR = PROJECT_ROOT.parent / "shared"
REAL_MODEL_NAME = "ssd_mobilenet_v1_coco"
SIGNATURE = "serving_default"
STANDIN_MODEL_NAME = "detector"


def _shared_dir() -> Path | None:
    return SHARED_DIR if (SHARED_DIR / "models" / REAL_MODEL_NAME).is_dir() else None


def _model_description() -> str:
    shared = _shared_dir()
    if shared is not None:
        return f"real {REAL_MODEL_NAME} from {shared / 'models' / REAL_MODEL_NAME}"
    return f"tiny fallback SavedModel (tests/support/tiny_model.py; {SHARED_DIR} not found)"


def pytest_configure(config: pytest.Config) -> None:
    """CI has ../shared: there, a missing model or photo set is an error, not a quiet fallback."""
    if os.environ.get("CI", "").lower() != "true":
        return
    if _shared_dir() is None or not (SHARED_DIR / "photos" / "expected.json").is_file():
        raise pytest.UsageError(
            f"CI=true but the shared model and photos are missing under {SHARED_DIR}: "
            "tests would fall back to the tiny model and skip every photo test"
        )


def pytest_report_header(config: pytest.Config) -> str:
    return f"detector model: {_model_description()}"


def pytest_terminal_summary(terminalreporter: Any) -> None:
    terminalreporter.write_line(f"detector model: {_model_description()}")


NO_NETWORK_ZOO = "http://127.0.0.1:9/tests-never-download-from-the-zoo"


@pytest.fixture(autouse=True)
def _no_model_downloads_from_the_internet(monkeypatch: pytest.MonkeyPatch) -> None:
    """A first run without a model downloads one; in tests that may only ever hit loopback."""
    monkeypatch.setenv("MODEL_DOWNLOAD_URL", NO_NETWORK_ZOO)


@pytest.fixture(scope="session")
def shared_dir() -> Path | None:
    return _shared_dir()


@pytest.fixture(scope="session")
def real_model(shared_dir: Path | None) -> bool:
    return shared_dir is not None


@pytest.fixture(scope="session")
def model_base_dir(shared_dir: Path | None, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model base dir with numeric version subdirs (real model, or the tiny one built once)."""
    if shared_dir is not None:
        return shared_dir / "models" / REAL_MODEL_NAME
    from tests.support.tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("models") / "tiny_detector")


@pytest.fixture(scope="session")
def loaded_model(model_base_dir: Path) -> LoadedModel:
    """The model loaded once per session; detectors and stand-ins share it (it is immutable)."""
    from bot.detection.inprocess import load_model

    return load_model(model_base_dir, SIGNATURE)


@pytest.fixture(scope="session")
def photos_dir(shared_dir: Path | None) -> Path:
    photos = SHARED_DIR / "photos"
    if shared_dir is None or not (photos / "expected.json").is_file():
        pytest.skip(f"shared photos not found at {photos}")
    return photos


@pytest.fixture(scope="session")
def expected_detections(photos_dir: Path) -> dict[str, Any]:
    """photos/expected.json as written: {"model", "score_threshold", "note", "photos": {...}}."""
    data: dict[str, Any] = json.loads((photos_dir / "expected.json").read_text(encoding="utf-8"))
    return data


@pytest.fixture
async def inprocess_detector(loaded_model: LoadedModel) -> AsyncIterator[InProcessDetector]:
    from bot.detection.inprocess import InProcessDetector

    detector = InProcessDetector.from_loaded(loaded_model)
    await detector.start()
    yield detector
    await detector.close()


@pytest.fixture
async def tfserving_standin(loaded_model: LoadedModel) -> AsyncIterator[TFServingStandIn]:
    """A running TF Serving stand-in serving the model as "detector" on 127.0.0.1:<free port>."""
    from tests.support.tfserving_standin import TFServingStandIn

    standin = TFServingStandIn(loaded_model, model_name=STANDIN_MODEL_NAME)
    await standin.start()
    yield standin
    await standin.stop()


@pytest.fixture
async def tfserving_detector(
    tfserving_standin: TFServingStandIn,
) -> AsyncIterator[TFServingDetector]:
    """A started TFServingDetector on the stand-in (5 s deadline, 3 attempts)."""
    from bot.detection.tfserving import TFServingDetector

    detector = TFServingDetector(
        tfserving_standin.address, tfserving_standin.model_name, SIGNATURE, 5.0, 3
    )
    await detector.start()
    yield detector
    await detector.close()
