"""Client of TF Serving's API for exported generators: videos as numpy uint8.

    from tfvidgen.serving import Client

    with Client("localhost:8500", "rjgan") as client:          # gRPC
        videos = client.sample(seed=7, num_videos=16)           # [16, T, H, W, 3] uint8
        longer = client.sample(seed=7, num_videos=4, num_frames=32)
        images = client.sample(seed=7, num_videos=9, signature="sample_images")
        out = client.predict({"seed_a": 1, "seed_b": 2, "steps": 8}, signature="interpolate")

    Client("http://localhost:8501", "rjgan").sample(seed=7)    # REST, same answers

Works with ``tensorflow_model_server`` and with ``bin/serve``'s own server.

* Channel options for large tensors: the gRPC default receive limit is
  4 MiB, less than 32 videos of 64x64x16 frames; the client raises send and
  receive limits to ``max_message_bytes`` (1 GiB by default).
* Deadlines: every call has one (``timeout_s``, per call, retries included).
* Retries: UNAVAILABLE (server starting, restarting, connection refused)
  and RESOURCE_EXHAUSTED from a server at capacity (its run queue or
  connections full: ``errors.retryable``) are retried with exponential
  backoff, ``retries`` times, within the deadline. Other errors are raised
  at once as ``ServingError``.
* Batching of large requests: ``sample`` splits ``num_videos`` above
  ``max_batch_size`` into requests of at most that many, sent
  ``max_in_flight`` at a time. Videos of the first request are those of
  ``seed``; request k > 0 uses ``derive_seed(seed, k)``, so a split result is
  reproducible for the same (seed, num_videos, max_batch_size), and equals
  an unsplit request when num_videos <= max_batch_size.
* REST: a target starting with ``http://`` or ``https://`` uses TF Serving's
  REST API (``POST /v1/models/NAME:predict`` with ``{"signature_name",
  "inputs"}``, answered ``{"outputs": ...}``); dtypes come from the model's
  metadata, so results are the same arrays as over gRPC.
"""
from __future__ import annotations

import concurrent.futures
import json
import random
import time
import urllib.error
import urllib.request
from typing import Dict, List, Mapping, Optional, Sequence

import grpc
import numpy as np
from google.protobuf import json_format
from tensorflow.core.protobuf import error_codes_pb2, meta_graph_pb2
from tensorflow_serving.apis import (get_model_metadata_pb2, get_model_status_pb2, model_pb2,
                                     model_service_pb2_grpc, predict_pb2,
                                     prediction_service_pb2_grpc)

from tfvidgen.serving import tensors
from tfvidgen.serving.errors import ServingError, code_from_http, retryable

DEFAULT_SIGNATURE = "serving_default"
_MASK63 = (1 << 63) - 1


def derive_seed(seed: int, k: int) -> int:
    """Seed of the k-th request of a split ``sample`` (k = 0: the seed itself).

    SplitMix64 of (seed, k), kept in [0, 2**63) so that it is a valid int64.
    """
    if k == 0:
        return int(seed)
    z = (int(seed) * 0x9E3779B97F4A7C15 + k * 0xBF58476D1CE4E5B9) & ((1 << 64) - 1)
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & ((1 << 64) - 1)
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & ((1 << 64) - 1)
    return (z ^ (z >> 31)) & _MASK63


def _spec(name: str, signature: str = "", version: Optional[int] = None,
          version_label: Optional[str] = None) -> model_pb2.ModelSpec:
    spec = model_pb2.ModelSpec(name=name, signature_name=signature)
    if version is not None and version_label:
        raise ValueError("give a version or a version_label, not both")
    if version is not None:
        spec.version.value = int(version)
    elif version_label:
        spec.version_label = version_label
    return spec


