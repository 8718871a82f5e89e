"""What a SavedModel promises a server: signature defs and warm-up records.

Read from the files (``saved_model.pb``, ``assets.extra/``) the way
``tensorflow_model_server`` and ``saved_model_cli show`` read them, not from
a Python object, so that what is described is what is served.
"""
from __future__ import annotations

import os
from typing import Dict, Iterable, List

import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import meta_graph_pb2, saved_model_pb2
from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

from tfvidgen.serving import tensors

SERVE_TAG = "serve"
DEFAULT_SIGNATURE = "serving_default"
PREDICT_METHOD = "tensorflow/serving/predict"
WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")
MAX_WARMUP_RECORDS = 1000  # TF Serving reads at most this many


def read_meta_graph(path: str, tag: str = SERVE_TAG) -> meta_graph_pb2.MetaGraphDef:
    """The MetaGraphDef tagged ``serve`` of the SavedModel in ``path``."""
    pb = os.path.join(path, "saved_model.pb")
    if not tf.io.gfile.exists(pb):
        raise FileNotFoundError(f"{path} holds no saved_model.pb: not a SavedModel version folder")
    saved = saved_model_pb2.SavedModel()
    with tf.io.gfile.GFile(pb, "rb") as f:
        saved.ParseFromString(f.read())
    for meta_graph in saved.meta_graphs:
        if tag in meta_graph.meta_info_def.tags:
            return meta_graph
    raise ValueError(f"{pb} has no MetaGraphDef tagged {tag!r}")


INIT_OP_SIGNATURE = "__saved_model_init_op"  # TF 2's initializer, not a serving signature


def signature_defs(path: str) -> Dict[str, meta_graph_pb2.SignatureDef]:
    """Signature name -> SignatureDef of the serving signatures in ``path``.

    As ``saved_model_cli show --all`` lists them, without TF 2's
    ``__saved_model_init_op`` (an initializer, not something to call).
    """
    return {k: v for k, v in read_meta_graph(path).signature_def.items()
            if k != INIT_OP_SIGNATURE}


def shape_text(shape_proto) -> str:
    if shape_proto.unknown_rank:
        return "unknown rank"
    return "[" + ", ".join("?" if d.size < 0 else str(d.size) for d in shape_proto.dim) + "]"


def default_values(signature: meta_graph_pb2.SignatureDef) -> Dict[str, np.ndarray]:
    """Inputs a request may leave out, with the value used then."""
    return {key: tensors.to_numpy(proto) for key, proto in signature.defaults.items()}


def describe_signatures(sigs: Dict[str, meta_graph_pb2.SignatureDef]) -> List[str]:
    """One block per signature: inputs (dtype, shape, tensor, default) and outputs."""
    lines = []
    for name in sorted(sigs):
        sig = sigs[name]
        defaults = default_values(sig)
        lines.append(f"signature {name}:  (method {sig.method_name})")
        for key in sorted(sig.inputs):
            info = sig.inputs[key]
            extra = ""
            if key in defaults:
                extra = f"  optional, default {defaults[key].tolist()}"
            lines.append(f"  input  {key}: {tensors.dtype_name(info.dtype)} "
                         f"{shape_text(info.tensor_shape)}  ({info.name}){extra}")
        for key in sorted(sig.outputs):
            info = sig.outputs[key]
            lines.append(f"  output {key}: {tensors.dtype_name(info.dtype)} "
                         f"{shape_text(info.tensor_shape)}  ({info.name})")
    return lines


# Warm-up ---------------------------------------------------------------------------
def predict_request(model_name: str, signature: str, inputs: dict,
                    sig: meta_graph_pb2.SignatureDef = None) -> predict_pb2.PredictRequest:
    """A PredictRequest; values are cast to the signature's dtypes when it is given."""
    request = predict_pb2.PredictRequest(
        model_spec=model_pb2.ModelSpec(name=model_name, signature_name=signature))
    for key, value in inputs.items():
        dtype = tensors.numpy_for(sig.inputs[key].dtype) if sig is not None else None
        request.inputs[key].CopyFrom(tensors.from_numpy(value, dtype))
    return request


def write_warmup(path: str, requests: Iterable[predict_pb2.PredictRequest]) -> str:
    """Writes ``assets.extra/tf_serving_warmup_requests`` (TFRecord of PredictionLog)."""
    requests = list(requests)
    if len(requests) > MAX_WARMUP_RECORDS:
        raise ValueError(f"{len(requests)} warm-up requests: TF Serving reads at most "
                         f"{MAX_WARMUP_RECORDS}")
    target = os.path.join(path, WARMUP_FILE)
    tf.io.gfile.makedirs(os.path.dirname(target))
    with tf.io.TFRecordWriter(target) as writer:
        for request in requests:
            log = prediction_log_pb2.PredictionLog(
                predict_log=prediction_log_pb2.PredictLog(request=request))
            writer.write(log.SerializeToString())
    return target


def read_warmup(path: str) -> List[predict_pb2.PredictRequest]:
    """The Predict requests of a version's warm-up file (empty when it has none)."""
    target = os.path.join(path, WARMUP_FILE)
    if not tf.io.gfile.exists(target):
        return []
    requests = []
    for i, record in enumerate(tf.data.TFRecordDataset(target).as_numpy_iterator()):
        if i >= MAX_WARMUP_RECORDS:
            break
        log = prediction_log_pb2.PredictionLog.FromString(record)
        if log.WhichOneof("log_type") != "predict_log":
            raise ValueError(f"{target}: record {i} is a {log.WhichOneof('log_type')}; "
                             "only predict_log warm-up records are supported")
        requests.append(log.predict_log.request)
    return requests
