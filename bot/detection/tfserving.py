"""Detector that asks TensorFlow Serving over gRPC (PredictionService / ModelService).

One `grpc.aio` channel lives as long as the detector. The address is any gRPC target
(`host:port`, `dns:///name:port`, `ipv4:h1:p1,h2:p2`); calls are spread over every address with
gRPC's `round_robin` policy, which only picks servers it is connected to, so a server that is
down is skipped while others are up. Every call carries a deadline; UNAVAILABLE (and a server
that does not have the model yet) is retried a bounded number of times with exponential
backoff, each retry going to the next server; gRPC status codes become the typed errors of
`bot.detection.errors`.

A server that answers "Servable not found" (its model dir is still empty, or the model is still
loading) does not stop the bot: `start()` says so in one log line, detections get
DetectorUnavailable and `healthy()` is false until the model appears; the signature is learnt
then. The messages are the bot's own (`bot.detection.tfserving_api`), so TensorFlow is never
imported.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc
import numpy as np
import numpy.typing as npt

from bot.detection import outputs
from bot.detection.errors import (
    DetectorError,
    DetectorOutputError,
    DetectorTimeout,
    DetectorUnavailable,
    InvalidModelInput,
    ModelNotFound,
)
from bot.detection.tensors import TensorProtoError, dtype_name, from_tensor_proto, to_tensor_proto
from bot.detection.tfserving_api import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)
from bot.detection.types import Detections, ModelInfo

log = logging.getLogger(__name__)

_T = TypeVar("_T")

DEFAULT_MAX_MESSAGE_BYTES = 128 * 1024 * 1024
_BACKOFF_BASE_S = 0.1
_BACKOFF_MAX_S = 2.0


ROUND_ROBIN_SERVICE_CONFIG = json.dumps({"loadBalancingConfig": [{"round_robin": {}}]})
_SERVABLE_NOT_FOUND = "Servable not found"
_HEALTH_PROBES = 3


def channel_options(
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
) -> list[tuple[str, int | str]]:
    """Options of the one channel: round robin, room for big images, keepalive, quick reconnects.

    `round_robin` connects to every address the target resolves to and sends each call to the
    next connected one (gRPC's default, `pick_first`, would send everything to one server).
    gRPC's 4 MB default fails on images above ~1180x1180 (tensorflow/serving #288, #1382).
    Keepalive pings are sent only while calls are open (TF Serving's server refuses idle pings).
    Reconnect backoff is capped so a restarted server is found again within seconds.
    """
    return [
        ("grpc.service_config", ROUND_ROBIN_SERVICE_CONFIG),
        ("grpc.max_send_message_length", max_message_bytes),
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.keepalive_time_ms", 30_000),
        ("grpc.keepalive_timeout_ms", 10_000),
        ("grpc.keepalive_permit_without_calls", 0),
        ("grpc.http2.max_pings_without_data", 0),
        ("grpc.initial_reconnect_backoff_ms", 250),
        ("grpc.min_reconnect_backoff_ms", 250),
        ("grpc.max_reconnect_backoff_ms", 2_000),
    ]


def servable_missing(exc: grpc.aio.AioRpcError) -> bool:
    """TF Serving's answer while a model has no version loaded yet (empty dir, still loading)."""
    return exc.code() == grpc.StatusCode.NOT_FOUND and _SERVABLE_NOT_FOUND in (exc.details() or "")


def error_from_rpc(exc: grpc.aio.AioRpcError, what: str) -> DetectorError:
    """Map a gRPC failure to the typed detector error; the detail keeps the server's words.

    "Servable not found" is DetectorUnavailable: the server is up but has no version of the model
    (yet), and the person is told the detector is unavailable, as for a server that is down.
    """
    code = exc.code()
    detail = f"{what}: {code.name if code else 'UNKNOWN'}: {exc.details() or ''}".rstrip(": ")
    if code == grpc.StatusCode.UNAVAILABLE or code == grpc.StatusCode.CANCELLED:
        return DetectorUnavailable(detail)
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return DetectorTimeout(detail)
    if servable_missing(exc):
        return DetectorUnavailable(detail)
    if code == grpc.StatusCode.NOT_FOUND:
        return ModelNotFound(detail)
    if code in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION):
        return InvalidModelInput(detail)
    return DetectorError(detail)


def _retryable(exc: grpc.aio.AioRpcError) -> bool:
    return exc.code() == grpc.StatusCode.UNAVAILABLE or servable_missing(exc)


class TFServingDetector:
    """`Detector` backed by a TF Serving model reached at `address` (any gRPC target)."""

    def __init__(
        self,
        address: str,
        model_name: str,
        signature: str = "serving_default",
        timeout_s: float = 10.0,
        retries: int = 3,
        *,
        health_timeout_s: float = 2.0,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    ) -> None:
        if retries < 1:
            raise ValueError("retries counts attempts and must be at least 1")
        self.address = address
        self._timeout_s = timeout_s
        self._retries = retries
        self._health_timeout_s = min(health_timeout_s, timeout_s)
        self._max_message_bytes = max_message_bytes
        self._info = ModelInfo(name=model_name, version="unknown", signature=signature)
        self._input_dtype: np.dtype[Any] = np.dtype(np.uint8)
        self._metadata_pending = True
        self._metadata_warned = False
        self._model_missing_logged = False
        self._channel: grpc.aio.Channel | None = None
        self._predict_stub: Any = None
        self._model_stub: Any = None

    @property
    def info(self) -> ModelInfo:
        return self._info

    async def start(self) -> None:
        """Open the channel and learn the signature from GetModelMetadata.

        A server that is not reachable yet, or has no version of the model yet, is tolerated:
        metadata is asked again before the next detection. A model without the configured
        signature, or with outputs the contract lacks, raises.
        """
        if self._channel is None:
            self._channel = grpc.aio.insecure_channel(
                self.address, options=channel_options(self._max_message_bytes)
            )
            self._predict_stub = prediction_service_pb2_grpc.PredictionServiceStub(self._channel)
            self._model_stub = model_service_pb2_grpc.ModelServiceStub(self._channel)
        await self._refresh_metadata()

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()
        self._channel = self._predict_stub = self._model_stub = None

    async def healthy(self) -> bool:
        """True when a server reports a version of the model AVAILABLE (short deadlines).

        Up to three probes, each going to the next server (round robin), so one server that is
        down or still loading does not make a replica look unhealthy while another serves.
        """
        if self._model_stub is None:
            return False
        request = get_model_status_pb2.GetModelStatusRequest()
        request.model_spec.name = self._info.name
        available = get_model_status_pb2.ModelVersionStatus.AVAILABLE
        for _ in range(_HEALTH_PROBES):
            try:
                response = await self._model_stub.GetModelStatus(
                    request, timeout=self._health_timeout_s
                )
            except grpc.aio.AioRpcError as exc:
                log.debug(
                    "TF Serving health check failed: %s", error_from_rpc(exc, "GetModelStatus")
                )
                if exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
                    return False
                continue
            if any(s.state == available for s in response.model_version_status):
                return True
        return False

    async def detect(self, image: npt.NDArray[np.uint8]) -> Detections:
        batch = outputs.model_input(image)
        if self._predict_stub is None:
            raise DetectorUnavailable("TF Serving detector used before start()")
        if self._metadata_pending:
            await self._refresh_metadata()
        request = self._predict_request(batch)
        try:
            response = await self._call(self._predict_stub.Predict, request, "Predict")
        except DetectorUnavailable:
            self._metadata_pending = True
            raise
        self._note_version(response.model_spec)
        try:
            arrays = {
                name: from_tensor_proto(response.outputs[name])
                for name in self._info.output_names
                if name in response.outputs
            }
        except TensorProtoError as exc:
            raise DetectorOutputError(f"unreadable output tensor: {exc}") from exc
        return outputs.parse_detections(arrays)

    def _predict_request(self, batch: npt.NDArray[np.uint8]) -> predict_pb2.PredictRequest:
        request = predict_pb2.PredictRequest()
        request.model_spec.name = self._info.name
        request.model_spec.signature_name = self._info.signature
        if batch.dtype != self._input_dtype:
            batch = batch.astype(self._input_dtype)
        to_tensor_proto(batch, into=request.inputs[self._info.input_name])
        request.output_filter.extend(self._info.output_names)
        return request

    async def _call(self, method: Callable[..., Awaitable[_T]], request: Any, what: str) -> _T:
        """One RPC with a deadline per attempt; UNAVAILABLE and "Servable not found" are retried
        with bounded backoff (round robin sends the retry to the next server)."""
        for attempt in range(1, self._retries + 1):
            try:
                return await method(request, timeout=self._timeout_s)
            except grpc.aio.AioRpcError as exc:
                if not _retryable(exc) or attempt == self._retries:
                    raise error_from_rpc(exc, f"{what} at {self.address}") from exc
                delay = min(_BACKOFF_BASE_S * 2 ** (attempt - 1), _BACKOFF_MAX_S)
                log.info(
                    "TF Serving at %s: %s (attempt %d/%d); retrying in %.2f s",
                    self.address,
                    exc.code().name if exc.code() else "UNKNOWN",
                    attempt,
                    self._retries,
                    delay,
                )
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    async def _refresh_metadata(self) -> None:
        if self._predict_stub is None:
            return
        request = get_model_metadata_pb2.GetModelMetadataRequest()
        request.model_spec.name = self._info.name
        request.metadata_field.append("signature_def")
        try:
            response = await self._predict_stub.GetModelMetadata(request, timeout=self._timeout_s)
        except grpc.aio.AioRpcError as exc:
            self._metadata_failed(exc)
            return
        self._metadata_pending = False
        self._apply_metadata(response)
        if self._model_missing_logged:
            log.info("TF Serving at %s now serves model %r", self.address, self._info.name)
            self._model_missing_logged = False

    def _metadata_failed(self, exc: grpc.aio.AioRpcError) -> None:
        """Log what keeps the signature unknown, once per outage; raise only for a bad config."""
        error = error_from_rpc(exc, f"GetModelMetadata at {self.address}")
        if servable_missing(exc):
            if not self._model_missing_logged:
                log.warning(
                    "TF Serving at %s has no version of model %r (MODEL_NAME) yet: %s; "
                    "photos get 'detector unavailable' until it is loaded",
                    self.address,
                    self._info.name,
                    exc.details(),
                )
                self._model_missing_logged = True
            return
        if isinstance(error, ModelNotFound):
            raise ModelNotFound(
                f"TF Serving at {self.address} has no model {self._info.name!r} "
                f"(MODEL_NAME): {exc.details()}"
            ) from exc
        if isinstance(error, DetectorUnavailable | DetectorTimeout):
            if not self._metadata_warned:
                log.warning("%s; using the contract's tensor names for now", error.detail)
                self._metadata_warned = True
            return
        log.warning("%s; using the contract's tensor names", error.detail)
        self._metadata_pending = False

    def _apply_metadata(self, response: get_model_metadata_pb2.GetModelMetadataResponse) -> None:
        version = (
            str(response.model_spec.version.value)
            if response.model_spec.HasField("version")
            else self._info.version
        )
        signature_map = get_model_metadata_pb2.SignatureDefMap()
        packed = response.metadata.get("signature_def")
        if packed is None or not packed.Unpack(signature_map):
            log.warning("GetModelMetadata gave no signature_def; using the contract's names")
            self._info = dataclasses.replace(self._info, version=version)
            return
        name = self._info.signature
        if name not in signature_map.signature_def:
            known = ", ".join(sorted(signature_map.signature_def)) or "none"
            raise ModelNotFound(
                f"model {self._info.name!r} has no signature {name!r} (MODEL_SIGNATURE); "
                f"it has: {known}"
            )
        signature = signature_map.signature_def[name]
        missing = [o for o in outputs.OUTPUT_NAMES if o not in signature.outputs]
        if missing and signature.outputs:
            raise DetectorOutputError(
                f"signature {name!r} of model {self._info.name!r} lacks output(s) "
                f"{', '.join(missing)}; it has: {', '.join(sorted(signature.outputs))}"
            )
        input_name, input_dtype, batch_size = self._info.input_name, "uint8", self._info.batch_size
        if len(signature.inputs) == 1 or outputs.INPUT_NAME in signature.inputs:
            input_name = (
                outputs.INPUT_NAME
                if outputs.INPUT_NAME in signature.inputs
                else next(iter(signature.inputs))
            )
            tensor_info = signature.inputs[input_name]
            input_dtype = dtype_name(tensor_info.dtype)
            dims = tensor_info.tensor_shape.dim
            if dims and not tensor_info.tensor_shape.unknown_rank:
                batch_size = dims[0].size if dims[0].size > 0 else None
        try:
            self._input_dtype = np.dtype(input_dtype)
        except TypeError:
            raise InvalidModelInput(
                f"model {self._info.name!r} takes {input_dtype} input, not an image"
            ) from None
        self._info = dataclasses.replace(
            self._info,
            version=version,
            input_name=input_name,
            input_dtype=input_dtype,
            batch_size=batch_size,
            output_names=outputs.OUTPUT_NAMES,
        )
        log.info(
            "TF Serving model %s version %s: input %s %s, batch %s",
            self._info.name,
            version,
            input_name,
            input_dtype,
            batch_size or "any",
        )

    def _note_version(self, model_spec: Any) -> None:
        if model_spec.HasField("version"):
            version = str(model_spec.version.value)
            if version != self._info.version:
                self._info = dataclasses.replace(self._info, version=version)
