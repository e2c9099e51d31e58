"""Both detectors on the real model and photos: what they find, and that they find the same."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image

from bot.config import Settings
from bot.detection.detector import Detector
from bot.detection.errors import InvalidModelInput, ModelNotFound
from bot.detection.factory import create_detector
from bot.detection.inprocess import InProcessDetector, LoadedModel
from bot.detection.tfserving import TFServingDetector
from bot.detection.types import Detections
from tests.support.tfserving_standin import TFServingStandIn


def load_rgb(path: Path) -> npt.NDArray[np.uint8]:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def sample_image(shared_dir: Path | None) -> npt.NDArray[np.uint8]:
    """A shared photo when there is one, else a deterministic synthetic picture."""
    if shared_dir is not None:
        return load_rgb(shared_dir / "photos" / "person_astronaut.jpg")
    y, x = np.mgrid[0:240, 0:320]
    return np.stack([x % 256, y % 256, (x + y) % 256], axis=-1).astype(np.uint8)


def newest_version(model_base_dir: Path) -> str:
    return max((p.name for p in model_base_dir.iterdir() if p.name.isdigit()), key=int)


def assert_same_detections(a: Detections, b: Detections) -> None:
    assert len(a) == len(b)
    np.testing.assert_array_equal(a.class_ids, b.class_ids)
    np.testing.assert_allclose(a.boxes, b.boxes, atol=1e-4)
    np.testing.assert_allclose(a.scores, b.scores, atol=1e-4)


@pytest.fixture(params=["in-process", "gRPC"])
def detector(request: pytest.FixtureRequest) -> Detector:
    name = "inprocess_detector" if request.param == "in-process" else "tfserving_detector"
    found: Detector = request.getfixturevalue(name)
    return found


async def test_expected_classes_are_found_on_each_shared_photo(
    detector: Detector, photos_dir: Path, expected_detections: dict[str, Any]
) -> None:
    threshold = expected_detections["score_threshold"]
    for photo, expected in expected_detections["photos"].items():
        everything = await detector.detect(load_rgb(photos_dir / photo))
        found = everything.above(threshold)
        wanted = sorted(expected["detections"], key=lambda d: -d["score"])
        assert found.class_ids.tolist() == [d["id"] for d in wanted], photo
        np.testing.assert_allclose(found.scores, [d["score"] for d in wanted], atol=2e-3)
        boxes = np.array([d["box"] for d in wanted]).reshape(-1, 4)
        np.testing.assert_allclose(found.boxes, boxes, atol=2e-3)
        rest = everything.scores[everything.scores <= threshold]
        assert rest.max() == pytest.approx(expected["next_best_score"], abs=2e-3), photo


async def test_inprocess_and_grpc_give_the_same_detections(
    inprocess_detector: InProcessDetector,
    tfserving_detector: TFServingDetector,
    tfserving_standin: TFServingStandIn,
    shared_dir: Path | None,
) -> None:
    images = (
        [load_rgb(p) for p in sorted((shared_dir / "photos").glob("*.jpg"))]
        if shared_dir is not None
        else [sample_image(None)]
    )
    for use_tensor_content in (False, True):
        tfserving_standin.use_tensor_content = use_tensor_content
        for image in images:
            local = await inprocess_detector.detect(image)
            remote = await tfserving_detector.detect(image)
            assert len(local) > 0
            assert_same_detections(local, remote)


async def test_model_info_names_model_version_and_input(
    inprocess_detector: InProcessDetector,
    tfserving_detector: TFServingDetector,
    tfserving_standin: TFServingStandIn,
    model_base_dir: Path,
) -> None:
    image_input = ("input_tensor", "uint8", 1)
    local = inprocess_detector.info
    assert local.version == newest_version(model_base_dir)
    assert (local.input_name, local.input_dtype, local.batch_size) == image_input
    remote = tfserving_detector.info
    assert (remote.name, remote.version) == (tfserving_standin.model_name, local.version)
    assert (remote.input_name, remote.input_dtype, remote.batch_size) == image_input


async def test_highest_numeric_version_is_loaded(model_base_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "2").mkdir()
    (tmp_path / "11").symlink_to(model_base_dir / "1", target_is_directory=True)
    (tmp_path / "backup").symlink_to(model_base_dir / "1", target_is_directory=True)
    detector = InProcessDetector(tmp_path, "serving_default")
    await detector.start()
    assert detector.info.version == "11"
    assert len(await detector.detect(sample_image(None))) > 0


async def test_missing_model_says_where_and_how_to_get_one(tmp_path: Path) -> None:
    detector = InProcessDetector(tmp_path / "saved_model", "serving_default")
    with pytest.raises(ModelNotFound) as caught:
        await detector.start()
    assert str(tmp_path / "saved_model") in str(caught.value)
    assert "detectbot model download" in str(caught.value)


async def test_unknown_signature_is_refused_at_load(loaded_model: LoadedModel) -> None:
    detector = InProcessDetector(loaded_model.version_dir.parent, "no_such_signature")
    with pytest.raises(ModelNotFound, match="no signature 'no_such_signature'"):
        await detector.start()


async def test_inprocess_inference_leaves_the_event_loop_free(
    inprocess_detector: InProcessDetector,
) -> None:
    """The loop keeps running while the model works: a probe that asks for 2 ms naps is late,
    in total, by far less than the inference time (inference on the loop would make it late
    by nearly all of it, however the call yields before or after)."""
    loop = asyncio.get_running_loop()
    nap_s = 0.002
    lateness: list[float] = []
    image = np.random.default_rng(0).integers(0, 256, (1200, 1600, 3), dtype=np.uint8)

    async def probe() -> None:
        while True:
            asked = loop.time()
            await asyncio.sleep(nap_s)
            lateness.append(loop.time() - asked - nap_s)

    await inprocess_detector.detect(image)
    task = asyncio.create_task(probe())
    await asyncio.sleep(0)
    started = time.perf_counter()
    for _ in range(5):
        await inprocess_detector.detect(image)
    elapsed = time.perf_counter() - started
    task.cancel()
    blocked = sum(lateness)
    assert blocked < 0.5 * elapsed, (
        f"the loop was held up {blocked:.3f} s of {elapsed:.3f} s of inference "
        f"({len(lateness)} naps)"
    )


@pytest.mark.parametrize(
    "image",
    [
        np.zeros((32, 32), np.uint8),
        np.zeros((32, 32, 4), np.uint8),
        np.zeros((32, 32, 3), np.float32),
        np.zeros((0, 32, 3), np.uint8),
    ],
    ids=["grey", "rgba", "float", "empty"],
)
async def test_non_rgb_arrays_are_refused(detector: Detector, image: npt.NDArray[Any]) -> None:
    with pytest.raises(InvalidModelInput):
        await detector.detect(image)


def test_factory_picks_tf_serving_when_an_address_is_set(tmp_path: Path) -> None:
    remote = create_detector(
        Settings(_env_file=None, tfserving_address="tfserving:8500", model_name="ssd")  # type: ignore[call-arg]
    )
    assert isinstance(remote, TFServingDetector)
    assert (remote.address, remote.info.name) == ("tfserving:8500", "ssd")
    local = create_detector(
        Settings(_env_file=None, tfserving_address=None, model_path=tmp_path)  # type: ignore[call-arg]
    )
    assert isinstance(local, InProcessDetector)
