"""What requests can make the package's server hold: sizes, REST bodies, concurrent runs.

A toy SavedModel (scalar ``seed`` and ``num_videos``, like the generators'
signatures, and an ``echo`` signature with an input of unknown length) is
served on loopback by servers in this process, one per test. Nothing
sleeps: tests wait on the server's run-slot condition or on sockets, with
timeouts.
"""
import concurrent.futures
import http.client as http_client
import json
import os
import socket
import threading
import time

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2, types_pb2
from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_service_pb2_grpc

from tfvidgen.serving import Client, ServingError, config, tensors
from tfvidgen.serving.errors import OVERLOADED
from tfvidgen.serving.server import Limits, ModelServer, default_concurrent_runs

MODEL = "toy"


class Toy(tf.Module):
    @tf.function(input_signature=[tf.TensorSpec([], tf.int64, name="seed"),
                                  tf.TensorSpec([], tf.int32, name="num_videos")])
    def sample(self, seed, num_videos):
        value = tf.cast(tf.math.floormod(seed, 200), tf.uint8)
        return {"video": tf.fill(tf.stack([num_videos, 2, 4, 4, 3]), value)}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="x")])
    def echo(self, x):
        return {"y": 2 * x}


@pytest.fixture(scope="module")
def base_path(tmp_path_factory):
    base = tmp_path_factory.mktemp("limits") / MODEL
    toy = Toy()
    tf.saved_model.save(toy, str(base / "1"), signatures={"serving_default": toy.sample,
                                                          "echo": toy.echo})
    return str(base)


def serve(base_path, **kwargs):
    kwargs.setdefault("rest_api_port", 0)
    return ModelServer(config.single_model_config(MODEL, base_path), port=0, poll_wait_s=60,
                       **kwargs)


def grpc_predict(server, inputs, signature="serving_default", timeout=60):
    request = predict_pb2.PredictRequest(
        model_spec=model_pb2.ModelSpec(name=MODEL, signature_name=signature))
    for key, proto in inputs.items():
        request.inputs[key].CopyFrom(proto)
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        return prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(
            request, timeout=timeout)


def declared(dtype, shape, **values):
    """A TensorProto declaring ``shape`` and holding only ``values``."""
    return tensor_pb2.TensorProto(dtype=dtype, tensor_shape=tensors.make_shape(shape), **values)


def memory_kb(field):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ":"))


