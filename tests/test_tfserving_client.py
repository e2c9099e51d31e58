"""The TF Serving client against the gRPC stand-in: big images, failures, recovery, health."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal

import grpc
import numpy as np
import numpy.typing as npt
import pytest
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from bot.detection.errors import (
    DetectorOutputError,
    DetectorTimeout,
    DetectorUnavailable,
    InvalidModelInput,
    ModelNotFound,
)
from bot.detection.inprocess import InProcessDetector
from bot.detection.tensors import to_tensor_proto
from bot.detection.tfserving import TFServingDetector, error_from_rpc
from tests.support.tfserving_standin import TFServingStandIn
from tests.test_detectors import assert_same_detections, sample_image

DEFAULT_GRPC_LIMIT = 4 * 1024 * 1024


@asynccontextmanager
async def started(
    standin: TFServingStandIn, *, model_name: str | None = None, **kwargs: Any
) -> AsyncIterator[TFServingDetector]:
    options: dict[str, Any] = {"timeout_s": 5.0, "retries": 3} | kwargs
    detector = TFServingDetector(
        standin.address, model_name or standin.model_name, "serving_default", **options
    )
    try:
        await detector.start()
        yield detector
    finally:
        await detector.close()


async def detect_until_ok(detector: TFServingDetector, image: npt.NDArray[np.uint8]) -> None:
    deadline = time.monotonic() + 10
    while True:
        try:
            await detector.detect(image)
            return
        except DetectorUnavailable:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)


@pytest.fixture
def image(shared_dir: Path | None) -> npt.NDArray[np.uint8]:
    return sample_image(shared_dir)


async def test_image_over_grpc_default_message_limit_passes(
    tfserving_detector: TFServingDetector,
    inprocess_detector: InProcessDetector,
    image: npt.NDArray[np.uint8],
) -> None:
    from PIL import Image

    big = np.asarray(Image.fromarray(image).resize((1600, 1200)))
    assert big.nbytes > DEFAULT_GRPC_LIMIT
    assert_same_detections(
        await tfserving_detector.detect(big), await inprocess_detector.detect(big)
    )


async def test_concurrent_images_are_concurrent_calls(
    tfserving_detector: TFServingDetector,
    tfserving_standin: TFServingStandIn,
    inprocess_detector: InProcessDetector,
    image: npt.NDArray[np.uint8],
) -> None:
    images = [image, image[::-1].copy(), image[:, ::-1].copy(), image[::2, ::2].copy()]
    tfserving_standin.latency_s = 0.3
    remote = await asyncio.gather(*(tfserving_detector.detect(i) for i in images))
    tfserving_standin.latency_s = 0.0
    assert tfserving_standin.max_predicts_in_flight == len(images)
    for one, result in zip(images, remote, strict=True):
        assert_same_detections(result, await inprocess_detector.detect(one))


async def test_server_down_gives_unavailable_after_bounded_retries_quickly(
    tfserving_detector: TFServingDetector,
    tfserving_standin: TFServingStandIn,
    image: npt.NDArray[np.uint8],
) -> None:
    await tfserving_standin.stop()
    started_at = time.perf_counter()
    with pytest.raises(DetectorUnavailable) as caught:
        await tfserving_detector.detect(image)
    assert time.perf_counter() - started_at < 3.0
    assert tfserving_standin.address in caught.value.detail


async def test_unavailable_is_retried_and_the_detection_succeeds(
    tfserving_detector: TFServingDetector,
    tfserving_standin: TFServingStandIn,
    image: npt.NDArray[np.uint8],
) -> None:
    tfserving_standin.fail_next = [(grpc.StatusCode.UNAVAILABLE, "Server shutting down")]
    calls_before = tfserving_standin.predict_calls
    detections = await tfserving_detector.detect(image)
    assert len(detections) > 0
    assert tfserving_standin.predict_calls - calls_before == 2


async def test_retries_stop_at_the_configured_number_of_attempts(
    tfserving_standin: TFServingStandIn, image: npt.NDArray[np.uint8]
) -> None:
    async with started(tfserving_standin, retries=3) as detector:
        tfserving_standin.fail_next = [(grpc.StatusCode.UNAVAILABLE, "overloaded")] * 5
        calls_before = tfserving_standin.predict_calls
        with pytest.raises(DetectorUnavailable, match="overloaded"):
            await detector.detect(image)
        assert tfserving_standin.predict_calls - calls_before == 3


async def test_detector_recovers_when_the_server_restarts_on_the_same_port(
    tfserving_detector: TFServingDetector,
    tfserving_standin: TFServingStandIn,
    image: npt.NDArray[np.uint8],
) -> None:
    address = tfserving_standin.address
    await tfserving_detector.detect(image)
    await tfserving_standin.stop()
    with pytest.raises(DetectorUnavailable):
        await tfserving_detector.detect(image)
    await tfserving_standin.start()
    assert tfserving_standin.address == address
    await detect_until_ok(tfserving_detector, image)


async def test_slow_server_past_the_deadline_gives_timeout(
    tfserving_standin: TFServingStandIn, image: npt.NDArray[np.uint8]
) -> None:
    async with started(tfserving_standin, timeout_s=0.3) as detector:
        tfserving_standin.latency_s = 2.0
        started_at = time.perf_counter()
        with pytest.raises(DetectorTimeout):
            await detector.detect(image)
        assert time.perf_counter() - started_at < 1.5
        tfserving_standin.latency_s = 0.0
        assert len(await detector.detect(image)) > 0


@pytest.mark.parametrize("state", ["absent", "loading"])
async def test_server_without_the_model_yet_keeps_the_detector_up_until_it_serves(
    tfserving_standin: TFServingStandIn,
    image: npt.NDArray[np.uint8],
    state: Literal["absent", "loading"],
    caplog: pytest.LogCaptureFixture,
) -> None:
    tfserving_standin.model_state = state
    caplog.set_level(logging.INFO, logger="bot.detection.tfserving")
    async with started(tfserving_standin) as detector:
        assert not await detector.healthy()
        for _ in range(2):
            with pytest.raises(DetectorUnavailable) as caught:
                await detector.detect(image)
            assert "Servable not found for request: Latest(detector)" in caught.value.detail
        warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1, warnings
        assert "has no version of model 'detector' (MODEL_NAME) yet" in warnings[0]

        tfserving_standin.model_state = "available"
        assert await detector.healthy()
        assert len(await detector.detect(image)) > 0
        assert detector.info.version == str(tfserving_standin.version)
        assert any("now serves model 'detector'" in r.getMessage() for r in caplog.records)


async def test_model_gone_from_the_server_gives_unavailable(
    tfserving_detector: TFServingDetector,
    tfserving_standin: TFServingStandIn,
    image: npt.NDArray[np.uint8],
) -> None:
    tfserving_standin.model_name = "renamed"
    with pytest.raises(DetectorUnavailable, match=r"Latest\(detector\)"):
        await tfserving_detector.detect(image)
    tfserving_standin.model_name = "detector"
    assert len(await tfserving_detector.detect(image)) > 0


async def test_unknown_signature_is_reported_at_start(tfserving_standin: TFServingStandIn) -> None:
    detector = TFServingDetector(tfserving_standin.address, "detector", "no_such_signature", 5, 3)
    try:
        with pytest.raises(ModelNotFound, match="no signature 'no_such_signature'"):
            await detector.start()
    finally:
        await detector.close()


async def test_missing_output_gives_output_error(
    tfserving_detector: TFServingDetector,
    tfserving_standin: TFServingStandIn,
    image: npt.NDArray[np.uint8],
) -> None:
    tfserving_standin.drop_outputs = {"detection_scores"}
    with pytest.raises(DetectorOutputError, match="detection_scores"):
        await tfserving_detector.detect(image)


async def test_health_follows_the_server(
    tfserving_detector: TFServingDetector, tfserving_standin: TFServingStandIn
) -> None:
    assert await tfserving_detector.healthy()
    await tfserving_standin.stop()
    started_at = time.perf_counter()
    assert not await tfserving_detector.healthy()
    assert time.perf_counter() - started_at < 3.0
    await tfserving_standin.start()
    deadline = time.monotonic() + 10
    while not await tfserving_detector.healthy():
        assert time.monotonic() < deadline, "health did not come back after restart"
        await asyncio.sleep(0.1)


async def test_health_is_false_for_a_model_the_server_lacks(
    tfserving_standin: TFServingStandIn,
) -> None:
    detector = TFServingDetector(tfserving_standin.address, "no_such_model", "serving_default")
    with contextlib.suppress(ModelNotFound):
        await detector.start()
    assert not await detector.healthy()
    await detector.close()


async def test_start_tolerates_a_server_that_is_not_up_yet(
    tfserving_standin: TFServingStandIn, image: npt.NDArray[np.uint8]
) -> None:
    await tfserving_standin.stop()
    async with started(tfserving_standin, retries=1) as detector:
        assert detector.info.input_name == "input_tensor"
        assert detector.info.version == "unknown"
        await tfserving_standin.start()
        await detect_until_ok(detector, image)
        assert detector.info.version == str(tfserving_standin.version)


def _request(**changes: Any) -> Any:
    """An official PredictRequest with one thing wrong, as the bot's client would send it."""
    request = predict_pb2.PredictRequest()
    request.model_spec.name = changes.get("model", "detector")
    request.model_spec.signature_name = changes.get("signature", "serving_default")
    if "version" in changes:
        request.model_spec.version.value = changes["version"]
    dtype = changes.get("dtype", np.uint8)
    tensor = to_tensor_proto(np.zeros((1, 8, 8, 3), dtype))
    request.inputs[changes.get("alias", "input_tensor")].ParseFromString(tensor.SerializeToString())
    request.output_filter.extend(changes.get("outputs", ["detection_scores"]))
    return request


