"""numpy <-> TensorProto without calling TensorFlow (the proto classes only).

`tf.make_tensor_proto` / `tf.make_ndarray` would pull TensorFlow's Python runtime onto the hot
path; these build and read the proto fields directly. Readers accept both encodings a server may
use: `tensor_content` (raw little-endian bytes) and the typed `*_val` fields that TF Serving fills
(`Tensor::AsProtoField`), including its short form where fewer values than elements are sent and
the last value repeats.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from bot.detection.tfserving_api import tensor_pb2, tensor_shape_pb2, types_pb2

TensorProto = tensor_pb2.TensorProto


class TensorProtoError(ValueError):
    """A TensorProto that cannot be turned into an array (bad dtype, shape or payload)."""


_NUMPY_OF: dict[int, np.dtype[Any]] = {
    types_pb2.DT_FLOAT: np.dtype(np.float32),
    types_pb2.DT_DOUBLE: np.dtype(np.float64),
    types_pb2.DT_HALF: np.dtype(np.float16),
    types_pb2.DT_INT8: np.dtype(np.int8),
    types_pb2.DT_INT16: np.dtype(np.int16),
    types_pb2.DT_INT32: np.dtype(np.int32),
    types_pb2.DT_INT64: np.dtype(np.int64),
    types_pb2.DT_UINT8: np.dtype(np.uint8),
    types_pb2.DT_UINT16: np.dtype(np.uint16),
    types_pb2.DT_UINT32: np.dtype(np.uint32),
    types_pb2.DT_UINT64: np.dtype(np.uint64),
    types_pb2.DT_BOOL: np.dtype(np.bool_),
    types_pb2.DT_COMPLEX64: np.dtype(np.complex64),
    types_pb2.DT_COMPLEX128: np.dtype(np.complex128),
}
_DATATYPE_OF: dict[np.dtype[Any], types_pb2.DataType] = {
    v: cast(types_pb2.DataType, k) for k, v in _NUMPY_OF.items()
}

# Which typed field holds each dtype (as in TensorFlow's tensor.cc ProtoHelper).
_FIELD_OF: dict[int, str] = {
    types_pb2.DT_FLOAT: "float_val",
    types_pb2.DT_DOUBLE: "double_val",
    types_pb2.DT_HALF: "half_val",
    types_pb2.DT_INT8: "int_val",
    types_pb2.DT_INT16: "int_val",
    types_pb2.DT_INT32: "int_val",
    types_pb2.DT_UINT8: "int_val",
    types_pb2.DT_UINT16: "int_val",
    types_pb2.DT_INT64: "int64_val",
    types_pb2.DT_UINT32: "uint32_val",
    types_pb2.DT_UINT64: "uint64_val",
    types_pb2.DT_BOOL: "bool_val",
    types_pb2.DT_COMPLEX64: "scomplex_val",
    types_pb2.DT_COMPLEX128: "dcomplex_val",
    types_pb2.DT_STRING: "string_val",
}


def dtype_name(datatype: int) -> str:
    """`DT_UINT8` -> "uint8"; unknown or non-numeric types keep TensorFlow's name in lower case."""
    if datatype in _NUMPY_OF:
        return _NUMPY_OF[datatype].name
    if datatype == types_pb2.DT_STRING:
        return "string"
    try:
        return str(types_pb2.DataType.Name(datatype)).removeprefix("DT_").lower()
    except ValueError:
        return f"dtype {datatype}"


def numpy_dtype(datatype: int) -> np.dtype[Any]:
    """The numpy dtype of a numeric TensorFlow DataType."""
    try:
        return _NUMPY_OF[datatype]
    except KeyError:
        raise TensorProtoError(f"unsupported tensor dtype {dtype_name(datatype)}") from None