def reset_peak_rss() -> int:
    """Resets VmHWM to the current RSS where the kernel allows it; returns the peak (kB)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass
    return memory_kb("VmHWM")


# 1. Declared shapes ---------------------------------------------------------------------
@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs /proc (Linux)")
def test_a_small_request_declaring_a_huge_tensor_is_refused_before_anything_is_built(
        base_path):
    n = 2 ** 31  # seed is a scalar; one int64_val "filling" [2^31] would be 16 GiB
    with serve(base_path, rest_api_port=None) as srv:
        assert grpc_predict(srv, {"seed": tensors.from_numpy(np.int64(5)),
                                  "num_videos": tensors.from_numpy(np.int32(1))})
        request = {"seed": declared(types_pb2.DT_INT64, [n], int64_val=[1]),
                   "num_videos": tensors.from_numpy(np.int32(1))}
        assert len(predict_pb2.PredictRequest(inputs=request).SerializeToString()) < 100
        before = reset_peak_rss()
        start = time.monotonic()
        with pytest.raises(grpc.RpcError) as e:
            grpc_predict(srv, request)
        elapsed = time.monotonic() - start
        grown_kb = memory_kb("VmHWM") - before
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "'seed'" in e.value.details() and f"got [{n}]" in e.value.details()
        assert elapsed < 10, elapsed
        declared_bytes = n * 8
        assert grown_kb * 1024 < min(declared_bytes // 8, 256 << 20), \
            f"peak RSS grew {grown_kb} kB for {declared_bytes} declared bytes"

        # An input of unknown length: the declared size is checked against the limit.
        before = reset_peak_rss()
        with pytest.raises(grpc.RpcError) as e:
            grpc_predict(srv, {"x": declared(types_pb2.DT_FLOAT, [n], float_val=[1.0])}, "echo")
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "'x'" in e.value.details() and "at most 67108864 bytes" in e.value.details()
        assert (memory_kb("VmHWM") - before) * 1024 < 256 << 20
        # Negative dimensions, ranks above TensorFlow's 254, wrong ranks: refused too.
        for proto, words in [
                (declared(types_pb2.DT_FLOAT, [-5], float_val=[1.0]), "negative"),
                (declared(types_pb2.DT_FLOAT, [1] * 300, float_val=[1.0]), "rank 300"),
                (declared(types_pb2.DT_FLOAT, [2 ** 40, 2 ** 40], float_val=[1.0]), "rank 1")]:
            with pytest.raises(grpc.RpcError) as e:
                grpc_predict(srv, {"x": proto}, "echo")
            assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert words in e.value.details(), e.value.details()
        # What TensorFlow allows still works: one value fills a shape within the limit.
        reply = grpc_predict(srv, {"x": declared(types_pb2.DT_FLOAT, [3], float_val=[1.5])},
                             "echo")
        np.testing.assert_array_equal(tensors.to_numpy(reply.outputs["y"]), [3.0, 3.0, 3.0])


def test_max_message_bytes_bounds_grpc_messages_rest_bodies_and_decoded_tensors(base_path):
    with serve(base_path, max_message_bytes=1000) as srv:
        x = np.ones([300], np.float32)  # 1200 bytes
        with pytest.raises(grpc.RpcError) as e:
            grpc_predict(srv, {"x": tensors.from_numpy(x)}, "echo")
        assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        with pytest.raises(grpc.RpcError) as e:  # 20 bytes of proto, 1200 once filled
            grpc_predict(srv, {"x": declared(types_pb2.DT_FLOAT, [300], float_val=[1.0])}, "echo")
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "at most 1000 bytes" in e.value.details()
        status, _, reply, _ = post(srv.rest_port, json.dumps({"inputs": {"x": [1.0] * 300}})
                                   .encode(), path=f"/v1/models/{MODEL}/versions/1:predict")
        assert status == 413 and "limit of 1000 bytes" in reply["error"]
        reply = grpc_predict(srv, {"x": tensors.from_numpy(x[:200])}, "echo")
        assert tensors.to_numpy(reply.outputs["y"]).shape == (200,)


def test_tensor_codec_checks_size_before_building():
    filled = declared(types_pb2.DT_INT64, [4], int64_val=[1, 2])
    np.testing.assert_array_equal(tensors.to_numpy(filled, max_bytes=32), [1, 2, 2, 2])
    with pytest.raises(tensors.TensorError, match="at most 31 bytes"):
        tensors.to_numpy(filled, max_bytes=31)
    with pytest.raises(tensors.TensorError, match="at most"):  # no int64 overflow
        tensors.to_numpy(declared(types_pb2.DT_INT64, [2 ** 40] * 4, int64_val=[1]), 1 << 20)
    with pytest.raises(tensors.TensorError, match="negative"):
        tensors.to_numpy(declared(types_pb2.DT_INT64, [-1], int64_val=[1]))
    with pytest.raises(tensors.TensorError, match="rank 255"):
        tensors.shape_of(declared(types_pb2.DT_INT64, [1] * 255))
    strings = declared(types_pb2.DT_STRING, [3], string_val=[b"a", b"b"])
    assert tensors.to_numpy(strings).tolist() == [b"a", b"b", b"b"]
    with pytest.raises(tensors.TensorError, match="at most"):
        tensors.to_numpy(declared(types_pb2.DT_STRING, [2 ** 31], string_val=[b"a"]), 1 << 20)


# 2. REST bodies ---------------------------------------------------------------------------
def http(port, raw: bytes, timeout=30):
    """Sends raw bytes, returns (status, headers, parsed JSON body or None, seconds)."""
    start = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(raw)
        data = b""
        while b"\r\n\r\n" not in data:  # bounded: each recv returns data, EOF or times out
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in
                   (line.partition(":") for line in lines[1:])}
        length = int(headers.get("content-length", 0))
        while len(body) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
    status = int(lines[0].split()[1]) if lines[0] else 0
    return status, headers, (json.loads(body) if body else None), time.monotonic() - start


def post(port, body: bytes, headers=None, path=f"/v1/models/{MODEL}:predict"):
    headers = {"Content-Length": str(len(body)), **(headers or {})}
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    return http(port, head.encode() + body)


def predict_json(port, inputs):
    return post(port, json.dumps({"inputs": inputs}).encode())


def test_rest_bodies_are_bounded_and_malformed_ones_get_400(base_path):
    with serve(base_path) as srv:
        port = srv.rest_port
        status, _, reply, _ = predict_json(port, {"seed": 3, "num_videos": 2})
        assert status == 200 and np.asarray(reply["outputs"]).shape == (2, 2, 4, 4, 3)
        # Above the limit (64 MiB by default): 413 at once, the body is never sent or read.
        status, headers, reply, seconds = post(port, b"", {"Content-Length": str((64 << 20) + 1)})
        assert status == 413 and "67108864" in reply["error"], reply
        assert headers.get("connection") == "close" and seconds < 10
        for length in ("abc", "-5", "1e3", "5, 7"):
            status, headers, reply, _ = post(port, b"{}", {"Content-Length": length})
            assert status == 400 and "Content-Length" in reply["error"], (length, reply)
            assert headers.get("connection") == "close"
        status, _, reply, _ = post(port, b"{}", {"Transfer-Encoding": "chunked"})
        assert status == 411
        # Values that do not fit the signature's dtype: 400, never wrapped or a 500.
        for inputs, words in [({"seed": 2 ** 70, "num_videos": 1}, "out of range for int64"),
                              ({"seed": 2 ** 63, "num_videos": 1}, "out of range for int64"),
                              ({"seed": 1, "num_videos": 2 ** 32 + 1}, "out of range for int32"),
                              ({"seed": 1e300, "num_videos": 1}, "out of range for int64"),
                              ({"seed": "7", "num_videos": 1}, "expected int64"),
                              ({"seed": None, "num_videos": 1}, "expected int64"),
                              ({"seed": [[1, 2], [3]], "num_videos": 1}, "rank 0")]:
            status, _, reply, _ = predict_json(port, inputs)
            assert status == 400 and words in reply["error"], (inputs, reply)
        status, _, reply, _ = predict_json(port, {"seed": -(2 ** 63), "num_videos": 1})
        assert status == 200
        # Nesting: 100k deep (RecursionError in the parser), 300 deep (above rank 254).
        for depth, words in [(100_000, "nested too deeply"), (300, "maximum rank 254")]:
            body = ('{"inputs": {"num_videos": 1, "seed": ' + "[" * depth + "1" + "]" * depth
                    + "}}").encode()
            status, _, reply, _ = post(port, body)
            assert status == 400 and words in reply["error"], reply["error"][:200]
        for body in (b"{", b"\xff\xfe", b'{"inputs": {}, "signature_name": 5}',
                     b'{"inputs": {"seed": 1}, "output_filter": "video"}'):
            status, _, reply, _ = post(port, body)
            assert status == 400, (body, reply)
        status, _, reply, _ = predict_json(port, {"seed": 3, "num_videos": 1})
        assert status == 200  # still serving
        # A refused request whose body was read keeps its connection; an unread body closes it.
        conn = http_client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            for seed, status in [(2 ** 70, 400), (1, 200)]:
                conn.request("POST", f"/v1/models/{MODEL}:predict",
                             json.dumps({"inputs": {"seed": seed, "num_videos": 1}}))
                reply = conn.getresponse()
                assert reply.status == status and reply.getheader("Connection") is None
                reply.read()
            conn.request("GET", f"/v1/models/{MODEL}", body=b"x" * 10)
            reply = conn.getresponse()
            assert reply.status == 200 and reply.getheader("Connection") == "close"
        finally:
            conn.close()


def test_rest_body_shorter_than_its_content_length_times_out(base_path):
    with serve(base_path, rest_api_timeout_s=0.5) as srv:
        start = time.monotonic()
        with socket.create_connection(("127.0.0.1", srv.rest_port), timeout=30) as sock:
            sock.sendall(f"POST /v1/models/{MODEL}:predict HTTP/1.1\r\nHost: x\r\n"
                         "Content-Length: 100\r\n\r\n{\"inputs\"".encode())
            data = b""
            while True:  # the server answers, then closes: bounded by the socket timeout
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        assert data.startswith(b"HTTP/1.1 408"), data[:200]
        assert time.monotonic() - start < 20
        # An idle keep-alive connection is closed after the timeout too.
        with socket.create_connection(("127.0.0.1", srv.rest_port), timeout=30) as sock:
            assert sock.recv(1) == b""


def test_rest_connections_beyond_the_limit_get_429(base_path):
    with serve(base_path, rest_api_num_threads=2) as srv:
        idle = [socket.create_connection(("127.0.0.1", srv.rest_port), timeout=30)
                for _ in range(2)]
        try:
            status, headers, reply, _ = predict_json(srv.rest_port, {"seed": 1, "num_videos": 1})
            assert status == 429 and reply["error"].startswith(OVERLOADED)
            assert headers.get("retry-after") == "1"
            with pytest.raises(ServingError) as e:
                with Client(f"http://127.0.0.1:{srv.rest_port}", MODEL, retries=0) as c:
                    c.status()
            assert e.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
        finally:
            for sock in idle:
                sock.close()
        # The client retries a server at capacity; the idle connections' threads end.
        with Client(f"http://127.0.0.1:{srv.rest_port}", MODEL, retries=8, backoff_s=0.05,
                    timeout_s=60) as c:
            assert c.sample(seed=1, num_videos=1).shape == (1, 2, 4, 4, 3)


# 3. Concurrent runs ---------------------------------------------------------------------
def block_runs(server):
    """Makes the served version's runs wait for the returned event."""
    servable = server.manager.resolve(model_pb2.ModelSpec(name=MODEL))
    release, run = threading.Event(), servable.run

    def blocked(*args):
        if not release.wait(60):
            raise RuntimeError("the test did not release the run")
        return run(*args)
    servable.run = blocked
    return release