class _Grpc:
    def __init__(self, target: str, max_message_bytes: int, credentials=None):
        options = [("grpc.max_send_message_length", max_message_bytes),
                   ("grpc.max_receive_message_length", max_message_bytes)]
        self.channel = (grpc.secure_channel(target, credentials, options=options)
                        if credentials is not None else
                        grpc.insecure_channel(target, options=options))
        self.prediction = prediction_service_pb2_grpc.PredictionServiceStub(self.channel)
        self.models = model_service_pb2_grpc.ModelServiceStub(self.channel)

    @staticmethod
    def _call(fn, request, timeout):
        try:
            return fn(request, timeout=timeout)
        except grpc.RpcError as e:
            raise ServingError(e.code(), e.details() or str(e)) from None

    def predict(self, spec, inputs, output_filter, timeout, sig):
        request = predict_pb2.PredictRequest(model_spec=spec)
        for key, value in inputs.items():
            dtype = None
            if sig is not None and key in sig.inputs:
                dtype = tensors.numpy_for(sig.inputs[key].dtype)
            request.inputs[key].CopyFrom(tensors.from_numpy(value, dtype))
        request.output_filter.extend(output_filter or [])
        response = self._call(self.prediction.Predict, request, timeout)
        return {k: tensors.to_numpy(v) for k, v in response.outputs.items()}

    def metadata(self, spec, timeout):
        request = get_model_metadata_pb2.GetModelMetadataRequest(
            model_spec=spec, metadata_field=["signature_def"])
        response = self._call(self.prediction.GetModelMetadata, request, timeout)
        sig_map = get_model_metadata_pb2.SignatureDefMap()
        response.metadata["signature_def"].Unpack(sig_map)
        return response.model_spec.version.value, dict(sig_map.signature_def)

    def status(self, spec, timeout):
        request = get_model_status_pb2.GetModelStatusRequest(model_spec=spec)
        response = self._call(self.models.GetModelStatus, request, timeout)
        return [{"version": s.version,
                 "state": get_model_status_pb2.ModelVersionStatus.State.Name(s.state),
                 "error_code": error_codes_pb2.Code.Name(s.status.error_code),
                 "error_message": s.status.error_message}
                for s in response.model_version_status]

    def close(self):
        self.channel.close()


class _Rest:
    def __init__(self, base_url: str):
        self.base = base_url.rstrip("/")

    def _url(self, spec, tail=""):
        url = f"{self.base}/v1/models/{spec.name}"
        choice = spec.WhichOneof("version_choice")
        if choice == "version":
            url += f"/versions/{spec.version.value}"
        elif choice == "version_label":
            url += f"/labels/{spec.version_label}"
        return url + tail

    @staticmethod
    def _call(url, body, timeout):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, method="GET" if body is None else "POST",
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as reply:
                return json.loads(reply.read())
        except urllib.error.HTTPError as e:
            text = e.read().decode(errors="replace")
            try:
                message = json.loads(text).get("error", text)
            except (json.JSONDecodeError, AttributeError):
                message = text
            raise ServingError(code_from_http(e.code), message) from None
        except urllib.error.URLError as e:
            reason = e.reason
            if isinstance(reason, TimeoutError) or "timed out" in str(reason):
                raise ServingError(grpc.StatusCode.DEADLINE_EXCEEDED, str(reason)) from None
            raise ServingError(grpc.StatusCode.UNAVAILABLE, f"{url}: {reason}") from None
        except (TimeoutError, ConnectionError) as e:
            code = (grpc.StatusCode.DEADLINE_EXCEEDED if isinstance(e, TimeoutError)
                    else grpc.StatusCode.UNAVAILABLE)
            raise ServingError(code, f"{url}: {e}") from None

    def predict(self, spec, inputs, output_filter, timeout, sig):
        body = {"signature_name": spec.signature_name or DEFAULT_SIGNATURE,
                "inputs": {k: np.asarray(v).tolist() for k, v in inputs.items()}}
        if output_filter:
            body["output_filter"] = list(output_filter)
        reply = self._call(self._url(spec, ":predict"), body, timeout)
        if "outputs" not in reply:
            raise ServingError(grpc.StatusCode.INTERNAL, f"REST reply without 'outputs': "
                                                         f"{str(reply)[:200]}")
        outputs = reply["outputs"]
        names = list(output_filter or (sorted(sig.outputs) if sig is not None else []))
        if not isinstance(outputs, dict) or (len(names) == 1 and names[0] not in outputs):
            outputs = {names[0] if len(names) == 1 else "output": outputs}
        result = {}
        for key, value in outputs.items():
            dtype = None
            if sig is not None and key in sig.outputs:
                dtype = tensors.numpy_for(sig.outputs[key].dtype)
            result[key] = np.asarray(value, dtype=dtype)
        return result

    def metadata(self, spec, timeout):
        reply = self._call(self._url(spec, "/metadata"), None, timeout)
        raw = reply.get("metadata", {}).get("signature_def", {})
        raw = {k: v for k, v in raw.items() if k != "@type"}
        sig_map = json_format.ParseDict(raw, get_model_metadata_pb2.SignatureDefMap(),
                                        ignore_unknown_fields=True)
        version = int(reply.get("model_spec", {}).get("version", 0) or 0)
        return version, dict(sig_map.signature_def)

    def status(self, spec, timeout):
        reply = self._call(self._url(spec), None, timeout)
        out = []
        for s in reply.get("model_version_status", []):
            status = s.get("status", {})
            out.append({"version": int(s.get("version", 0)), "state": s.get("state", "UNKNOWN"),
                        "error_code": status.get("error_code", "OK"),
                        "error_message": status.get("error_message", "")})
        return out

    def close(self):
        pass


