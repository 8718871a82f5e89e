"""A model server that speaks TF Serving's gRPC API (and its REST API).

``tensorflow_model_server`` is not installable from PyPI or Debian; this
server implements the part of its API that serving generators needs, with
the servicers generated in ``tensorflow-serving-api``, so that clients
written for TF Serving (``tfvidgen.serving.Client``, ``bin/sample``, curl)
work against either:

* ``tensorflow.serving.PredictionService``: ``Predict`` and
  ``GetModelMetadata`` (``signature_def``); ``Classify``, ``Regress`` and
  ``MultiInference`` answer UNIMPLEMENTED.
* ``tensorflow.serving.ModelService``: ``GetModelStatus`` and
  ``HandleReloadConfigRequest``.
* REST on ``rest_api_port`` (off by default, as in TF Serving):
  ``GET /v1/models/NAME[/versions/V|/labels/L][/metadata]`` and
  ``POST .../NAME[...]:predict`` with ``{"signature_name", "inputs"}``
  (columnar) or ``{"instances"}`` (row) bodies.

Models come from a ``ModelServerConfig`` (``models.config``) or one
name/base path. Each base path holds numeric version folders; a background
thread looks at them every ``poll_wait_s`` seconds, loads new versions
(``tf.saved_model.load``, then replays the version's warm-up requests)
before it unloads the ones the version policy no longer wants, so a model
keeps being served while a new version arrives. Requests without a version
get the highest available one; ``version`` and ``version_label`` pick
others.

Requests are checked against the SignatureDef before anything runs, and a
bad one gets INVALID_ARGUMENT or NOT_FOUND with a message that names the
problem: unknown model, version, label or signature, unknown or missing
input, wrong dtype or shape, or a count (``num_videos``, ``num_images``,
``steps``) above ``max_batch_size``. One deviation from
``tensorflow_model_server``: it answers FAILED_PRECONDITION for an unknown
signature; this server INVALID_ARGUMENT.
"""
from __future__ import annotations

import concurrent.futures
import dataclasses
import json
import logging
import os
import re
import threading
import time
from http import server as http_server
from typing import Dict, List, Mapping, Optional, Sequence

import grpc
import numpy as np
import tensorflow as tf
from google.protobuf import json_format
from tensorflow.core.protobuf import error_codes_pb2
from tensorflow_serving.apis import (get_model_metadata_pb2, get_model_status_pb2,
                                     model_management_pb2, model_pb2, model_service_pb2_grpc,
                                     predict_pb2, prediction_service_pb2_grpc, status_pb2)

from tfvidgen.serving import config as config_lib
from tfvidgen.serving import savedmodel, tensors
from tfvidgen.serving.errors import HTTP_STATUS, ServingError, invalid, not_found

log = logging.getLogger("tfvidgen.serving")

State = get_model_status_pb2.ModelVersionStatus.State
COUNT_INPUTS = ("num_videos", "num_images", "steps")  # how many items a request asks for
FRAME_INPUTS = ("num_frames",)
LOCALHOST = "127.0.0.1"


@dataclasses.dataclass
class Limits:
    """Largest requests the server runs (0: no limit).

    Attributes:
      max_batch_size: largest ``num_videos`` / ``num_images`` / ``steps``.
      max_num_frames: largest ``num_frames``.
      num_threads: model runs at once (0: as many as gRPC threads).
      max_queued: requests that may wait for a run slot; more get
        UNAVAILABLE (0: no bound).
    """
    max_batch_size: int = 64
    max_num_frames: int = 256
    num_threads: int = 0
    max_queued: int = 0


# One loaded version -----------------------------------------------------------------
class Servable:
    """A loaded SavedModel version: its SignatureDefs and callable signatures."""

    def __init__(self, name: str, version: int, path: str):
        self.name, self.version, self.path = name, version, path
        self.signatures = savedmodel.signature_defs(path)
        self.defaults = {k: savedmodel.default_values(s) for k, s in self.signatures.items()}
        self._loaded = tf.saved_model.load(path, tags=[savedmodel.SERVE_TAG])
        self._functions = self._loaded.signatures

    def run(self, signature: str, inputs: Dict[str, np.ndarray],
            outputs: Sequence[str]) -> Dict[str, np.ndarray]:
        result = self._functions[signature](**{k: tf.constant(v) for k, v in inputs.items()})
        return {k: result[k].numpy() for k in outputs}