def wait_slots(server, running, waiting):
    slots = server.core.slots
    with slots.changed:
        assert slots.changed.wait_for(
            lambda: (slots.running, slots.waiting) == (running, waiting), timeout=60), \
            (slots.running, slots.waiting)


def test_concurrent_runs_and_the_queue_are_bounded(base_path):
    limits = Limits(max_concurrent_runs=2, max_queued_runs=1)
    with serve(base_path, limits=limits) as srv, \
            concurrent.futures.ThreadPoolExecutor(3) as pool:
        release = block_runs(srv)
        try:
            target = f"127.0.0.1:{srv.port}"

            def sample(seed):
                with Client(target, MODEL, retries=0, timeout_s=120) as c:
                    return c.sample(seed=seed, num_videos=1)
            futures = [pool.submit(sample, s) for s in (1, 2)]
            wait_slots(srv, 2, 0)
            futures.append(pool.submit(sample, 3))
            wait_slots(srv, 2, 1)
            # Two running, one waiting: the next is refused at once, over gRPC and REST.
            with Client(target, MODEL, retries=0) as c, pytest.raises(ServingError) as e:
                c.sample(seed=4, num_videos=1)
            assert e.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert e.value.message.startswith(OVERLOADED) and "--max_queued_runs=1" in \
                e.value.message
            status, headers, reply, _ = predict_json(srv.rest_port, {"seed": 4, "num_videos": 1})
            assert status == 429 and headers.get("retry-after") == "1", reply
            # Status and metadata do not wait for runs.
            with Client(target, MODEL) as c:
                assert c.status()[0]["state"] == "AVAILABLE"
        finally:
            release.set()
        assert [int(f.result(timeout=60)[0, 0, 0, 0, 0]) for f in futures] == [1, 2, 3]
        wait_slots(srv, 0, 0)


