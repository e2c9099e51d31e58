"""The bot's own TF Serving messages against the official `tensorflow_serving.apis` ones.

Two independent implementations of one wire format: the bot's requests serialize to the very
bytes the official classes give, each side parses the other's bytes to equal content (responses
in both output encodings, GetModelMetadata's Any-packed SignatureDefMap with its type URL), and
every field the bot declares has the official number, name and type.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import tensorflow as tf
from google.protobuf import descriptor_pool
from google.protobuf.descriptor import Descriptor, EnumDescriptor
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from bot.detection.tensors import from_tensor_proto
from bot.detection.tfserving import TFServingDetector
from bot.detection.tfserving_api import get_model_metadata_pb2 as our_metadata_pb2
from bot.detection.tfserving_api import get_model_status_pb2 as our_status_pb2
from bot.detection.tfserving_api import meta_graph_pb2 as our_meta_graph_pb2
from bot.detection.tfserving_api import model_service_pb2_grpc as our_model_service
from bot.detection.tfserving_api import predict_pb2 as our_predict_pb2
from bot.detection.tfserving_api import prediction_service_pb2_grpc as our_prediction_service
from bot.detection.tfserving_api import tensor_pb2 as our_tensor_pb2
from bot.detection.tfserving_api import types_pb2 as our_types_pb2
from bot.detection.tfserving_api.pool import POOL
from tests.support.tfserving_standin import as_proto_field, read_signature_defs

SIGNATURE_DEF_MAP_URL = "type.googleapis.com/tensorflow.serving.SignatureDefMap"
OUTPUTS = ("detection_boxes", "detection_classes", "detection_scores", "num_detections")


def _image(width: int = 1024, height: int = 768) -> npt.NDArray[np.uint8]:
    return np.random.default_rng(7).integers(0, 256, (height, width, 3), dtype=np.uint8)


def _detector_outputs(rows: int = 100) -> dict[str, npt.NDArray[Any]]:
    rng = np.random.default_rng(3)
    return {
        "detection_boxes": rng.random((1, rows, 4), dtype=np.float32),
        "detection_classes": rng.integers(1, 91, (1, rows)).astype(np.float32),
        "detection_scores": np.sort(rng.random((1, rows), dtype=np.float32))[:, ::-1].copy(),
        "num_detections": np.array([float(rows)], np.float32),
    }


def _official_response(content: bool) -> Any:
    response = predict_pb2.PredictResponse()
    response.model_spec.name = "detector"
    response.model_spec.signature_name = "serving_default"
    response.model_spec.version.value = 3
    for name, array in _detector_outputs().items():
        encoded = tf.make_tensor_proto(array) if content else as_proto_field(array)
        response.outputs[name].CopyFrom(encoded)
    # Zoo models send more outputs than the bot asks for; they must pass through unharmed.
    response.outputs["raw_detection_scores"].CopyFrom(
        tf.make_tensor_proto(np.zeros((1, 4, 91), np.float32))
    )
    return response


def test_the_bots_predict_request_is_byte_identical_to_the_official_one() -> None:
    detector = TFServingDetector("127.0.0.1:1", "detector", "serving_default")
    batch = _image()[np.newaxis]
    ours = detector._predict_request(batch)

    theirs = predict_pb2.PredictRequest()
    theirs.model_spec.name = "detector"
    theirs.model_spec.signature_name = "serving_default"
    theirs.inputs["input_tensor"].CopyFrom(tf.make_tensor_proto(batch))
    theirs.output_filter.extend(OUTPUTS)

    assert ours.SerializeToString() == theirs.SerializeToString()
    assert predict_pb2.PredictRequest.FromString(ours.SerializeToString()) == theirs
    assert our_predict_pb2.PredictRequest.FromString(theirs.SerializeToString()) == ours
    sent = predict_pb2.PredictRequest.FromString(ours.SerializeToString())
    np.testing.assert_array_equal(tf.make_ndarray(sent.inputs["input_tensor"]), batch)


def test_metadata_and_status_requests_are_byte_identical() -> None:
    ours = our_metadata_pb2.GetModelMetadataRequest()
    ours.model_spec.name = "detector"
    ours.metadata_field.append("signature_def")
    theirs = get_model_metadata_pb2.GetModelMetadataRequest()
    theirs.model_spec.name = "detector"
    theirs.metadata_field.append("signature_def")
    assert ours.SerializeToString() == theirs.SerializeToString()

    status = our_status_pb2.GetModelStatusRequest()
    status.model_spec.name = "detector"
    status.model_spec.version.value = 7
    official_status = get_model_status_pb2.GetModelStatusRequest()
    official_status.model_spec.name = "detector"
    official_status.model_spec.version.value = 7
    assert status.SerializeToString() == official_status.SerializeToString()


@pytest.mark.parametrize("content", [False, True], ids=["typed_val", "tensor_content"])
def test_predict_responses_parse_to_the_same_tensors_both_ways(content: bool) -> None:
    theirs = _official_response(content)
    wire = theirs.SerializeToString(deterministic=True)

    ours = our_predict_pb2.PredictResponse.FromString(wire)

    assert ours.SerializeToString(deterministic=True) == wire
    assert predict_pb2.PredictResponse.FromString(ours.SerializeToString()) == theirs
    assert ours.model_spec.version.value == 3
    for name, array in _detector_outputs().items():
        assert bool(ours.outputs[name].tensor_content) == (content and array.size > 1)
        decoded = from_tensor_proto(ours.outputs[name])
        np.testing.assert_array_equal(decoded, tf.make_ndarray(theirs.outputs[name]))
        np.testing.assert_array_equal(decoded, array)


def test_metadata_response_carries_the_signature_def_map_in_an_any(model_base_dir: Path) -> None:
    version_dir = max(
        (p for p in model_base_dir.iterdir() if p.name.isdigit()), key=lambda p: int(p.name)
    )
    signatures = read_signature_defs(version_dir)
    theirs = get_model_metadata_pb2.GetModelMetadataResponse()
    theirs.model_spec.name = "detector"
    theirs.model_spec.version.value = int(version_dir.name)
    official_map = get_model_metadata_pb2.SignatureDefMap()
    for key, signature in signatures.items():
        official_map.signature_def[key].CopyFrom(signature)
    theirs.metadata["signature_def"].Pack(official_map)
    wire = theirs.SerializeToString(deterministic=True)

    ours = our_metadata_pb2.GetModelMetadataResponse.FromString(wire)
    packed = ours.metadata["signature_def"]
    assert packed.type_url == SIGNATURE_DEF_MAP_URL
    our_map = our_metadata_pb2.SignatureDefMap()
    assert packed.Unpack(our_map)
    serving = our_map.signature_def["serving_default"]
    assert set(serving.inputs) == {"input_tensor"}
    assert serving.inputs["input_tensor"].dtype == our_types_pb2.DT_UINT8
    dims = [d.size for d in serving.inputs["input_tensor"].tensor_shape.dim]
    assert dims == [
        d.size for d in signatures["serving_default"].inputs["input_tensor"].tensor_shape.dim
    ]
    assert set(OUTPUTS) <= set(serving.outputs)
    assert serving.method_name == "tensorflow/serving/predict"

    # And back: the bot's own packing is what TF Serving's clients unpack.
    again = our_metadata_pb2.GetModelMetadataResponse()
    again.model_spec.name = "detector"
    again.metadata["signature_def"].Pack(our_map)
    parsed = get_model_metadata_pb2.GetModelMetadataResponse.FromString(again.SerializeToString())
    assert parsed.metadata["signature_def"].type_url == SIGNATURE_DEF_MAP_URL
    unpacked = get_model_metadata_pb2.SignatureDefMap()
    assert parsed.metadata["signature_def"].Unpack(unpacked)
    assert unpacked == official_map


def test_model_status_response_states_read_the_same() -> None:
    theirs = get_model_status_pb2.GetModelStatusResponse()
    for version, state in ((1, "AVAILABLE"), (2, "LOADING")):
        status = theirs.model_version_status.add()
        status.version = version
        status.state = get_model_status_pb2.ModelVersionStatus.State.Value(state)
        status.status.error_message = "" if state == "AVAILABLE" else "loading"
    ours = our_status_pb2.GetModelStatusResponse.FromString(theirs.SerializeToString())
    states = [
        (s.version, our_status_pb2.ModelVersionStatus.State.Name(s.state))
        for s in ours.model_version_status
    ]
    assert states == [(1, "AVAILABLE"), (2, "LOADING")]


class _RecordingChannel:
    """Collects the method paths a generated stub registers."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    def unary_unary(self, path: str, *args: Any, **kwargs: Any) -> None:
        self.paths.append(path)