def _shape_ok(info, shape) -> bool:
    if info.tensor_shape.unknown_rank:
        return True
    dims = [d.size for d in info.tensor_shape.dim]
    return len(dims) == len(shape) and all(d < 0 or d == s for d, s in zip(dims, shape))


def prepare(servable: Servable, request: predict_pb2.PredictRequest,
            limits: Optional[Limits]):
    """Checks a PredictRequest against the signature.

    Returns (signature name, inputs with defaults filled in, output keys);
    raises ServingError naming what is wrong.
    """
    name = request.model_spec.signature_name or savedmodel.DEFAULT_SIGNATURE
    sig = servable.signatures.get(name)
    if sig is None:
        raise invalid(f"Serving signature {name!r} not found in model {servable.name!r} "
                      f"version {servable.version}; it has: {', '.join(sorted(servable.signatures))}")
    defaults = servable.defaults[name]
    expected = ", ".join(f"{k} ({tensors.dtype_name(sig.inputs[k].dtype)}"
                         f"{', optional' if k in defaults else ''})" for k in sorted(sig.inputs))
    extra = sorted(set(request.inputs) - set(sig.inputs))
    if extra:
        raise invalid(f"input {', '.join(map(repr, extra))} is not an input of signature "
                      f"{name!r}; its inputs are: {expected}")
    missing = sorted(set(sig.inputs) - set(request.inputs) - set(defaults))
    if missing:
        raise invalid(f"missing input {', '.join(map(repr, missing))} of signature {name!r}; "
                      f"its inputs are: {expected}")
    inputs = {}
    for key in sorted(sig.inputs):
        info = sig.inputs[key]
        if key not in request.inputs:
            inputs[key] = defaults[key]
            continue
        proto = request.inputs[key]
        if proto.dtype != info.dtype:
            raise invalid(f"input {key!r} of signature {name!r} must be "
                          f"{tensors.dtype_name(info.dtype)}, got {tensors.dtype_name(proto.dtype)}")
        try:
            value = tensors.to_numpy(proto)
        except tensors.TensorError as e:
            raise invalid(f"input {key!r}: {e}") from None
        if not _shape_ok(info, value.shape):
            raise invalid(f"input {key!r} of signature {name!r} must have shape "
                          f"{savedmodel.shape_text(info.tensor_shape)} (rank "
                          f"{len(info.tensor_shape.dim)}), got {list(value.shape)}")
        inputs[key] = value
    if limits is not None:
        for key, value in inputs.items():
            if value.ndim != 0 or key not in COUNT_INPUTS + FRAME_INPUTS:
                continue
            bound = limits.max_batch_size if key in COUNT_INPUTS else limits.max_num_frames
            flag = "--max_batch_size" if key in COUNT_INPUTS else "--max_num_frames"
            if int(value) < 1:
                raise invalid(f"{key}={int(value)} must be >= 1")
            if bound and int(value) > bound:
                raise invalid(f"{key}={int(value)} is above this server's maximum of {bound} "
                              f"per request ({flag}); ask for less, or let the client split "
                              "the request (Client(max_batch_size=...))")
    outputs = list(request.output_filter) or sorted(sig.outputs)
    for key in outputs:
        if key not in sig.outputs:
            raise invalid(f"output tensor alias not found in signature: {key}. Outputs expected "
                          f"to be in the set {{{','.join(sorted(sig.outputs))}}}.")
    if len(set(outputs)) != len(outputs):
        raise invalid("duplicate output tensor alias in output_filter")
    return name, inputs, outputs


