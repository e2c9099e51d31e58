"""numpy <-> TensorProto without TensorFlow, checked against TensorFlow's own converters.

The bot's TensorProto (bot.detection.tfserving_api) and TensorFlow's are different classes of the
same wire format: every check crosses between them through serialized bytes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2, types_pb2
from tensorflow_serving.apis import predict_pb2

from bot.detection.errors import DetectorOutputError
from bot.detection.outputs import parse_detections
from bot.detection.tensors import TensorProtoError, from_tensor_proto, to_tensor_proto
from bot.detection.tfserving_api import predict_pb2 as our_predict_pb2
from bot.detection.tfserving_api import tensor_pb2 as our_tensor_pb2

DTYPES = [
    np.uint8,
    np.int8,
    np.uint16,
    np.int16,
    np.int32,
    np.int64,
    np.uint32,
    np.uint64,
    np.float16,
    np.float32,
    np.float64,
    np.bool_,
    np.complex64,
    np.complex128,
]


def _sample(dtype: Any) -> npt.NDArray[Any]:
    values = np.arange(24).reshape(2, 3, 4) % 7
    if np.issubdtype(dtype, np.complexfloating):
        return (values + 0.5j * values).astype(dtype)
    if np.issubdtype(dtype, np.floating):
        return (values / 3).astype(dtype)
    return values.astype(dtype)


def _typed(datatype: int, shape: list[int], field: str, values: list[Any]) -> Any:
    """TensorFlow's TensorProto with values in one typed field."""
    proto = tensor_pb2.TensorProto(dtype=datatype)
    proto.tensor_shape.dim.extend([proto.tensor_shape.Dim(size=n) for n in shape])
    getattr(proto, field).extend(values)
    return proto


def ours(official: Any) -> our_tensor_pb2.TensorProto:
    return our_tensor_pb2.TensorProto.FromString(official.SerializeToString())


def official(proto: our_tensor_pb2.TensorProto) -> Any:
    return tensor_pb2.TensorProto.FromString(proto.SerializeToString())


@pytest.mark.parametrize("as_content", [True, False], ids=["tensor_content", "typed_val"])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_round_trip_matches_tensorflow(dtype: Any, as_content: bool) -> None:
    array = _sample(dtype)
    proto = to_tensor_proto(array, as_content=as_content)
    assert bool(proto.tensor_content) == as_content
    np.testing.assert_array_equal(tf.make_ndarray(official(proto)), array)
    decoded = from_tensor_proto(proto)
    assert decoded.dtype == array.dtype
    np.testing.assert_array_equal(decoded, array)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_reads_what_tensorflow_writes(dtype: Any) -> None:
    array = _sample(dtype)
    decoded = from_tensor_proto(ours(tf.make_tensor_proto(array)))
    assert decoded.dtype == array.dtype
    np.testing.assert_array_equal(decoded, array)


def test_image_fills_predict_request_in_place() -> None:
    image = np.random.default_rng(1).integers(0, 256, (1, 5, 7, 3), dtype=np.uint8)
    request = our_predict_pb2.PredictRequest()
    to_tensor_proto(image, into=request.inputs["input_tensor"])
    sent = request.inputs["input_tensor"]
    assert sent.dtype == types_pb2.DT_UINT8
    assert [d.size for d in sent.tensor_shape.dim] == [1, 5, 7, 3]
    assert sent.tensor_content == image.tobytes()
    parsed = predict_pb2.PredictRequest.FromString(request.SerializeToString())
    np.testing.assert_array_equal(tf.make_ndarray(parsed.inputs["input_tensor"]), image)


def test_single_typed_value_fills_the_whole_shape() -> None:
    proto = _typed(types_pb2.DT_FLOAT, [2, 3], "float_val", [7.5])
    decoded = from_tensor_proto(ours(proto))
    np.testing.assert_array_equal(decoded, np.full((2, 3), 7.5, np.float32))
    np.testing.assert_array_equal(decoded, tf.make_ndarray(proto))


