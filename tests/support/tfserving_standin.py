"""A stand-in for TensorFlow Serving's gRPC API, backed by the in-process SavedModel.

It speaks the real protocol (`tensorflow_serving.apis` services PredictionService.Predict,
GetModelMetadata and ModelService.GetModelStatus) and answers the way TF Serving's C++ code does
(predict_util.cc, get_model_metadata_impl.cc, get_model_status_impl.cc): the same status codes and
error texts for an unknown model, version or signature, a wrong input alias or dtype and an
unknown output in `output_filter`. Outputs come in the typed `*_val` fields by default, as TF
Serving's `AsProtoField` fills them, or in `tensor_content` when `use_tensor_content` is set.

Knobs for failure tests: `latency_s` (delay before answering), `drop_outputs` (names left out of
the response), `fail_next` (status codes answered before any real work, one per call),
`model_state` ("available"; "absent": the model's base dir is still empty; "loading": a version
is being loaded), and `stop()` / `start()`, which bring the server down and back up on the same
port. Without an available version TF Serving keeps its port open and answers Predict and
GetModelMetadata with NOT_FOUND "Servable not found", and GetModelStatus with NOT_FOUND (no
versions yet) or the version in state LOADING.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Literal

import grpc
import numpy as np
import numpy.typing as npt
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2, types_pb2
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from bot.detection.inprocess import LoadedModel

_DEFAULT_SIGNATURE = "serving_default"
_MAX_MESSAGE = 2**31 - 1  # TF Serving sets the server's message size limit to kint32max

_TYPED_FIELD = {
    types_pb2.DT_FLOAT: "float_val",
    types_pb2.DT_DOUBLE: "double_val",
    types_pb2.DT_INT32: "int_val",
    types_pb2.DT_UINT8: "int_val",
    types_pb2.DT_INT64: "int64_val",
    types_pb2.DT_BOOL: "bool_val",
}


def read_signature_defs(version_dir: Path) -> dict[str, Any]:
    """SignatureDefs of the `serve` MetaGraph in saved_model.pb, as TF Serving reports them."""
    saved_model = saved_model_pb2.SavedModel()
    saved_model.ParseFromString((version_dir / "saved_model.pb").read_bytes())
    for meta_graph in saved_model.meta_graphs:
        if "serve" in meta_graph.meta_info_def.tags:
            return dict(meta_graph.signature_def)
    raise ValueError(f"{version_dir} has no MetaGraph tagged 'serve'")


def as_proto_field(array: npt.NDArray[Any]) -> Any:
    """Encode like tensorflow::Tensor::AsProtoField: dtype, shape and every value in `*_val`."""
    arr = np.asarray(array)
    proto = tensor_pb2.TensorProto(
        dtype=tf.dtypes.as_dtype(arr.dtype).as_datatype_enum,
        tensor_shape=tf.TensorShape(arr.shape).as_proto(),
    )
    getattr(proto, _TYPED_FIELD[proto.dtype]).extend(arr.ravel().tolist())
    return proto


class _Abort(Exception):
    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(details)
        self.code = code
        self.details = details


class TFServingStandIn:
    """One model served on 127.0.0.1:`port` over gRPC (port 0 picks a free one at first start)."""

    def __init__(
        self,
        model: LoadedModel,
        *,
        model_name: str = "detector",
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.model = model
        self.model_name = model_name
        self.version = int(model.info.version) if model.info.version.isdigit() else 1
        self.host = host
        self.port = port
        self.latency_s = 0.0
        self.use_tensor_content = False
        self.drop_outputs: set[str] = set()
        self.fail_next: list[tuple[grpc.StatusCode, str]] = []
        self.model_state: Literal["available", "absent", "loading"] = "available"
        self.predict_calls = 0
        self.predicts_in_flight = 0
        self.max_predicts_in_flight = 0
        self.signature_defs = read_signature_defs(model.version_dir)
        self._server: grpc.aio.Server | None = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._server is not None

    async def start(self) -> None:
        """Serve on the same port as before (a free one the first time)."""
        if self._server is not None:
            return
        server = grpc.aio.server(
            options=[
                ("grpc.max_send_message_length", _MAX_MESSAGE),
                ("grpc.max_receive_message_length", _MAX_MESSAGE),
                ("grpc.so_reuseport", 0),
            ]
        )
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
            _PredictionService(self), server
        )
        model_service_pb2_grpc.add_ModelServiceServicer_to_server(_ModelService(self), server)
        bound = server.add_insecure_port(f"{self.host}:{self.port}")
        if not bound:
            raise RuntimeError(f"stand-in cannot bind {self.host}:{self.port}")
        self.port = bound
        await server.start()
        self._server = server

    async def stop(self) -> None:
        """Go down at once: open calls are cancelled, new ones are refused (UNAVAILABLE)."""
        server, self._server = self._server, None
        if server is not None:
            await server.stop(grace=None)

    # The service logic, shared by the servicers below.

    def check_model_spec(self, spec: Any) -> None:
        if spec.name != self.model_name or self.model_state != "available":
            raise _Abort(
                grpc.StatusCode.NOT_FOUND, f"Servable not found for request: Latest({spec.name})"
            )
        if spec.HasField("version") and spec.version.value != self.version:
            raise _Abort(
                grpc.StatusCode.NOT_FOUND,
                f"Servable not found for request: Specific({spec.name}, {spec.version.value})",
            )

    async def predict(self, request: Any) -> Any:
        self.predict_calls += 1
        self._injected_failure()
        self.check_model_spec(request.model_spec)
        signature_name = request.model_spec.signature_name or _DEFAULT_SIGNATURE
        signature = self.signature_defs.get(signature_name)
        if signature is None:
            raise _Abort(
                grpc.StatusCode.FAILED_PRECONDITION,
                f'Serving signature key "{signature_name}" not found.',
            )
        inputs = self._input_arrays(signature, request)
        output_names = self._output_names(signature, request)
        self.predicts_in_flight += 1
        self.max_predicts_in_flight = max(self.max_predicts_in_flight, self.predicts_in_flight)
        try:
            if self.latency_s:
                await asyncio.sleep(self.latency_s)
            results = await asyncio.to_thread(self._run, inputs)
        except (tf.errors.OpError, ValueError, TypeError) as exc:
            raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc).splitlines()[0]) from exc
        finally:
            self.predicts_in_flight -= 1
        response = predict_pb2.PredictResponse()
        response.model_spec.name = self.model_name
        response.model_spec.signature_name = signature_name
        response.model_spec.version.value = self.version
        for name in output_names:
            if name in self.drop_outputs:
                continue
            array = results[name]
            encoded = tf.make_tensor_proto(array) if self.use_tensor_content else None
            response.outputs[name].CopyFrom(encoded or as_proto_field(array))
        return response

    def metadata(self, request: Any) -> Any:
        if not request.HasField("model_spec"):
            raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, "Missing ModelSpec")
        if not request.metadata_field:
            raise _Abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                "GetModelMetadataRequest must specify at least one metadata_field",
            )
        for field in request.metadata_field:
            if field != "signature_def":
                raise _Abort(
                    grpc.StatusCode.INVALID_ARGUMENT, f"Metadata field {field} is not supported"
                )
        self.check_model_spec(request.model_spec)
        signature_map = get_model_metadata_pb2.SignatureDefMap()
        for key, signature in self.signature_defs.items():
            signature_map.signature_def[key].CopyFrom(signature)
        response = get_model_metadata_pb2.GetModelMetadataResponse()
        response.model_spec.name = self.model_name
        response.model_spec.version.value = self.version
        response.metadata["signature_def"].Pack(signature_map)
        return response

    def status(self, request: Any) -> Any:
        if not request.HasField("model_spec"):
            raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, "Missing ModelSpec")
        spec = request.model_spec
        if spec.name != self.model_name or self.model_state == "absent":
            raise _Abort(
                grpc.StatusCode.NOT_FOUND, f"Could not find any versions of model {spec.name}"
            )
        if spec.HasField("version") and spec.version.value != self.version:
            raise _Abort(
                grpc.StatusCode.NOT_FOUND,
                f"Could not find version {spec.version.value} of model {spec.name}",
            )
        response = get_model_status_pb2.GetModelStatusResponse()
        status = response.model_version_status.add()
        status.version = self.version
        status.state = (
            get_model_status_pb2.ModelVersionStatus.AVAILABLE
            if self.model_state == "available"
            else get_model_status_pb2.ModelVersionStatus.LOADING
        )
        return response

    def _injected_failure(self) -> None:
        if self.fail_next:
            code, details = self.fail_next.pop(0)
            raise _Abort(code, details)

    def _input_arrays(self, signature: Any, request: Any) -> dict[str, npt.NDArray[Any]]:
        expected = set(signature.inputs)
        sent = set(request.inputs)
        if len(sent) != len(expected):
            raise _Abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"input size does not match signature: {len(sent)}!={len(expected)} "
                f"len({{{','.join(sorted(sent))}}}) != len({{{','.join(sorted(expected))}}}). "
                f"Sent extra: {{{','.join(sorted(sent - expected))}}}. "
                f"Missing but required: {{{','.join(sorted(expected - sent))}}}.",
            )
        arrays: dict[str, npt.NDArray[Any]] = {}
        for position, alias in enumerate(sorted(sent)):
            if alias not in expected:
                raise _Abort(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    f"input tensor alias not found in signature: {alias}. "
                    f"Inputs expected to be in the set {{{','.join(sorted(expected))}}}.",
                )
            proto = request.inputs[alias]
            info = signature.inputs[alias]
            if proto.dtype != info.dtype:
                raise _Abort(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    f"Expects arg[{position}] to be {_type_string(info.dtype)} but "
                    f"{_type_string(proto.dtype)} is provided",
                )
            try:
                array = _decode(proto)
            except (TypeError, ValueError) as exc:
                raise _Abort(
                    grpc.StatusCode.INVALID_ARGUMENT, f"tensor parsing error: {alias}"
                ) from exc
            _check_shape(alias, array.shape, info.tensor_shape)
            arrays[alias] = array
        return arrays

    def _output_names(self, signature: Any, request: Any) -> list[str]:
        names: list[str] = []
        for alias in request.output_filter:
            if alias not in signature.outputs:
                raise _Abort(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    f"output tensor alias not found in signature: {alias} "
                    f"Outputs expected to be in the set {{{','.join(sorted(signature.outputs))}}}.",
                )
            if alias in names:
                raise _Abort(
                    grpc.StatusCode.INVALID_ARGUMENT, f"duplicate output tensor alias: {alias}"
                )
            names.append(alias)
        return names or sorted(signature.outputs)

    def _run(self, inputs: dict[str, npt.NDArray[Any]]) -> dict[str, npt.NDArray[Any]]:
        tensors = {name: tf.constant(array) for name, array in inputs.items()}
        result = self.model.function(**tensors)
        return {name: tensor.numpy() for name, tensor in result.items()}


def _decode(proto: Any) -> npt.NDArray[Any]:
    """Zero-copy for `tensor_content` (TF Serving's C++ reads it in place too), else TF's reader."""
    if proto.tensor_content:
        dtype = tf.dtypes.as_dtype(proto.dtype).as_numpy_dtype
        shape = [d.size for d in proto.tensor_shape.dim]
        return np.frombuffer(proto.tensor_content, dtype=dtype).reshape(shape)
    decoded: npt.NDArray[Any] = tf.make_ndarray(proto)
    return decoded


def _type_string(datatype: int) -> str:
    """TensorFlow's DataTypeString: DT_FLOAT -> "float", DT_UINT8 -> "uint8"."""
    return str(types_pb2.DataType.Name(datatype)).removeprefix("DT_").lower()


def _check_shape(alias: str, shape: tuple[int, ...], expected: Any) -> None:
    if expected.unknown_rank:
        return
    dims = [d.size for d in expected.dim]
    if len(dims) != len(shape) or any(d >= 0 and d != n for d, n in zip(dims, shape, strict=False)):
        wanted = "[" + ",".join("?" if d < 0 else str(d) for d in dims) + "]"
        raise _Abort(
            grpc.StatusCode.INVALID_ARGUMENT,
            f"input {alias} has shape [{','.join(map(str, shape))}] but the signature wants "
            f"{wanted}",
        )


class _PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):  # type: ignore[misc]
    def __init__(self, standin: TFServingStandIn) -> None:
        self._standin = standin

    async def Predict(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            return await self._standin.predict(request)
        except _Abort as abort:
            await context.abort(abort.code, abort.details)

    async def GetModelMetadata(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            return self._standin.metadata(request)
        except _Abort as abort:
            await context.abort(abort.code, abort.details)


class _ModelService(model_service_pb2_grpc.ModelServiceServicer):  # type: ignore[misc]
    def __init__(self, standin: TFServingStandIn) -> None:
        self._standin = standin

    async def GetModelStatus(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            return self._standin.status(request)
        except _Abort as abort:
            await context.abort(abort.code, abort.details)
