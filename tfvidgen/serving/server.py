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

What one request or many can make the server hold is bounded (``Limits``,
docs/reliability.md): a tensor's dtype, rank and element count are checked
against the signature and ``max_request_bytes`` before any array is built
(a 74-byte proto can declare a 16 GiB tensor); a REST body above the limit
is refused with 413 without being read, and sockets have read timeouts;
at most ``max_concurrent_runs`` model runs at once and
``max_queued_runs`` waiting, further requests get RESOURCE_EXHAUSTED (REST
429) at once.
"""
from __future__ import annotations

import concurrent.futures
import dataclasses
import json
import logging
import os
import re
import socket
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
from tfvidgen.serving.errors import HTTP_STATUS, OVERLOADED, ServingError, invalid, not_found

log = logging.getLogger("tfvidgen.serving")

State = get_model_status_pb2.ModelVersionStatus.State
COUNT_INPUTS = ("num_videos", "num_images", "steps")  # how many items a request asks for
FRAME_INPUTS = ("num_frames",)
LOCALHOST = "127.0.0.1"


def default_concurrent_runs() -> int:
    """The cores this process may use, at most 4 (the default of ``max_concurrent_runs``).

    Each run already spreads its ops over every core (TensorFlow's intra-op
    pool), so more runs than cores only slow every run down; the cap of 4
    bounds memory on large machines (a 64-video request of the reference
    RJGAN holds about 0.7 GB while it runs).
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(4, cores))


@dataclasses.dataclass
class Limits:
    """What one request, and all requests together, may make the server hold.

    Attributes:
      max_batch_size: largest ``num_videos`` / ``num_images`` / ``steps``
        (0: no limit).
      max_num_frames: largest ``num_frames`` (0: no limit).
      max_concurrent_runs: model runs at once (0: no limit).
      max_queued_runs: requests that may wait for a run; further ones get
        RESOURCE_EXHAUSTED at once (0: none wait).
      max_request_bytes: largest gRPC request message and REST body, and
        largest input tensor once decoded (a typed field with one value
        fills the whole declared shape).
    """
    max_batch_size: int = 64
    max_num_frames: int = 256
    max_concurrent_runs: int = dataclasses.field(default_factory=default_concurrent_runs)
    max_queued_runs: int = 8
    max_request_bytes: int = 64 << 20


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


def _check_shape(signature: str, key: str, info, shape) -> None:
    if not _shape_ok(info, shape):
        raise invalid(f"input {key!r} of signature {signature!r} must have shape "
                      f"{savedmodel.shape_text(info.tensor_shape)} (rank "
                      f"{len(info.tensor_shape.dim)}), got {list(shape)}")


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
        # Shape and size first: the proto may declare far more than it holds.
        max_bytes = limits.max_request_bytes if limits is not None else None
        try:
            _check_shape(name, key, info, tensors.shape_of(proto))
            value = tensors.to_numpy(proto, max_bytes=max_bytes)
        except tensors.TensorError as e:
            raise invalid(f"input {key!r}: {e}") from None
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
    """At most ``num`` model runs at once (0: any number), at most ``queue`` waiting.

    A request beyond both is refused at once with RESOURCE_EXHAUSTED, whose
    message starts with ``errors.OVERLOADED`` (clients retry it with
    backoff). ``changed`` is notified whenever ``running`` or ``waiting``
    changes (tests wait on it).
    """

    def __init__(self, num: int, queue: int):
        self.num, self.queue = num, queue
        self.running = 0
        self.waiting = 0
        self.changed = threading.Condition()

    def acquire(self, timeout_s: Optional[float] = None) -> None:
        with self.changed:
            if self.num <= 0 or self.running < self.num:
                self.running += 1
                self.changed.notify_all()
                return
            if self.waiting >= self.queue:
                raise ServingError(
                    grpc.StatusCode.RESOURCE_EXHAUSTED,
                    f"{OVERLOADED}: {self.running} model runs in progress "
                    f"(--max_concurrent_runs={self.num}) and {self.waiting} requests waiting "
                    f"(--max_queued_runs={self.queue}); retry later")
            self.waiting += 1
            self.changed.notify_all()
            try:
                if not self.changed.wait_for(lambda: self.running < self.num, timeout_s):
                    raise ServingError(grpc.StatusCode.DEADLINE_EXCEEDED,
                                       "deadline exceeded while waiting for a model run "
                                       f"({self.running} runs in progress)")
                self.running += 1
            finally:
                self.waiting -= 1
                self.changed.notify_all()

    def release(self) -> None:
        with self.changed:
            self.running -= 1
            self.changed.notify_all()