@pytest.mark.parametrize(
    ("changes", "code", "text", "error"),
    [
        (
            {"model": "nope"},
            grpc.StatusCode.NOT_FOUND,
            "Servable not found for request: Latest(nope)",
            DetectorUnavailable,
        ),
        (
            {"version": 999},
            grpc.StatusCode.NOT_FOUND,
            "Servable not found for request: Specific(detector, 999)",
            DetectorUnavailable,
        ),
        (
            {"signature": "nope"},
            grpc.StatusCode.FAILED_PRECONDITION,
            'Serving signature key "nope" not found.',
            InvalidModelInput,
        ),
        (
            {"alias": "images"},
            grpc.StatusCode.INVALID_ARGUMENT,
            "input tensor alias not found in signature: images. "
            "Inputs expected to be in the set {input_tensor}.",
            InvalidModelInput,
        ),
        (
            {"dtype": np.float32},
            grpc.StatusCode.INVALID_ARGUMENT,
            "Expects arg[0] to be uint8 but float is provided",
            InvalidModelInput,
        ),
        (
            {"outputs": ["raw_detection_boxes"]},
            grpc.StatusCode.INVALID_ARGUMENT,
            "output tensor alias not found in signature: raw_detection_boxes",
            InvalidModelInput,
        ),
    ],
    ids=["unknown-model", "unknown-version", "signature", "input-alias", "dtype", "output-filter"],
)
async def test_standin_refuses_bad_requests_as_tf_serving_does(
    tfserving_standin: TFServingStandIn,
    changes: dict[str, Any],
    code: grpc.StatusCode,
    text: str,
    error: type[Exception],
) -> None:
    async with grpc.aio.insecure_channel(tfserving_standin.address) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.Predict(_request(**changes), timeout=5)
    assert caught.value.code() == code
    assert text in (caught.value.details() or "")
    assert isinstance(error_from_rpc(caught.value, "Predict"), error)


async def test_standin_metadata_is_the_saved_models_signature(
    tfserving_standin: TFServingStandIn,
) -> None:
    async with grpc.aio.insecure_channel(tfserving_standin.address) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        request = get_model_metadata_pb2.GetModelMetadataRequest()
        request.model_spec.name = "detector"
        request.metadata_field.append("signature_def")
        response = await stub.GetModelMetadata(request, timeout=5)
    signatures = get_model_metadata_pb2.SignatureDefMap()
    assert response.metadata["signature_def"].Unpack(signatures)
    serving = signatures.signature_def["serving_default"]
    assert set(serving.inputs) == {"input_tensor"}
    assert {"detection_boxes", "detection_classes", "detection_scores", "num_detections"} <= set(
        serving.outputs
    )
    assert response.model_spec.version.value == tfserving_standin.version