def run_errors(fn):
    """Runs fn; TensorFlow errors become ServingErrors with matching codes."""
    try:
        return fn()
    except ServingError:
        raise
    except tf.errors.InvalidArgumentError as e:
        raise invalid(e.message) from None
    except tf.errors.ResourceExhaustedError as e:
        raise ServingError(grpc.StatusCode.RESOURCE_EXHAUSTED, e.message) from None
    except tf.errors.OpError as e:
        raise ServingError(grpc.StatusCode.INTERNAL, e.message) from None
    except Exception as e:  # the server keeps serving whatever one request did
        log.exception("request failed")
        raise ServingError(grpc.StatusCode.INTERNAL, f"{type(e).__name__}: {e}") from None


# Versions of models ------------------------------------------------------------------
@dataclasses.dataclass
class VersionRecord:
    state: int = State.START
    servable: Optional[Servable] = None
    error: str = ""
    attempts: int = 0
    last_attempt: float = 0.0


class ModelEntry:
    def __init__(self, config: config_lib.ModelConfig):
        self.config = config
        self.versions: Dict[int, VersionRecord] = {}
        self.warned = ""

    @property
    def name(self):
        return self.config.name

    def available(self) -> Dict[int, Servable]:
        return {v: r.servable for v, r in self.versions.items() if r.state == State.AVAILABLE}


def _on_disk_versions(base_path: str) -> List[int]:
    try:
        names = os.listdir(base_path)
    except OSError:
        return []
    return sorted(int(n) for n in names
                  if n.isdigit() and os.path.isdir(os.path.join(base_path, n)))


def aspired_versions(config: config_lib.ModelConfig, on_disk: Sequence[int]) -> List[int]:
    """The versions the version policy wants, of those on disk (TF Serving's rules)."""
    policy = config.model_version_policy
    kind = policy.WhichOneof("policy_choice") or "latest"
    if kind == "all":
        return list(on_disk)
    if kind == "specific":
        return [v for v in on_disk if v in set(policy.specific.versions)]
    n = policy.latest.num_versions if policy.HasField("latest") else 1
    return list(on_disk)[-max(n, 1):] if on_disk else []