class ServingCore:
    """Predict / metadata / status over a ServableManager (transport-independent)."""

    def __init__(self, manager: ServableManager, limits: Limits):
        self.manager = manager
        self.limits = limits
        self.slots = _Slots(limits.max_concurrent_runs, limits.max_queued_runs)

    def predict(self, request: predict_pb2.PredictRequest,
                timeout_s: Optional[float] = None) -> predict_pb2.PredictResponse:
        """Checks, waits for a run slot (at most ``timeout_s``: the call's deadline), runs."""
        servable = self.manager.resolve(request.model_spec)
        name, inputs, outputs = prepare(servable, request, self.limits)
        self.slots.acquire(timeout_s)
        try:
            result = run_errors(lambda: servable.run(name, inputs, outputs))
        finally:
            self.slots.release()
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

    def Predict(self, request, context):
        try:
            return self.core.predict(request, timeout_s=context.time_remaining())
        except ServingError as e:
            context.abort(e.code, e.message)

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


def _json_shape(key: str, value) -> List[int]:
    """Shape of nested JSON lists, from their first elements (numpy checks the rest)."""
    shape = []
    while isinstance(value, list):
        if len(shape) >= tensors.MAX_RANK:
            raise invalid(f"input {key!r}: nested deeper than TensorFlow's maximum rank "
                          f"{tensors.MAX_RANK}")
        shape.append(len(value))
        if not value:
            break
        value = value[0]
    return shape


def _check_range(key: str, lo, hi, dtype: np.dtype) -> None:
    info = np.iinfo(dtype)
    for v in (lo, hi):
        if not info.min <= v < info.max + 1:  # (a float 2**63 is out of int64's range)
            shown = f"{v:.17g}" if isinstance(v, float) else str(v)
            raise invalid(f"input {key!r}: {shown} is out of range for {dtype.name} "
                          f"[{info.min}, {info.max}]")