def test_a_queued_request_leaves_the_queue_at_its_deadline(base_path):
    limits = Limits(max_concurrent_runs=1, max_queued_runs=4)
    with serve(base_path, rest_api_port=None, limits=limits) as srv, \
            concurrent.futures.ThreadPoolExecutor(1) as pool:
        release = block_runs(srv)
        try:
            running = pool.submit(grpc_predict, srv, {"seed": tensors.from_numpy(np.int64(1)),
                                                      "num_videos": tensors.from_numpy(
                                                          np.int32(1))})
            wait_slots(srv, 1, 0)
            with pytest.raises(grpc.RpcError) as e:
                grpc_predict(srv, {"seed": tensors.from_numpy(np.int64(2)),
                                   "num_videos": tensors.from_numpy(np.int32(1))}, timeout=1)
            assert e.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            wait_slots(srv, 1, 0)  # the server stopped waiting too
        finally:
            release.set()
        assert running.result(timeout=60).outputs["video"].tensor_shape.dim[0].size == 1


def test_bin_serve_flags_set_the_limits(tmp_path):
    from tfvidgen.cli import serve as cli
    params = tmp_path / "batching.txt"
    params.write_text("max_batch_size { value: 16 }\nnum_batch_threads { value: 3 }\n"
                      "max_enqueued_batches { value: 5 }\n")

    def limits(*args):
        cli.FLAGS.unparse_flags()
        try:
            cli.FLAGS(["serve", "--server=package", f"--model_base_path={tmp_path}", *args])
            server = cli.build_server()
            return (server.limits.max_concurrent_runs, server.limits.max_queued_runs,
                    server.limits.max_request_bytes, server._rest_threads, server._rest_timeout_s)
        finally:
            cli.FLAGS.unparse_flags()
    assert limits() == (default_concurrent_runs(), 8, 64 << 20, 16, 30.0)
    assert 1 <= default_concurrent_runs() <= 4
    assert limits("--max_concurrent_runs=3", "--max_queued_runs=0", "--max_message_bytes=1000",
                  "--rest_api_num_threads=4", "--rest_api_timeout_in_ms=2500") == \
        (3, 0, 1000, 4, 2.5)
    assert limits("--enable_batching", f"--batching_parameters_file={params}")[:2] == (3, 5)
    assert limits("--enable_batching", f"--batching_parameters_file={params}",
                  "--max_queued_runs=2")[:2] == (3, 2)
    for bad in ("--max_concurrent_runs=0", "--max_queued_runs=-1", "--max_message_bytes=0",
                "--rest_api_timeout_in_ms=0"):
        with pytest.raises(SystemExit):
            limits(bad)
    assert cli.binary_argv(["serve", "--max_concurrent_runs=3", "--max_queued_runs", "2",
                            "--rest_api_timeout_in_ms=100"]) == \
        ["tensorflow_model_server", "--rest_api_timeout_in_ms=100"]


def test_client_retries_a_server_at_capacity_only():
    calls = []

    class Busy:
        def __init__(self, message):
            self.message = message

        def predict(self, *args):
            calls.append(1)
            if len(calls) < 3:
                raise ServingError(grpc.StatusCode.RESOURCE_EXHAUSTED, self.message)
            return {"video": np.zeros([1, 2, 4, 4, 3], np.uint8)}

        def close(self):
            pass

    for message, attempts in [(f"{OVERLOADED}: 2 model runs in progress", 3),
                              ("Concurrent RPC limit exceeded!", 3),
                              ("OOM when allocating tensor", 1)]:
        calls.clear()
        c = Client("127.0.0.1:1", "m", retries=3, backoff_s=0.0)
        c._transport = Busy(message)
        c._signatures[("m", None, None)] = {}
        if attempts == 1:
            with pytest.raises(ServingError):
                c.predict({"seed": 1})
        else:
            assert c.predict({"seed": 1})["video"].shape == (1, 2, 4, 4, 3)
        assert len(calls) == attempts
        c.close()