class ServableManager:
    """Loads, serves and unloads the versions of the configured models."""

    def __init__(self, model_config: config_lib.ModelServerConfig, poll_wait_s: float = 1.0,
                 warmup: bool = True, load_retries: int = 5, load_retry_interval_s: float = 60.0):
        self.poll_wait_s = poll_wait_s
        self.warmup = warmup
        self.load_retries = load_retries
        self.load_retry_interval_s = load_retry_interval_s
        self._lock = threading.RLock()        # models and their version records
        self._poll_lock = threading.Lock()    # one poll (load/unload pass) at a time
        self._models: Dict[str, ModelEntry] = {}
        self._stop = threading.Event()
        self._thread = None
        self.config_file = None
        self.config_poll_s = 0.0
        self._config_mtime = None
        self.set_config(model_config)

    # Configuration ---------------------------------------------------------------------
    def set_config(self, model_config: config_lib.ModelServerConfig) -> None:
        """Replaces the set of models (versions of removed models are unloaded)."""
        configs = {c.name: c for c in model_config.model_config_list.config}
        with self._lock:
            for name in list(self._models):
                if name not in configs:
                    for record in self._models[name].versions.values():
                        record.state, record.servable = State.END, None
                    del self._models[name]
                    log.info("model %s removed from the config: unloaded", name)
            for name, c in configs.items():
                entry = self._models.get(name)
                copy = config_lib.ModelConfig()
                copy.CopyFrom(c)
                if entry is None:
                    self._models[name] = ModelEntry(copy)
                else:
                    entry.config = copy

    def reload_config(self, model_config: config_lib.ModelServerConfig) -> None:
        """HandleReloadConfigRequest: new config, then one load pass (returns when done)."""
        self.set_config(model_config)
        self.poll_once()

    def _maybe_reread_config_file(self):
        if not self.config_file or self.config_poll_s <= 0:
            return
        try:
            mtime = os.stat(self.config_file).st_mtime_ns
        except OSError:
            return
        if mtime != self._config_mtime:
            self._config_mtime = mtime
            try:
                self.set_config(config_lib.read_model_config(self.config_file))
                log.info("re-read %s", self.config_file)
            except ValueError as e:
                log.error("keeping the previous config: %s", e)

    # Loading ----------------------------------------------------------------------------
    def poll_once(self) -> None:
        """One pass: load wanted versions, then unload unwanted ones, for every model."""
        with self._poll_lock:
            with self._lock:
                entries = list(self._models.values())
            for entry in entries:
                self._poll_model(entry)

    def _poll_model(self, entry: ModelEntry) -> None:
        base = entry.config.base_path
        on_disk = _on_disk_versions(base)
        wanted = aspired_versions(entry.config, on_disk)
        if not wanted:
            message = (f"no version folders under {base}" if not on_disk else
                       f"versions {on_disk} under {base}, none wanted by the version policy")
            if entry.warned != message:
                log.warning("model %s: %s", entry.name, message)
                entry.warned = message
        else:
            entry.warned = ""
        for version in wanted:
            with self._lock:
                record = entry.versions.setdefault(version, VersionRecord())
            if record.state == State.AVAILABLE:
                continue
            if record.state == State.END and record.error:
                retry_due = time.monotonic() - record.last_attempt >= self.load_retry_interval_s
                if record.attempts > self.load_retries or not retry_due:
                    continue
            self._load(entry, version, record)
        with self._lock:
            serving = any(entry.versions[v].state == State.AVAILABLE for v in wanted
                          if v in entry.versions)
            for version, record in list(entry.versions.items()):
                if version in wanted:
                    continue
                if record.state == State.AVAILABLE and (serving or version not in on_disk):
                    record.state = State.UNLOADING
                    record.servable = None
                    record.state = State.END
                    log.info("model %s: unloaded version %d", entry.name, version)
                elif record.state in (State.START, State.LOADING) or (
                        record.state == State.END and version not in on_disk):
                    del entry.versions[version]

    def _load(self, entry: ModelEntry, version: int, record: VersionRecord) -> None:
        path = os.path.join(entry.config.base_path, str(version))
        with self._lock:
            record.state = State.LOADING
            record.attempts += 1
            record.last_attempt = time.monotonic()
        start = time.monotonic()
        try:
            servable = Servable(entry.name, version, path)
            replayed = self._replay_warmup(servable) if self.warmup else 0
        except Exception as e:  # a bad version must not take the server down
            with self._lock:
                record.state, record.servable = State.END, None
                record.error = f"{type(e).__name__}: {e}"
            log.error("model %s: loading version %d failed (attempt %d): %s", entry.name,
                      version, record.attempts, record.error)
            return
        with self._lock:
            record.state, record.servable, record.error = State.AVAILABLE, servable, ""
        log.info("model %s: version %d available (%.1f s, %d warm-up requests) from %s",
                 entry.name, version, time.monotonic() - start, replayed, path)

    @staticmethod
    def _replay_warmup(servable: Servable) -> int:
        requests = savedmodel.read_warmup(servable.path)
        for i, request in enumerate(requests):
            try:
                name, inputs, outputs = prepare(servable, request, limits=None)
                run_errors(lambda: servable.run(name, inputs, outputs))
            except ServingError as e:
                raise RuntimeError(f"warm-up request {i} failed: {e}") from None
        return len(requests)

    # Background polling -----------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._poll_loop, name="tfvidgen-version-poll",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)
            self._thread = None

    def _poll_loop(self):
        while not self._stop.wait(self.poll_wait_s):
            try:
                self._maybe_reread_config_file()
                self.poll_once()
            except Exception:  # keep polling
                log.exception("version poll failed")

    # Requests ---------------------------------------------------------------------------
    def _entry(self, name: str) -> ModelEntry:
        if not name:
            raise invalid("Missing model_spec.name: the request must name a model")
        entry = self._models.get(name)
        if entry is None:
            known = ", ".join(sorted(self._models)) or "none"
            raise not_found(f"Servable not found for request: model {name!r} is not served "
                            f"(models: {known})")
        return entry

    def resolve(self, spec: model_pb2.ModelSpec) -> Servable:
        """The servable a ModelSpec asks for: a version, a label or the latest."""
        with self._lock:
            entry = self._entry(spec.name)
            available = entry.available()
            choice = spec.WhichOneof("version_choice")
            if choice == "version_label":
                label = spec.version_label
                if label not in entry.config.version_labels:
                    labels = ", ".join(sorted(entry.config.version_labels)) or "none"
                    raise invalid(f"Unrecognized servable version label: {label!r} for model "
                                  f"{spec.name!r} (labels: {labels})")
                version = entry.config.version_labels[label]
                if version not in available:
                    raise not_found(f"version label {label!r} of model {spec.name!r} points to "
                                    f"version {version}, which is not available "
                                    f"(available: {sorted(available) or 'none'})")
                return available[version]
            if choice == "version":
                version = spec.version.value
                if version not in available:
                    raise not_found(f"Servable not found for request: Specific({spec.name}, "
                                    f"{version}); available versions: "
                                    f"{sorted(available) or 'none'}")
                return available[version]
            if not available:
                raise not_found(f"Servable not found for request: Latest({spec.name}): no "
                                f"version of model {spec.name!r} is available yet "
                                f"(base path {entry.config.base_path})")
            return available[max(available)]

    def status(self, spec: model_pb2.ModelSpec) -> List[get_model_status_pb2.ModelVersionStatus]:
        with self._lock:
            entry = self._entry(spec.name)
            choice = spec.WhichOneof("version_choice")
            versions = sorted(entry.versions)
            if choice == "version_label":
                if spec.version_label not in entry.config.version_labels:
                    raise invalid(f"Unrecognized servable version label: {spec.version_label!r}")
                versions = [entry.config.version_labels[spec.version_label]]
            elif choice == "version":
                versions = [spec.version.value]
            out = []
            for version in versions:
                record = entry.versions.get(version)
                if record is None:
                    if choice:
                        raise not_found(f"Could not find version {version} of model "
                                        f"{spec.name!r}")
                    continue
                code = error_codes_pb2.UNKNOWN if record.error else error_codes_pb2.OK
                out.append(get_model_status_pb2.ModelVersionStatus(
                    version=version, state=record.state,
                    status=status_pb2.StatusProto(error_code=code, error_message=record.error)))
            if not out:
                raise not_found(f"Could not find any versions of model {spec.name!r}")
            return out

    def models(self) -> Dict[str, List[int]]:
        with self._lock:
            return {n: sorted(e.available()) for n, e in self._models.items()}