def _paths(stub_class: Any) -> set[str]:
    channel = _RecordingChannel()
    stub_class(channel)
    return set(channel.paths)


def test_grpc_method_paths_are_tf_servings() -> None:
    predict_paths = _paths(our_prediction_service.PredictionServiceStub)
    assert predict_paths == {
        "/tensorflow.serving.PredictionService/Predict",
        "/tensorflow.serving.PredictionService/GetModelMetadata",
    }
    assert predict_paths <= _paths(prediction_service_pb2_grpc.PredictionServiceStub)
    model_paths = _paths(our_model_service.ModelServiceStub)
    assert model_paths == {"/tensorflow.serving.ModelService/GetModelStatus"}
    assert model_paths <= _paths(model_service_pb2_grpc.ModelServiceStub)


def _our_messages() -> list[Descriptor]:
    found: list[Descriptor] = []
    modules = (
        our_tensor_pb2,
        our_meta_graph_pb2,
        our_predict_pb2,
        our_metadata_pb2,
        our_status_pb2,
    )

    def walk(descriptor: Descriptor) -> None:
        found.append(descriptor)
        for nested in descriptor.nested_types:
            walk(nested)

    for module in modules:
        for descriptor in module.DESCRIPTOR.message_types_by_name.values():
            walk(descriptor)
    return found


@pytest.mark.parametrize("ours", _our_messages(), ids=lambda d: d.full_name)
def test_every_declared_field_matches_the_official_definition(ours: Descriptor) -> None:
    import tensorflow_serving.apis.get_model_status_pb2  # noqa: F401  (registers the officials)

    official = descriptor_pool.Default().FindMessageTypeByName(ours.full_name)
    assert ours.file.pool is POOL
    for field in ours.fields:
        theirs = official.fields_by_number.get(field.number)
        assert theirs is not None, f"{ours.full_name}.{field.name} has no official field"
        assert (field.name, field.type, field.is_repeated) == (
            theirs.name,
            theirs.type,
            theirs.is_repeated,
        )
        if field.message_type is not None:
            assert theirs.message_type is not None
            assert field.message_type.full_name == theirs.message_type.full_name
        if field.enum_type is not None:
            assert theirs.enum_type is not None
            _assert_enum_subset(field.enum_type, theirs.enum_type)
        if field.containing_oneof is not None:
            assert theirs.containing_oneof is not None
            assert field.containing_oneof.name == theirs.containing_oneof.name


def _assert_enum_subset(ours: EnumDescriptor, theirs: EnumDescriptor) -> None:
    assert ours.full_name == theirs.full_name
    for value in ours.values:
        assert theirs.values_by_name[value.name].number == value.number
