"""numpy <-> ``tensorflow.TensorProto``, the tensors of TF Serving's API.

A TensorProto carries its values either packed in ``tensor_content`` (raw
little-endian bytes, what ``tf.make_tensor_proto`` writes for numeric
arrays and what tfvidgen's server sends) or in a typed repeated field
(``int_val``, ``int64_val``, ``float_val``, ...: what ``tensorflow_model_server``
sends, e.g. uint8 videos as ``int_val``). Both are read here; a typed field
with a single value fills the whole shape, as in TensorFlow.

A few bytes of proto can declare a huge shape (``int64_val: 1`` with shape
[2^31] is 16 GiB once filled), so ``to_numpy`` checks rank and size before it
builds anything: ``max_bytes`` bounds the array it returns (the server
passes its request limit), and ``shape_of`` refuses negative dimensions and
ranks above TensorFlow's 254 without listing the dimensions.

These functions do not run TensorFlow ops, so the client decodes a large
video without a round trip through ``tf.make_ndarray``.
"""
from __future__ import annotations

import math

import numpy as np
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2

# DataType enum -> (numpy dtype, typed field of TensorProto).
_TYPES = {
    types_pb2.DT_FLOAT: (np.float32, "float_val"),
    types_pb2.DT_DOUBLE: (np.float64, "double_val"),
    types_pb2.DT_INT32: (np.int32, "int_val"),
    types_pb2.DT_UINT8: (np.uint8, "int_val"),
    types_pb2.DT_INT16: (np.int16, "int_val"),
    types_pb2.DT_INT8: (np.int8, "int_val"),
    types_pb2.DT_UINT16: (np.uint16, "int_val"),
    types_pb2.DT_INT64: (np.int64, "int64_val"),
    types_pb2.DT_UINT32: (np.uint32, "uint32_val"),
    types_pb2.DT_UINT64: (np.uint64, "uint64_val"),
    types_pb2.DT_BOOL: (np.bool_, "bool_val"),
    types_pb2.DT_HALF: (np.float16, "half_val"),
}
_BY_NUMPY = {np.dtype(v[0]): k for k, v in _TYPES.items()}
MAX_RANK = 254  # TensorFlow's TensorShape::MaxDimensions()


class TensorError(ValueError):
    """A TensorProto that cannot be read (unsupported dtype, wrong byte count)."""


def dtype_name(dtype: int) -> str:
    """DT_INT64 -> 'int64' (for messages)."""
    name = types_pb2.DataType.Name(dtype) if dtype in types_pb2.DataType.values() else str(dtype)
    return name[3:].lower() if name.startswith("DT_") else name


def numpy_dtype(dtype: int) -> np.dtype:
    if dtype not in _TYPES:
        raise TensorError(f"unsupported tensor dtype {dtype_name(dtype)}")
    return np.dtype(_TYPES[dtype][0])


def shape_of(proto: tensor_pb2.TensorProto) -> tuple:
    """The declared shape; TensorError for an unknown rank, a rank above 254 or a dim < 0."""
    if proto.tensor_shape.unknown_rank:
        raise TensorError("tensor has an unknown rank")
    rank = len(proto.tensor_shape.dim)
    if rank > MAX_RANK:
        raise TensorError(f"tensor has rank {rank}; TensorFlow allows at most {MAX_RANK}")
    shape = tuple(int(d.size) for d in proto.tensor_shape.dim)
    if any(d < 0 for d in shape):
        raise TensorError(f"tensor shape {list(shape)} has a negative dimension")
    return shape


def num_elements(shape) -> int:
    """Elements of a shape, as a Python int (no int64 overflow)."""
    return math.prod(int(d) for d in shape)


def check_size(shape, itemsize: int, max_bytes) -> int:
    """Element count of ``shape``; TensorError when it needs more than ``max_bytes``."""
    count = num_elements(shape)
    if max_bytes is not None and count * itemsize > max_bytes:
        raise TensorError(f"shape {list(shape)} is {count} elements ({count * itemsize} bytes); "
                          f"this server takes at most {max_bytes} bytes per tensor")
    return count


def to_numpy(proto: tensor_pb2.TensorProto, max_bytes=None) -> np.ndarray:
    """TensorProto -> numpy array (copying nothing it does not have to).

    ``max_bytes``: largest array to build (None: no limit); a larger declared
    shape raises TensorError before anything is allocated.
    """
    if proto.dtype == types_pb2.DT_STRING:
        shape = shape_of(proto)
        count = check_size(shape, np.dtype(object).itemsize, max_bytes)
        values = np.array(list(proto.string_val), dtype=object)
        if values.size > count:
            raise TensorError(f"string_val holds {values.size} values; {list(shape)} has {count}")
        filled = np.full(count, values[-1] if values.size else b"", dtype=object)
        filled[:values.size] = values
        return filled.reshape(shape)
    dtype = numpy_dtype(proto.dtype)
    shape = shape_of(proto)
    count = check_size(shape, dtype.itemsize, max_bytes)
    if proto.tensor_content:
        if len(proto.tensor_content) != count * dtype.itemsize:
            raise TensorError(f"tensor_content holds {len(proto.tensor_content)} bytes; "
                              f"{dtype_name(proto.dtype)} {list(shape)} needs "
                              f"{count * dtype.itemsize}")
        return np.frombuffer(proto.tensor_content, dtype=dtype).reshape(shape)
    field = _TYPES[proto.dtype][1]
    values = getattr(proto, field)
    if proto.dtype == types_pb2.DT_HALF:
        flat = np.asarray(values, np.uint16).view(np.float16)
    else:
        flat = np.asarray(values, dtype=dtype) if len(values) else np.zeros([0], dtype)
    if flat.size == count:
        return flat.reshape(shape)
    if flat.size == 0 and count == 0:
        return flat.reshape(shape)
    if 0 < flat.size < count:  # TensorFlow repeats the last value to fill the shape
        filled = np.full(count, flat[-1], dtype)
        filled[:flat.size] = flat
        return filled.reshape(shape)
    if flat.size == 0:
        return np.zeros(shape, dtype)
    raise TensorError(f"{field} holds {flat.size} values; {list(shape)} has {count}")


def make_shape(shape) -> tensor_shape_pb2.TensorShapeProto:
    return tensor_shape_pb2.TensorShapeProto(
        dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=int(d)) for d in shape])


def from_numpy(value, dtype=None) -> tensor_pb2.TensorProto:
    """numpy array or Python scalar -> TensorProto with ``tensor_content``."""
    array = np.asarray(value, dtype=dtype)
    if array.dtype not in _BY_NUMPY:
        raise TensorError(f"unsupported numpy dtype {array.dtype}")
    if not array.flags.c_contiguous:
        array = np.ascontiguousarray(array)  # (returns >= 1-d arrays: not for scalars)
    if array.dtype.byteorder == ">":
        array = array.astype(array.dtype.newbyteorder("<"))
    return tensor_pb2.TensorProto(dtype=_BY_NUMPY[array.dtype],
                                  tensor_shape=make_shape(array.shape),
                                  tensor_content=array.tobytes())


def numpy_for(dtype: int):
    """The numpy dtype of a DataType enum, or None when not numeric."""
    return np.dtype(_TYPES[dtype][0]) if dtype in _TYPES else None