def _cast(key: str, array: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """A JSON array as ``dtype``: integers must be whole and in range (nothing wraps)."""
    kind = array.dtype.kind
    if kind == "O":  # Python ints beyond 64 bits; None, objects: refused
        flat = array.ravel().tolist()
        if not flat or dtype.kind not in "iuf" or not all(
                isinstance(v, int) and not isinstance(v, bool) for v in flat):
            raise invalid(f"input {key!r}: expected {dtype.name} values")
        if dtype.kind == "f":
            try:
                return np.array([float(v) for v in flat], dtype).reshape(array.shape)
            except OverflowError:
                raise invalid(f"input {key!r}: value out of range for {dtype.name}") from None
        _check_range(key, min(flat), max(flat), dtype)
        return np.array(flat, dtype).reshape(array.shape)
    if kind not in "biuf":
        raise invalid(f"input {key!r}: expected {dtype.name} values, got {array.dtype.name}")
    if dtype.kind in "iu" and kind != "b" and array.size:
        if kind == "f":
            if not np.all(np.isfinite(array)) or not np.all(np.equal(np.mod(array, 1), 0)):
                raise invalid(f"input {key!r}: non-integer value for {dtype.name}")
            _check_range(key, float(array.min()), float(array.max()), dtype)
        else:
            _check_range(key, int(array.min()), int(array.max()), dtype)
    return array.astype(dtype)


def _json_input(sig_name: str, key: str, value, info, max_bytes: int) -> np.ndarray:
    """One JSON input -> numpy, checked against its TensorInfo before numpy builds it."""
    dtype = tensors.numpy_for(info.dtype)
    if dtype is None:
        raise invalid(f"input {key!r}: dtype {tensors.dtype_name(info.dtype)} is not supported "
                      "over this server's REST API")
    shape = _json_shape(key, value)
    _check_shape(sig_name, key, info, shape)
    try:
        tensors.check_size(shape, dtype.itemsize, max_bytes)
    except tensors.TensorError as e:
        raise invalid(f"input {key!r}: {e}") from None
    try:
        array = np.asarray(value)
    except (TypeError, ValueError, OverflowError, RecursionError) as e:
        raise invalid(f"input {key!r}: {e}") from None
    if list(array.shape) != shape:
        raise invalid(f"input {key!r}: nested lists of different lengths (shape "
                      f"{shape} from the first elements)")
    return _cast(key, array, dtype)


def _request_from_json(body, spec: model_pb2.ModelSpec, servable: Servable,
                       max_bytes: int = 64 << 20):
    """TF Serving's JSON predict body -> PredictRequest (and whether it was columnar)."""
    if not isinstance(body, dict):
        raise invalid("JSON body must be an object with 'inputs' or 'instances'")
    sig_name = body.get("signature_name") or savedmodel.DEFAULT_SIGNATURE
    if not isinstance(sig_name, str):
        raise invalid("'signature_name' must be a string")
    output_filter = body.get("output_filter") or []
    if not isinstance(output_filter, list) or not all(isinstance(k, str) for k in output_filter):
        raise invalid("'output_filter' must be a list of output names")
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
        if sig is None or key not in sig.inputs:
            request.inputs[key].SetInParent()  # prepare() names the problem
            continue
        array = _json_input(sig_name, key, value, sig.inputs[key], max_bytes)
        try:
            request.inputs[key].CopyFrom(tensors.from_numpy(array))
        except tensors.TensorError as e:
            raise invalid(f"input {key!r}: {e}") from None
    request.output_filter.extend(output_filter)
    return request, columnar


class _HttpError(Exception):
    """An HTTP-level refusal (no gRPC code): 408, 411, 413."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


_CONTENT_LENGTH = re.compile(r"[0-9]+")


class _RestHandler(http_server.BaseHTTPRequestHandler):
    core: ServingCore = None  # set on the subclass made per server
    timeout: float = 30.0     # socket timeout of every read and write; also the body's deadline
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet: requests are not logged
        log.debug("rest %s", fmt % args)

    def _reply(self, status: int, payload: dict, headers: Optional[Mapping[str, str]] = None):
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)

    def _spec(self, match) -> model_pb2.ModelSpec:
        spec = model_pb2.ModelSpec(name=match["name"])
        if match["version"]:
            spec.version.value = int(match["version"])
        elif match["label"]:
            spec.version_label = match["label"]
        return spec

    def _read_body(self) -> bytes:
        """The body, within the size limit and the timeout; the connection closes on errors."""
        limit = self.core.limits.max_request_bytes
        asked_to_close = self.close_connection  # (the client's "Connection: close")
        self.close_connection = True  # until the whole body is read
        if self.headers.get("Transfer-Encoding"):
            raise _HttpError(411, "send the body with a Content-Length (Transfer-Encoding is "
                                  "not supported)")
        values = {v.strip() for v in self.headers.get_all("Content-Length") or []}
        if not values:
            self.close_connection = asked_to_close
            return b""
        if len(values) != 1 or not _CONTENT_LENGTH.fullmatch(next(iter(values))):
            raise invalid(f"Content-Length must be one non-negative integer, got "
                          f"{', '.join(sorted(values))[:100]!r}")
        length = int(values.pop())
        if length > limit:
            raise _HttpError(413, f"request body of {length} bytes is above this server's "
                                  f"limit of {limit} bytes (--max_message_bytes)")
        deadline = time.monotonic() + self.timeout
        chunks, received = [], 0
        while received < length:  # each pass reads >= 1 byte, within the deadline
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            self.connection.settimeout(left)
            chunk = self.rfile.read1(min(length - received, 1 << 20))
            if not chunk:
                raise invalid(f"request body ended after {received} of {length} bytes "
                              "(Content-Length)")
            chunks.append(chunk)
            received += len(chunk)
        self.connection.settimeout(self.timeout)
        self.close_connection = asked_to_close
        return b"".join(chunks)

    def _predict(self, spec: model_pb2.ModelSpec) -> None:
        body = self._read_body()
        try:
            body = json.loads(body or b"{}")
        except RecursionError:
            raise invalid("JSON parse error: nested too deeply") from None
        except ValueError as e:  # JSONDecodeError, UnicodeDecodeError
            raise invalid(f"JSON parse error: {e}") from None
        servable = self.core.manager.resolve(spec)
        request, columnar = _request_from_json(body, spec, servable,
                                               self.core.limits.max_request_bytes)
        del body
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

    def _handle(self, method: str):
        match = _REST_PATH.match(self.path.split("?", 1)[0])
        try:
            reads_body = method == "POST" and match is not None and match["tail"] == ":predict"
            if not reads_body and (self.headers.get("Content-Length", "0").strip() != "0"
                                   or self.headers.get("Transfer-Encoding")):
                self.close_connection = True  # a body that is not read ends the connection
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
                return self._predict(spec)
            raise not_found(f"Malformed request: {method} {self.path}")
        except ServingError as e:
            headers = {"Retry-After": "1"} if e.message.startswith(OVERLOADED) else None
            self._error(HTTP_STATUS.get(e.code, 500), e.message, headers)
        except _HttpError as e:
            self._error(e.status, e.message)
        except TimeoutError:  # the body's deadline, or a socket read or write
            self.close_connection = True
            self._error(408, f"request not received within {self.timeout:g} s "
                             "(--rest_api_timeout_in_ms)")
        except ConnectionError:
            self.close_connection = True
        except Exception as e:  # keep serving
            log.exception("REST request failed")
            self._error(500, f"{type(e).__name__}: {e}")

    def _error(self, status: int, message: str, headers=None) -> None:
        try:
            self.connection.settimeout(self.timeout)
            self._reply(status, {"error": message}, headers)
        except OSError:  # the client is gone or does not read
            self.close_connection = True

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")


class _RestServer(http_server.ThreadingHTTPServer):
    """One thread per connection, at most ``max_connections`` served at once.

    A connection beyond them is answered 429 (``errors.OVERLOADED``) and
    closed by a short-lived thread that reads what the client sends for at
    most a second (so that the client reads the answer instead of a reset).
    Admission is decided in the accepting thread, in the order of arrival.
    """
    daemon_threads = True

    def __init__(self, address, handler, max_connections: int):
        self.max_connections = max_connections
        self._connections = threading.BoundedSemaphore(max_connections)
        super().__init__(address, handler)

    def process_request(self, request, client_address):
        admitted = self._connections.acquire(blocking=False)
        thread = threading.Thread(target=self._serve if admitted else self._refuse,
                                  args=(request, client_address), daemon=True,
                                  name="tfvidgen-rest-connection")
        try:
            thread.start()
        except BaseException:
            if admitted:
                self._connections.release()
            self.shutdown_request(request)
            raise

    def _serve(self, request, client_address):
        try:
            self.process_request_thread(request, client_address)
        finally:
            self._connections.release()

    def _refuse(self, request, client_address):
        data = json.dumps({"error": f"{OVERLOADED}: {self.max_connections} REST connections "
                                    "open (--rest_api_num_threads); retry later"}).encode()
        head = (f"HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(data)}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n")
        try:
            request.settimeout(1.0)
            request.sendall(head.encode() + data)
            request.shutdown(socket.SHUT_WR)
            deadline, drained = time.monotonic() + 1.0, 0
            while drained < (1 << 20) and time.monotonic() < deadline:  # bounded
                chunk = request.recv(65536)
                if not chunk:
                    break
                drained += len(chunk)
        except OSError:
            pass
        finally:
            request.close()


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
      max_workers: gRPC threads; also the most gRPC calls in progress at
        once, further ones get RESOURCE_EXHAUSTED (as TF Serving's
        ``--grpc_max_threads``).
      max_message_bytes: largest request the server accepts, gRPC message or
        REST body (None: ``limits.max_request_bytes``; responses are not
        limited on the server side, clients set their own receive limit).
      rest_api_num_threads: REST connections served at once (one thread
        each); further ones get 429.
      rest_api_timeout_s: timeout of each REST socket read and write, and
        deadline of a request's body; an idle keep-alive connection is
        closed after it.
    """

    def __init__(self, model_config: config_lib.ModelServerConfig, host: str = LOCALHOST,
                 port: int = 8500, rest_api_port: Optional[int] = None,
                 poll_wait_s: float = 1.0, limits: Optional[Limits] = None,
                 max_workers: int = 16, max_message_bytes: Optional[int] = None,
                 warmup: bool = True, model_config_file: Optional[str] = None,
                 config_poll_s: float = 0.0, rest_api_num_threads: int = 16,
                 rest_api_timeout_s: float = 30.0):
        self.host = host
        self.limits = dataclasses.replace(limits) if limits is not None else Limits()
        if max_message_bytes is not None:
            self.limits.max_request_bytes = max_message_bytes
        self.manager = ServableManager(model_config, poll_wait_s=poll_wait_s, warmup=warmup)
        self.manager.config_file = model_config_file
        self.manager.config_poll_s = config_poll_s
        if model_config_file:
            self.manager._config_mtime = os.stat(model_config_file).st_mtime_ns
        self.core = ServingCore(self.manager, self.limits)
        self._requested_port = port
        self._rest_requested = rest_api_port
        self._max_workers = max_workers
        self._rest_threads = rest_api_num_threads
        self._rest_timeout_s = rest_api_timeout_s
        self._grpc = None
        self._rest = None
        self._rest_thread = None
        self.port = None
        self.rest_port = None
        self._stopped = threading.Event()

    def start(self) -> "ModelServer":
        """Loads the available versions (as TF Serving does before it listens), then binds."""
        self.manager.poll_once()
        options = [("grpc.max_receive_message_length", self.limits.max_request_bytes),
                   ("grpc.max_send_message_length", -1),
                   ("grpc.so_reuseport", 0)]
        server = grpc.server(concurrent.futures.ThreadPoolExecutor(
            max_workers=self._max_workers, thread_name_prefix="tfvidgen-grpc"), options=options,
            maximum_concurrent_rpcs=self._max_workers)
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
            handler = type("Handler", (_RestHandler,), {"core": self.core,
                                                        "timeout": self._rest_timeout_s})
            self._rest = _RestServer((self.host, self._rest_requested), handler,
                                     self._rest_threads)
            self.rest_port = self._rest.server_address[1]
            self._rest_thread = threading.Thread(target=self._rest.serve_forever,
                                                 name="tfvidgen-rest", daemon=True)
            self._rest_thread.start()
        self.manager.start()
        limits = self.limits
        log.info("limits: %s model runs at once, %d waiting; requests up to %d bytes; %d gRPC "
                 "calls at once%s", limits.max_concurrent_runs or "any number",
                 limits.max_queued_runs, limits.max_request_bytes, self._max_workers,
                 f"; {self._rest_threads} REST connections ({self._rest_timeout_s:g} s timeout)"
                 if self._rest else "")
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