class Client:
    """Sampling client of one server (gRPC ``host:port`` or REST ``http://host:port``).

    Args:
      target: ``host:port`` for gRPC, ``http[s]://host:port`` for REST.
      model_name: default model of the calls (each call may name another).
      timeout_s: deadline of a call, retries included.
      retries: extra attempts after UNAVAILABLE or a server at capacity.
      backoff_s: first wait before a retry (doubles, with jitter, up to 5 s).
      max_message_bytes: gRPC send/receive message limit.
      max_batch_size: ``sample`` splits larger counts into requests of at most
        this many (None: never split).
      max_in_flight: split requests sent at once.
      credentials: ``grpc.ssl_channel_credentials(...)`` for a TLS server.
    """

    def __init__(self, target: str, model_name: Optional[str] = None, *,
                 timeout_s: float = 60.0, retries: int = 3, backoff_s: float = 0.1,
                 max_message_bytes: int = 1 << 30, max_batch_size: Optional[int] = 32,
                 max_in_flight: int = 2, credentials=None):
        self.target = target
        self.model_name = model_name
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self.max_batch_size = max_batch_size
        self.max_in_flight = max(1, max_in_flight)
        self.rest = target.startswith(("http://", "https://"))
        self._transport = _Rest(target) if self.rest else _Grpc(target, max_message_bytes,
                                                                credentials)
        self._signatures: Dict[tuple, Dict[str, meta_graph_pb2.SignatureDef]] = {}
        self._pool = None

    # Plumbing -----------------------------------------------------------------------------
    def _name(self, model_name):
        name = model_name or self.model_name
        if not name:
            raise ValueError("no model name: pass model_name to Client(...) or to the call")
        return name

    def _with_retries(self, fn, timeout_s):
        deadline = time.monotonic() + (self.timeout_s if timeout_s is None else timeout_s)
        attempt = 0
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ServingError(grpc.StatusCode.DEADLINE_EXCEEDED,
                                   f"no answer from {self.target} within the deadline")
            try:
                return fn(remaining)
            except ServingError as e:
                if not retryable(e) or attempt >= self.retries:
                    raise
                wait = min(5.0, self.backoff_s * 2 ** attempt) * (0.5 + random.random() / 2)
                if time.monotonic() + wait >= deadline:
                    raise
                time.sleep(wait)
                attempt += 1

    # API ----------------------------------------------------------------------------------
    def signatures(self, model_name=None, version=None, version_label=None,
                   timeout_s=None) -> Dict[str, meta_graph_pb2.SignatureDef]:
        """The model's SignatureDefs (GetModelMetadata), cached per model and version."""
        key = (self._name(model_name), version, version_label)
        if key not in self._signatures:
            spec = _spec(key[0], "", version, version_label)
            _, sigs = self._with_retries(lambda t: self._transport.metadata(spec, t), timeout_s)
            self._signatures[key] = sigs
        return self._signatures[key]

    def metadata(self, model_name=None, version=None, version_label=None, timeout_s=None):
        """(version served, {signature name: SignatureDef}), not cached."""
        spec = _spec(self._name(model_name), "", version, version_label)
        return self._with_retries(lambda t: self._transport.metadata(spec, t), timeout_s)

    def status(self, model_name=None, version=None, version_label=None,
               timeout_s=None) -> List[dict]:
        """GetModelStatus: [{version, state, error_code, error_message}] per version."""
        spec = _spec(self._name(model_name), "", version, version_label)
        return self._with_retries(lambda t: self._transport.status(spec, t), timeout_s)

    def wait_until_available(self, model_name=None, version=None, timeout_s=60.0,
                             poll_s=0.1) -> int:
        """Polls GetModelStatus until a version (or the given one) is AVAILABLE; returns it."""
        deadline = time.monotonic() + timeout_s
        last = None
        while True:
            try:
                states = self.status(model_name, version, timeout_s=max(0.1, min(
                    5.0, deadline - time.monotonic())))
                ready = [s["version"] for s in states if s["state"] == "AVAILABLE"]
                if ready:
                    return max(ready)
                last = states
            except ServingError as e:
                last = e
            if time.monotonic() >= deadline:
                raise ServingError(grpc.StatusCode.DEADLINE_EXCEEDED,
                                   f"model {self._name(model_name)!r} not available on "
                                   f"{self.target} after {timeout_s} s (last: {last})")
            time.sleep(poll_s)

    def predict(self, inputs: Mapping[str, object], signature: str = DEFAULT_SIGNATURE,
                model_name=None, version=None, version_label=None,
                output_filter: Optional[Sequence[str]] = None,
                timeout_s=None, cast: bool = True) -> Dict[str, np.ndarray]:
        """One Predict request.

        Inputs are numpy arrays or Python numbers, cast to the signature's
        dtypes (from the model's metadata) unless ``cast`` is False, when
        they are sent with their own dtypes (int -> int64, float -> float64).
        """
        spec = _spec(self._name(model_name), signature, version, version_label)
        sig = None
        if cast:
            sig = self.signatures(spec.name, version, version_label, timeout_s).get(signature)
        return self._with_retries(
            lambda t: self._transport.predict(spec, inputs, output_filter, t, sig), timeout_s)

    def sample(self, seed: int = 0, num_videos: int = 1, num_frames: Optional[int] = None,
               signature: str = DEFAULT_SIGNATURE, output: Optional[str] = None,
               extra_inputs: Optional[Mapping[str, object]] = None, model_name=None,
               version=None, version_label=None, timeout_s=None) -> np.ndarray:
        """Generated videos (or images) as numpy uint8.

        Args:
          seed: the ``seed`` (or ``seed_a``) input.
          num_videos: the signature's count input (``num_videos``,
            ``num_images`` or ``steps``); split above ``max_batch_size``.
          num_frames: sent only when given (the signature's default otherwise).
          signature: e.g. serving_default, sample_images, summary_frame,
            sample_with_content (give ``extra_inputs={"content_seed": 3}``).
          output: output key (default ``video``, else ``image``, else the only one).
          extra_inputs: further inputs of the signature.
        """
        if num_videos < 1:
            raise ValueError(f"num_videos must be >= 1, got {num_videos}")
        sig = self.signatures(model_name, version, version_label, timeout_s).get(signature)
        if sig is None:
            known = ", ".join(sorted(self.signatures(model_name, version, version_label)))
            raise ServingError(grpc.StatusCode.INVALID_ARGUMENT,
                               f"model {self._name(model_name)!r} has no signature "
                               f"{signature!r}; it has: {known}")
        names = set(sig.inputs)
        count_key = next((k for k in ("num_videos", "num_images", "steps") if k in names), None)
        seed_key = next((k for k in ("seed", "seed_a") if k in names), None)
        if output is None:
            output = next((k for k in ("video", "image") if k in sig.outputs),
                          sorted(sig.outputs)[0])
        base = dict(extra_inputs or {})
        if num_frames is not None:
            base["num_frames"] = int(num_frames)
        splittable = count_key in ("num_videos", "num_images") and seed_key is not None
        size = self.max_batch_size if (splittable and self.max_batch_size) else num_videos
        chunks = [(k, min(size, num_videos - k * size)) for k in range(-(-num_videos // size))]

        def one(chunk):
            k, n = chunk
            inputs = dict(base)
            if seed_key:
                inputs[seed_key] = derive_seed(seed, k)
            if count_key:
                inputs[count_key] = n
            return self.predict(inputs, signature, model_name, version, version_label,
                                [output], timeout_s)[output]

        if len(chunks) == 1:
            return np.array(one(chunks[0]))
        if self._pool is None:
            self._pool = concurrent.futures.ThreadPoolExecutor(
                self.max_in_flight, thread_name_prefix="tfvidgen-client")
        return np.concatenate(list(self._pool.map(one, chunks)), axis=0)

    def close(self):
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        self._transport.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