# The request path shared by gRPC, REST and warm-up -------------------------------------
class _Slots:
    """At most ``num`` model runs at once, at most ``queue`` requests waiting."""

    def __init__(self, num: int, queue: int):
        self._sem = threading.BoundedSemaphore(num) if num > 0 else None
        self._queue = queue
        self._waiting = 0
        self._lock = threading.Lock()

    def __enter__(self):
        if self._sem is None:
            return self
        if not self._sem.acquire(blocking=False):
            with self._lock:
                if self._queue and self._waiting >= self._queue:
                    raise ServingError(grpc.StatusCode.UNAVAILABLE,
                                       "The server's request queue is full; retry later")
                self._waiting += 1
            try:
                self._sem.acquire()
            finally:
                with self._lock:
                    self._waiting -= 1
        return self

    def __exit__(self, *exc):
        if self._sem is not None:
            self._sem.release()


class ServingCore:
    """Predict / metadata / status over a ServableManager (transport-independent)."""

    def __init__(self, manager: ServableManager, limits: Limits):
        self.manager = manager
        self.limits = limits
        self._slots = _Slots(limits.num_threads, limits.max_queued)

    def predict(self, request: predict_pb2.PredictRequest) -> predict_pb2.PredictResponse:
        servable = self.manager.resolve(request.model_spec)
        name, inputs, outputs = prepare(servable, request, self.limits)
        with self._slots:
            result = run_errors(lambda: servable.run(name, inputs, outputs))
        response = predict_pb2.PredictResponse()
        response.model_spec.name = servable.name
        response.model_spec.version.value = servable.version
        response.model_spec.signature_name = name
        for key, value in result.items():
            response.outputs[key].CopyFrom(tensors.from_numpy(value))
        return response

    def metadata(self, request: get_model_metadata_pb2.GetModelMetadataRequest):
        fields = list(request.metadata_field)
        if not fields:
            raise invalid("GetModelMetadataRequest must specify at least one metadata_field "
                          "(signature_def)")
        unsupported = [f for f in fields if f != "signature_def"]
        if unsupported:
            raise invalid(f"Metadata field {unsupported[0]} is not supported (only "
                          "signature_def)")
        servable = self.manager.resolve(request.model_spec)
        sig_map = get_model_metadata_pb2.SignatureDefMap()
        for key, sig in servable.signatures.items():
            sig_map.signature_def[key].CopyFrom(sig)
        response = get_model_metadata_pb2.GetModelMetadataResponse()
        response.model_spec.name = servable.name
        response.model_spec.version.value = servable.version
        response.metadata["signature_def"].Pack(sig_map)
        return response

    def status(self, request: get_model_status_pb2.GetModelStatusRequest):
        return get_model_status_pb2.GetModelStatusResponse(
            model_version_status=self.manager.status(request.model_spec))


