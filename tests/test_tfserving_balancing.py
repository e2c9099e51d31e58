"""TFSERVING_ADDRESS as any gRPC target, spread round robin over two TF Serving stand-ins."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from bot.config import ConfigError, load_settings
from bot.detection.inprocess import LoadedModel
from bot.detection.tfserving import TFServingDetector
from tests.support.tfserving_standin import TFServingStandIn
from tests.test_detectors import sample_image

RECOVERY_S = 15.0


@pytest.fixture
async def two_standins(loaded_model: LoadedModel) -> AsyncIterator[list[TFServingStandIn]]:
    standins = [TFServingStandIn(loaded_model) for _ in range(2)]
    for standin in standins:
        await standin.start()
    yield standins
    for standin in standins:
        await standin.stop()


@pytest.fixture
async def balanced(two_standins: list[TFServingStandIn]) -> AsyncIterator[TFServingDetector]:
    target = "ipv4:" + ",".join(s.address for s in two_standins)
    detector = TFServingDetector(target, "detector", "serving_default", 5.0, 3)
    await detector.start()
    yield detector
    await detector.close()


@pytest.fixture
def image(shared_dir: Path | None) -> npt.NDArray[np.uint8]:
    return sample_image(shared_dir)[::2, ::2].copy()


def _calls(standins: list[TFServingStandIn]) -> list[int]:
    return [s.predict_calls for s in standins]


async def _detect_n(detector: TFServingDetector, image: npt.NDArray[np.uint8], n: int) -> None:
    for _ in range(n):
        assert len(await detector.detect(image)) > 0


async def test_calls_are_spread_over_every_server(
    balanced: TFServingDetector,
    two_standins: list[TFServingStandIn],
    image: npt.NDArray[np.uint8],
) -> None:
    await _detect_n(balanced, image, 20)
    first, second = _calls(two_standins)
    assert first + second == 20
    assert min(first, second) >= 8, (first, second)


async def test_a_stopped_server_is_skipped_and_takes_load_again_after_restart(
    balanced: TFServingDetector,
    two_standins: list[TFServingStandIn],
    image: npt.NDArray[np.uint8],
) -> None:
    down = two_standins[1]
    await _detect_n(balanced, image, 4)
    await down.stop()
    calls_while_down = down.predict_calls
    await _detect_n(balanced, image, 10)
    assert down.predict_calls == calls_while_down
    assert await balanced.healthy()

    await down.start()
    deadline = time.monotonic() + RECOVERY_S
    while down.predict_calls == calls_while_down:
        assert time.monotonic() < deadline, "the restarted server got no calls"
        await _detect_n(balanced, image, 1)
        await asyncio.sleep(0.05)
    before = _calls(two_standins)
    await _detect_n(balanced, image, 10)
    after = _calls(two_standins)
    assert after[0] - before[0] >= 3 and after[1] - before[1] >= 3, (before, after)


async def test_health_needs_one_server_with_the_model(
    balanced: TFServingDetector, two_standins: list[TFServingStandIn]
) -> None:
    first, second = two_standins
    second.model_state = "loading"
    assert all([await balanced.healthy() for _ in range(5)])
    await first.stop()
    assert not await balanced.healthy()
    second.model_state = "available"
    assert await balanced.healthy()


async def test_a_dns_target_reaches_the_server(
    two_standins: list[TFServingStandIn], image: npt.NDArray[np.uint8]
) -> None:
    detector = TFServingDetector(f"dns:///localhost:{two_standins[0].port}", "detector")
    await detector.start()
    try:
        assert len(await detector.detect(image)) > 0
        assert await detector.healthy()
    finally:
        await detector.close()


@pytest.mark.parametrize(
    "target",
    [
        "tfserving:8500",
        "dns:///tfserving-headless.detectx.svc:8500",
        "ipv4:10.0.0.1:8500,10.0.0.2:8500",
        "ipv6:[::1]:8500",
        "[::1]:8500",
    ],
)
def test_any_grpc_target_is_accepted(monkeypatch: pytest.MonkeyPatch, target: str) -> None:
    monkeypatch.setenv("TFSERVING_ADDRESS", target)
    assert load_settings(_env_file=None).tfserving_address == target


@pytest.mark.parametrize("target", ["tfserving", "dns:///", "tf serving:8500"])
def test_a_target_without_an_address_is_refused(
    monkeypatch: pytest.MonkeyPatch, target: str
) -> None:
    monkeypatch.setenv("TFSERVING_ADDRESS", target)
    with pytest.raises(ConfigError, match="TFSERVING_ADDRESS"):
        load_settings(_env_file=None)