def to_tensor_proto(
    array: npt.ArrayLike,
    *,
    into: tensor_pb2.TensorProto | None = None,
    as_content: bool = True,
) -> tensor_pb2.TensorProto:
    """Encode a numeric array: `tensor_content` bytes by default, or the typed `*_val` field.

    `into` fills an existing message in place (e.g. `request.inputs["input_tensor"]`), which
    spares copying a multi-megabyte image once more.
    """
    arr = np.asarray(array)
    dtype = arr.dtype.newbyteorder("=")
    datatype = _DATATYPE_OF.get(dtype)
    if datatype is None:
        raise TensorProtoError(f"cannot encode numpy dtype {arr.dtype} as a tensor")
    proto = tensor_pb2.TensorProto() if into is None else into
    proto.Clear()
    proto.dtype = datatype
    proto.tensor_shape.dim.extend(_dims(arr.shape))
    if as_content:
        proto.tensor_content = np.ascontiguousarray(arr, dtype=dtype.newbyteorder("<")).tobytes()
    else:
        _fill_typed_field(proto, datatype, arr)
    return proto


def _dims(shape: Sequence[int]) -> list[Any]:
    return [tensor_shape_pb2.TensorShapeProto.Dim(size=int(n)) for n in shape]


def _fill_typed_field(proto: tensor_pb2.TensorProto, datatype: int, arr: npt.NDArray[Any]) -> None:
    flat = arr.ravel()
    field = getattr(proto, _FIELD_OF[datatype])
    if datatype == types_pb2.DT_HALF:
        field.extend(flat.astype(np.float16).view(np.uint16).astype(np.int32).tolist())
    elif datatype in (types_pb2.DT_COMPLEX64, types_pb2.DT_COMPLEX128):
        pairs = np.stack([flat.real, flat.imag], axis=-1).ravel()
        field.extend(pairs.tolist())
    else:
        field.extend(flat.tolist())


def from_tensor_proto(proto: tensor_pb2.TensorProto) -> npt.NDArray[Any]:
    """Decode a TensorProto from either `tensor_content` or the typed `*_val` fields."""
    shape = _shape_of(proto)
    count = int(np.prod(shape, dtype=np.int64))
    if proto.dtype == types_pb2.DT_STRING:
        return _expand(np.array(list(proto.string_val), dtype=object), count, shape, "string_val")
    dtype = numpy_dtype(proto.dtype)
    if proto.tensor_content:
        content = proto.tensor_content
        if len(content) != count * dtype.itemsize:
            raise TensorProtoError(
                f"tensor_content has {len(content)} bytes; shape {shape} of {dtype.name} "
                f"needs {count * dtype.itemsize}"
            )
        return np.frombuffer(content, dtype=dtype.newbyteorder("<")).astype(dtype).reshape(shape)
    field_name = _FIELD_OF[proto.dtype]
    raw = getattr(proto, field_name)
    if proto.dtype == types_pb2.DT_HALF:
        values = np.asarray(raw, dtype=np.int32).astype(np.uint16).view(np.float16)
    elif proto.dtype in (types_pb2.DT_COMPLEX64, types_pb2.DT_COMPLEX128):
        parts = np.asarray(raw, dtype=np.float64)
        if parts.size % 2:
            raise TensorProtoError(f"{field_name} holds an odd number of values")
        values = (parts[0::2] + 1j * parts[1::2]).astype(dtype)
    else:
        values = np.asarray(raw, dtype=dtype)
    return _expand(values, count, shape, field_name)


def _shape_of(proto: tensor_pb2.TensorProto) -> tuple[int, ...]:
    if proto.tensor_shape.unknown_rank:
        raise TensorProtoError("tensor has unknown rank")
    shape = tuple(int(d.size) for d in proto.tensor_shape.dim)
    if any(n < 0 for n in shape):
        raise TensorProtoError(f"tensor shape {list(shape)} has an unknown dimension")
    return shape


def _expand(
    values: npt.NDArray[Any], count: int, shape: tuple[int, ...], field_name: str
) -> npt.NDArray[Any]:
    """TensorFlow's rule: no values -> zeros; fewer than needed -> the last value repeats."""
    if values.size == count:
        return values.reshape(shape)
    if values.size > count:
        raise TensorProtoError(
            f"{field_name} has {values.size} values but shape {list(shape)} holds {count}"
        )
    if values.size == 0:
        fill: Any = b"" if values.dtype == object else 0
        return np.full(shape, fill, dtype=values.dtype)
    padded = np.concatenate([values, np.repeat(values[-1:], count - values.size)])
    return padded.reshape(shape)