# gRPC ---------------------------------------------------------------------------------
def _grpc(fn):
    def method(self, request, context):
        try:
            return fn(self, request)
        except ServingError as e:
            context.abort(e.code, e.message)
    method.__name__ = fn.__name__
    return method


class PredictionServicer(prediction_service_pb2_grpc.PredictionServiceServicer):
    def __init__(self, core: ServingCore):
        self.core = core

    @_grpc
    def Predict(self, request):
        return self.core.predict(request)

    @_grpc
    def GetModelMetadata(self, request):
        return self.core.metadata(request)

    def _unimplemented(self, request, context):
        context.abort(grpc.StatusCode.UNIMPLEMENTED,
                      "tfvidgen's server implements Predict and GetModelMetadata only: the "
                      "generators' signatures are predict signatures")

    Classify = Regress = MultiInference = _unimplemented


class ModelServicer(model_service_pb2_grpc.ModelServiceServicer):
    def __init__(self, core: ServingCore):
        self.core = core

    @_grpc
    def GetModelStatus(self, request):
        return self.core.status(request)

    @_grpc
    def HandleReloadConfigRequest(self, request):
        if request.config.WhichOneof("config") != "model_config_list":
            raise invalid("ReloadConfigRequest needs a model_config_list")
        self.core.manager.reload_config(request.config)
        return model_management_pb2.ReloadConfigResponse(
            status=status_pb2.StatusProto(error_code=error_codes_pb2.OK))


# REST ---------------------------------------------------------------------------------
_REST_PATH = re.compile(
    r"^/v1/models/(?P<name>[^/:]+)(?:/versions/(?P<version>\d+)|/labels/(?P<label>[^/:]+))?"
    r"(?P<tail>/metadata|:predict)?$")


def _json_message(message) -> dict:
    return json_format.MessageToDict(message, preserving_proto_field_name=True,
                                      always_print_fields_with_no_presence=True)


def _json_tensor(value: np.ndarray):
    return value.tolist()