def test_short_typed_values_repeat_the_last_one_as_tensorflow_does() -> None:
    proto = _typed(types_pb2.DT_INT32, [5], "int_val", [1, 2])
    np.testing.assert_array_equal(from_tensor_proto(ours(proto)), [1, 2, 2, 2, 2])
    np.testing.assert_array_equal(from_tensor_proto(ours(proto)), tf.make_ndarray(proto))


def test_no_values_means_zeros() -> None:
    proto = _typed(types_pb2.DT_INT64, [2, 2], "int64_val", [])
    decoded = from_tensor_proto(ours(proto))
    assert decoded.dtype == np.int64
    np.testing.assert_array_equal(decoded, np.zeros((2, 2)))


def test_scalar_and_empty_shapes() -> None:
    np.testing.assert_array_equal(from_tensor_proto(to_tensor_proto(np.float32(3))), 3)
    empty = from_tensor_proto(to_tensor_proto(np.zeros((1, 0, 4), np.float32)))
    assert empty.shape == (1, 0, 4)


def test_truncated_tensor_content_is_refused() -> None:
    proto = to_tensor_proto(np.ones((2, 3), np.float32))
    proto.tensor_content = proto.tensor_content[:-4]
    with pytest.raises(TensorProtoError, match="tensor_content has 20 bytes"):
        from_tensor_proto(proto)


def test_too_many_typed_values_are_refused() -> None:
    with pytest.raises(TensorProtoError, match="float_val has 3 values"):
        from_tensor_proto(ours(_typed(types_pb2.DT_FLOAT, [2], "float_val", [1.0, 2.0, 3.0])))


def test_unknown_dimension_is_refused() -> None:
    with pytest.raises(TensorProtoError, match="unknown dimension"):
        from_tensor_proto(ours(_typed(types_pb2.DT_FLOAT, [-1, 2], "float_val", [1.0])))


def test_float_class_ids_become_ints_and_rows_past_num_detections_go() -> None:
    outputs = {
        "detection_boxes": from_tensor_proto(
            ours(_typed(types_pb2.DT_FLOAT, [1, 3, 4], "float_val", [0.1, 0.2, 0.3, 0.4] * 3))
        ),
        "detection_classes": from_tensor_proto(
            ours(_typed(types_pb2.DT_FLOAT, [1, 3], "float_val", [18.0, 1.0000001, 1.0]))
        ),
        "detection_scores": from_tensor_proto(
            ours(_typed(types_pb2.DT_FLOAT, [1, 3], "float_val", [0.9, 0.6, 0.0]))
        ),
        "num_detections": from_tensor_proto(
            ours(_typed(types_pb2.DT_FLOAT, [1], "float_val", [2.0]))
        ),
    }
    detections = parse_detections(outputs)
    assert detections.class_ids.dtype == np.int64
    assert detections.class_ids.tolist() == [18, 1]
    np.testing.assert_allclose(detections.scores, [0.9, 0.6])
    assert detections.boxes.shape == (2, 4)


def test_missing_output_is_named() -> None:
    outputs = {
        "detection_boxes": np.zeros((1, 2, 4), np.float32),
        "detection_classes": np.ones((1, 2), np.float32),
        "num_detections": np.array([2.0], np.float32),
    }
    with pytest.raises(DetectorOutputError, match="detection_scores missing"):
        parse_detections(outputs)


def test_ill_shaped_outputs_are_refused() -> None:
    outputs = {
        "detection_boxes": np.zeros((1, 2, 3), np.float32),
        "detection_classes": np.ones((1, 2), np.float32),
        "detection_scores": np.ones((1, 2), np.float32),
        "num_detections": np.array([2.0], np.float32),
    }
    with pytest.raises(DetectorOutputError, match="shapes disagree"):
        parse_detections(outputs)