def _request_from_json(body: dict, spec: model_pb2.ModelSpec, servable: Servable):
    """TF Serving's JSON predict body -> PredictRequest (and whether it was columnar)."""
    if not isinstance(body, dict):
        raise invalid("JSON body must be an object with 'inputs' or 'instances'")
    sig_name = body.get("signature_name") or savedmodel.DEFAULT_SIGNATURE
    request = predict_pb2.PredictRequest()
    request.model_spec.CopyFrom(spec)
    request.model_spec.signature_name = sig_name
    sig = servable.signatures.get(sig_name)
    if ("inputs" in body) == ("instances" in body):
        raise invalid("JSON body must have exactly one of 'inputs' (columnar) or "
                      "'instances' (row format)")
    if "inputs" in body:
        columnar = True
        values = body["inputs"]
        if not isinstance(values, dict):
            if sig is not None and len(sig.inputs) == 1:
                values = {next(iter(sig.inputs)): values}
            else:
                raise invalid("'inputs' must be an object of named inputs")
    else:
        columnar = False
        rows = body["instances"]
        if not isinstance(rows, list) or not rows:
            raise invalid("'instances' must be a non-empty list")
        if all(isinstance(r, dict) for r in rows):
            keys = set(rows[0])
            if any(set(r) != keys for r in rows):
                raise invalid("every instance must have the same named inputs")
            values = {k: [r[k] for r in rows] for k in keys}
        elif sig is not None and len(sig.inputs) == 1:
            values = {next(iter(sig.inputs)): rows}
        else:
            raise invalid("'instances' must be a list of objects of named inputs")
    for key, value in values.items():
        dtype = None
        if sig is not None and key in sig.inputs:
            dtype = tensors.numpy_for(sig.inputs[key].dtype)
        try:
            array = np.asarray(value)
            if dtype is not None:
                if dtype.kind in "iu" and array.dtype.kind == "f":
                    if not np.all(np.equal(np.mod(array, 1), 0)):
                        raise ValueError(f"non-integer value for {np.dtype(dtype).name}")
                array = array.astype(dtype)
        except (TypeError, ValueError) as e:
            raise invalid(f"input {key!r}: {e}") from None
        try:
            request.inputs[key].CopyFrom(tensors.from_numpy(array))
        except tensors.TensorError as e:
            raise invalid(f"input {key!r}: {e}") from None
    for key in body.get("output_filter", []) or []:
        request.output_filter.append(key)
    return request, columnar


class _RestHandler(http_server.BaseHTTPRequestHandler):
    core: ServingCore = None  # set on the subclass made per server
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet: requests are not logged
        log.debug("rest %s", fmt % args)

    def _reply(self, status: int, payload: dict):
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _spec(self, match) -> model_pb2.ModelSpec:
        spec = model_pb2.ModelSpec(name=match["name"])
        if match["version"]:
            spec.version.value = int(match["version"])
        elif match["label"]:
            spec.version_label = match["label"]
        return spec

    def _handle(self, method: str):
        match = _REST_PATH.match(self.path.split("?", 1)[0])
        try:
            if match is None:
                raise not_found(f"Malformed request: {method} {self.path}")
            tail = match["tail"]
            spec = self._spec(match)
            if method == "GET" and tail is None:
                request = get_model_status_pb2.GetModelStatusRequest(model_spec=spec)
                return self._reply(200, _json_message(self.core.status(request)))
            if method == "GET" and tail == "/metadata":
                request = get_model_metadata_pb2.GetModelMetadataRequest(
                    model_spec=spec, metadata_field=["signature_def"])
                return self._reply(200, _json_message(self.core.metadata(request)))
            if method == "POST" and tail == ":predict":
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                except json.JSONDecodeError as e:
                    raise invalid(f"JSON parse error: {e}") from None
                servable = self.core.manager.resolve(spec)
                request, columnar = _request_from_json(body, spec, servable)
                response = self.core.predict(request)
                outputs = {k: tensors.to_numpy(v) for k, v in response.outputs.items()}
                if columnar:
                    payload = (_json_tensor(next(iter(outputs.values()))) if len(outputs) == 1
                               else {k: _json_tensor(v) for k, v in outputs.items()})
                    return self._reply(200, {"outputs": payload})
                n = {v.shape[0] if v.ndim else None for v in outputs.values()}
                if len(n) != 1 or None in n:
                    raise invalid("row-format ('instances') output needs outputs with one "
                                  "batch size; use 'inputs'")
                rows = [{k: _json_tensor(v[i]) for k, v in outputs.items()} if len(outputs) > 1
                        else _json_tensor(next(iter(outputs.values()))[i]) for i in range(n.pop())]
                return self._reply(200, {"predictions": rows})
            raise not_found(f"Malformed request: {method} {self.path}")
        except ServingError as e:
            self._reply(HTTP_STATUS.get(e.code, 500), {"error": e.message})
        except Exception as e:  # keep serving
            log.exception("REST request failed")
            self._reply(500, {"error": f"{type(e).__name__}: {e}"})

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")


# The server ---------------------------------------------------------------------------
class ModelServer:
    """gRPC (and optional REST) server over the configured models.

    Example::

        with ModelServer(config_lib.single_model_config("rjgan", "exports/rjgan"),
                         port=0) as server:
            print(server.port)   # the port actually bound

    Args:
      model_config: a ModelServerConfig (``config.read_model_config``).
      host: interface to bind; loopback unless told otherwise.
      port: gRPC port; 0 picks a free one (``.port`` says which).
      rest_api_port: REST port; None for no REST, 0 for a free one.
      poll_wait_s: seconds between looks at the version folders (and at
        ``model_config_file`` when ``config_poll_s`` > 0).
      limits: request limits (Limits).
      max_workers: gRPC threads.
      max_message_bytes: largest request the server accepts (responses are
        not limited on the server side; clients set their own receive limit).
    """

    def __init__(self, model_config: config_lib.ModelServerConfig, host: str = LOCALHOST,
                 port: int = 8500, rest_api_port: Optional[int] = None,
                 poll_wait_s: float = 1.0, limits: Optional[Limits] = None,
                 max_workers: int = 16, max_message_bytes: int = 64 << 20,
                 warmup: bool = True, model_config_file: Optional[str] = None,
                 config_poll_s: float = 0.0):
        self.host = host
        self.limits = limits or Limits()
        self.manager = ServableManager(model_config, poll_wait_s=poll_wait_s, warmup=warmup)
        self.manager.config_file = model_config_file
        self.manager.config_poll_s = config_poll_s
        if model_config_file:
            self.manager._config_mtime = os.stat(model_config_file).st_mtime_ns
        self.core = ServingCore(self.manager, self.limits)
        self._requested_port = port
        self._rest_requested = rest_api_port
        self._max_workers = max_workers
        self._max_message_bytes = max_message_bytes
        self._grpc = None
        self._rest = None
        self._rest_thread = None
        self.port = None
        self.rest_port = None
        self._stopped = threading.Event()

    def start(self) -> "ModelServer":
        """Loads the available versions (as TF Serving does before it listens), then binds."""
        self.manager.poll_once()
        options = [("grpc.max_receive_message_length", self._max_message_bytes),
                   ("grpc.max_send_message_length", -1),
                   ("grpc.so_reuseport", 0)]
        server = grpc.server(concurrent.futures.ThreadPoolExecutor(
            max_workers=self._max_workers, thread_name_prefix="tfvidgen-grpc"), options=options)
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
            PredictionServicer(self.core), server)
        model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelServicer(self.core),
                                                                  server)
        address = f"{_bracket(self.host)}:{self._requested_port}"
        try:
            port = server.add_insecure_port(address)
        except RuntimeError as e:
            raise OSError(f"cannot listen on {address}: {e}") from None
        if not port:
            raise OSError(f"cannot listen on {address} (port in use?)")
        server.start()
        self._grpc, self.port = server, port
        if self._rest_requested is not None:
            handler = type("Handler", (_RestHandler,), {"core": self.core})
            self._rest = http_server.ThreadingHTTPServer((self.host, self._rest_requested),
                                                        handler)
            self._rest.daemon_threads = True
            self.rest_port = self._rest.server_address[1]
            self._rest_thread = threading.Thread(target=self._rest.serve_forever,
                                                 name="tfvidgen-rest", daemon=True)
            self._rest_thread.start()
        self.manager.start()
        log.info("serving %s on %s:%d (gRPC)%s", _describe_models(self.manager.models()),
                 self.host, self.port,
                 f" and {self.host}:{self.rest_port} (REST)" if self._rest else "")
        return self

    def stop(self, grace: float = 1.0) -> None:
        self.manager.stop()
        if self._rest is not None:
            self._rest.shutdown()
            self._rest.server_close()
            self._rest = None
        if self._grpc is not None:
            self._grpc.stop(grace).wait()
            self._grpc = None
        self._stopped.set()

    def wait(self, timeout: Optional[float] = None) -> bool:
        return self._stopped.wait(timeout)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _describe_models(models: Mapping[str, List[int]]) -> str:
    return ", ".join(f"{n} (versions {v or 'none yet'})" for n, v in sorted(models.items())) \
        or "no models"
