"""The package's TF Serving-compatible server and the sampling client, on loopback.

One tiny trained RJGAN is exported once; servers run in this process on
free ports (port 0) and every test stops the servers it starts.
"""
import concurrent.futures
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time

import grpc
import numpy as np
import pytest
import tensorflow as tf

from helpers import tiny_trainer
from tfvidgen import export
from tfvidgen.models.base import StatelessNoise, to_uint8
from tfvidgen.serving import Client, ServingError, config, derive_seed, savedmodel, tensors
from tfvidgen.serving.server import Limits, ModelServer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
T = 10  # tiny_config clip_length
MAX_BATCH = 8


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    import conftest  # noqa: F401  (logical devices)
    base = tmp_path_factory.mktemp("serving")
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    trainer = tiny_trainer("rjgan", base / "run", strategy, max_steps=1)
    trainer.train()
    path = export.export(trainer.task, str(base / "exports"), "rjgan", 1)
    return trainer.task, path


@pytest.fixture(scope="module")
def server(model):
    _, path = model
    cfg = config.single_model_config("rjgan", os.path.dirname(path))
    srv = ModelServer(cfg, port=0, rest_api_port=0, poll_wait_s=0.2,
                      limits=Limits(max_batch_size=MAX_BATCH)).start()
    yield srv
    srv.stop()


@pytest.fixture
def client(server):
    with Client(f"127.0.0.1:{server.port}", "rjgan", timeout_s=60, max_batch_size=None) as c:
        yield c


def in_process(task, seed, n, frames=T):
    return to_uint8(task.sample(StatelessNoise(seed), n, frames)).numpy()


def test_grpc_sample_equals_in_process_byte_for_byte(model, client):
    task, path = model
    videos = client.sample(seed=7, num_videos=3)
    assert videos.dtype == np.uint8 and videos.shape == (3, T, 16, 16, 3)
    np.testing.assert_array_equal(videos, in_process(task, 7, 3))
    # ... and the SavedModel called in this process.
    loaded = tf.saved_model.load(path)
    np.testing.assert_array_equal(
        videos, loaded.serving_default(seed=tf.constant(7, tf.int64),
                                       num_videos=tf.constant(3))["video"].numpy())
    np.testing.assert_array_equal(videos, client.sample(seed=7, num_videos=3))
    assert not np.array_equal(videos, client.sample(seed=8, num_videos=3))
    # Optional num_frames: left out -> the clip length; given -> that many frames.
    longer = client.sample(seed=7, num_videos=2, num_frames=13)
    np.testing.assert_array_equal(longer, in_process(task, 7, 2, 13))
    frames = client.sample(seed=7, num_videos=2, num_frames=13, signature="sample_frames")
    np.testing.assert_array_equal(frames, longer)


def test_other_signatures_over_the_wire(model, client):
    task, _ = model
    images = client.sample(seed=3, num_videos=5, signature="sample_images")
    assert images.shape == (5, 16, 16, 3) and images.dtype == np.uint8
    np.testing.assert_array_equal(
        images, to_uint8(task.sample_images(StatelessNoise(3), 5)).numpy())
    out = client.predict({"seed": 1, "num_videos": 2}, signature="summary_frame")
    assert out["summary_frame"].shape == (2, 16, 16, 3) and out["video"].shape == (2, T, 16, 16, 3)
    inter = client.predict({"seed_a": 1, "seed_b": 2, "steps": 4}, signature="interpolate")
    assert inter["video"].shape == (4, T, 16, 16, 3)
    same = client.sample(seed=1, num_videos=3, signature="sample_with_content",
                         extra_inputs={"content_seed": 9})
    expected = task.sample_with_content(StatelessNoise(1), 3, T, content_noise=StatelessNoise(9))
    np.testing.assert_array_equal(same, to_uint8(expected).numpy())
    only = client.predict({"seed": 1, "num_videos": 2}, signature="summary_frame",
                          output_filter=["summary_frame"])
    assert set(only) == {"summary_frame"}


def test_rest_gives_the_same_videos(model, server, client):
    task, _ = model
    with Client(f"http://127.0.0.1:{server.rest_port}", "rjgan", timeout_s=60) as rest:
        videos = rest.sample(seed=7, num_videos=3)
        assert videos.dtype == np.uint8
        np.testing.assert_array_equal(videos, client.sample(seed=7, num_videos=3))
        assert rest.status()[0]["state"] == "AVAILABLE"
        assert "serving_default" in rest.signatures()
        with pytest.raises(ServingError) as e:
            rest.sample(seed=1, num_videos=MAX_BATCH + 1)
        assert e.value.code == grpc.StatusCode.INVALID_ARGUMENT
        with pytest.raises(ServingError) as e:
            rest.sample(seed=1, model_name="nope")
        assert e.value.code == grpc.StatusCode.NOT_FOUND
    # TF Serving's JSON, as curl would send it.
    url = f"http://127.0.0.1:{server.rest_port}/v1/models/rjgan"
    reply = _post(url + ":predict", {"signature_name": "serving_default",
                                     "inputs": {"seed": 7, "num_videos": 2}})
    assert set(reply) == {"outputs"}  # one output: the array itself
    np.testing.assert_array_equal(np.asarray(reply["outputs"], np.uint8),
                                  in_process(task, 7, 2))
    reply = _post(url + "/versions/1:predict", {"signature_name": "summary_frame",
                                                "inputs": {"seed": 7, "num_videos": 2}})
    assert set(reply["outputs"]) == {"summary_frame", "video"}
    reply = _post(url + ":predict", {"instances": [{"seed": 7, "num_videos": 2}]}, 400)
    assert "rank 0" in reply["error"] and "got [1]" in reply["error"]
    reply = _post(url + ":predict", {"inputs": {"seed": 7.5, "num_videos": 2}}, 400)
    assert "'seed'" in reply["error"]
    assert _post(url + "/labels/x:predict", {"inputs": {"seed": 7, "num_videos": 2}}, 400)


def _post(url, body, status=200):
    import json
    import urllib.error
    import urllib.request
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    try:
        with urllib.request.urlopen(request, timeout=60) as reply:
            assert reply.status == status
            return json.loads(reply.read())
    except urllib.error.HTTPError as e:
        assert e.code == status, e.read()
        return json.loads(e.read())


def test_metadata_and_status(client):
    version, sigs = client.metadata()
    assert version == 1
    assert {"serving_default", "sample_frames", "sample_images", "sample_with_content",
            "summary_frame", "interpolate"} <= set(sigs)
    default = sigs["serving_default"]
    assert default.method_name == "tensorflow/serving/predict"
    assert {k: tensors.dtype_name(v.dtype) for k, v in default.inputs.items()} == \
        {"seed": "int64", "num_videos": "int32", "num_frames": "int32"}
    assert set(default.defaults) == {"num_frames"}
    assert tensors.to_numpy(default.defaults["num_frames"]) == T
    assert tensors.dtype_name(default.outputs["video"].dtype) == "uint8"
    assert [d.size for d in default.outputs["video"].tensor_shape.dim][2:] == [16, 16, 3]
    assert client.status() == [{"version": 1, "state": "AVAILABLE", "error_code": "OK",
                                "error_message": ""}]


@pytest.mark.parametrize("call,code,words", [
    (dict(model_name="rjgna"), grpc.StatusCode.NOT_FOUND, ["rjgna", "rjgan"]),
    (dict(version=99), grpc.StatusCode.NOT_FOUND, ["99", "available versions"]),
    (dict(version_label="canary"), grpc.StatusCode.INVALID_ARGUMENT, ["canary"]),
    (dict(signature="sample_everything"), grpc.StatusCode.INVALID_ARGUMENT,
     ["sample_everything", "serving_default"]),
    (dict(inputs={"num_videos": np.int32(2)}), grpc.StatusCode.INVALID_ARGUMENT,
     ["missing input", "'seed'"]),
    (dict(inputs={"seed": np.int64(1), "num_videos": np.int32(2), "colour": np.int32(1)}),
     grpc.StatusCode.INVALID_ARGUMENT, ["'colour'", "not an input"]),
    (dict(inputs={"seed": np.int32(1), "num_videos": np.int32(2)}),
     grpc.StatusCode.INVALID_ARGUMENT, ["'seed'", "int64", "got int32"]),
    (dict(inputs={"seed": np.array([1, 2], np.int64), "num_videos": np.int32(2)}),
     grpc.StatusCode.INVALID_ARGUMENT, ["'seed'", "shape", "rank 0"]),
    (dict(inputs={"seed": np.int64(1), "num_videos": np.int32(MAX_BATCH + 1)}),
     grpc.StatusCode.INVALID_ARGUMENT, ["num_videos=9", "maximum of 8"]),
    (dict(inputs={"seed": np.int64(1), "num_videos": np.int32(0)}),
     grpc.StatusCode.INVALID_ARGUMENT, ["num_videos=0"]),
    (dict(inputs={"seed": np.int64(1), "num_videos": np.int32(1), "num_frames": np.int32(-3)}),
     grpc.StatusCode.INVALID_ARGUMENT, ["num_frames=-3"]),
    (dict(output_filter=["sound"]), grpc.StatusCode.INVALID_ARGUMENT, ["sound"]),
])
def test_malformed_requests_are_refused_and_the_server_keeps_serving(client, call, code, words):
    call = dict(call)
    inputs = call.pop("inputs", {"seed": np.int64(1), "num_videos": np.int32(1)})
    with pytest.raises(ServingError) as e:
        client.predict(inputs, cast=False, **call)
    assert e.value.code == code, e.value
    for word in words:
        assert word in e.value.message, e.value.message
    assert client.sample(seed=1, num_videos=1).shape == (1, T, 16, 16, 3)


def test_concurrent_clients(model, server):
    task, _ = model
    expected = {seed: in_process(task, seed, 2) for seed in range(8)}
    errors = []

    def worker(index):
        with Client(f"127.0.0.1:{server.port}", "rjgan", timeout_s=120) as c:
            for i in range(25):
                seed = (index + i) % 8
                try:
                    videos = c.sample(seed=seed, num_videos=2)
                    if not np.array_equal(videos, expected[seed]):
                        errors.append(f"thread {index} request {i}: wrong videos")
                except ServingError as e:
                    errors.append(f"thread {index} request {i}: {e}")

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(worker, range(8)))
    assert errors == []


def test_client_splits_large_requests(model, server):
    task, _ = model
    with Client(f"127.0.0.1:{server.port}", "rjgan", max_batch_size=2) as c:
        videos = c.sample(seed=5, num_videos=5)
    assert videos.shape == (5, T, 16, 16, 3)
    np.testing.assert_array_equal(videos[:2], in_process(task, 5, 2))
    np.testing.assert_array_equal(videos[2:4], in_process(task, derive_seed(5, 1), 2))
    np.testing.assert_array_equal(videos[4:], in_process(task, derive_seed(5, 2), 1))
    assert len({derive_seed(5, k) for k in range(100)}) == 100
    assert all(0 <= derive_seed(-3, k) < 2 ** 63 for k in range(1, 10))


def test_new_version_and_labels_while_serving(model, tmp_path):
    task, path = model
    base = tmp_path / "rjgan"
    shutil.copytree(path, base / "1")
    cfg_file = str(tmp_path / "models.config")
    config.update_model_config(cfg_file, "rjgan", str(base), "all", {"stable": 1, "canary": 2})
    with ModelServer(config.read_model_config(cfg_file), port=0, poll_wait_s=0.1) as srv, \
            Client(f"127.0.0.1:{srv.port}", "rjgan", timeout_s=60) as c:
        assert c.metadata()[0] == 1
        np.testing.assert_array_equal(c.sample(seed=4, num_videos=2, version_label="stable"),
                                      in_process(task, 4, 2))
        with pytest.raises(ServingError) as e:  # label of a version not there yet
            c.sample(seed=4, num_videos=1, version_label="canary")
        assert e.value.code == grpc.StatusCode.NOT_FOUND and "canary" in e.value.message
        # A new version appears as a whole (copied aside, renamed in place).
        shutil.copytree(path, base / ".incoming")
        os.rename(base / ".incoming", base / "2")
        assert c.wait_until_available(version=2, timeout_s=120) == 2
        assert c.metadata()[0] == 2                       # the highest version by default
        assert c.metadata(version=1)[0] == 1              # policy "all" keeps version 1
        assert c.metadata(version_label="canary")[0] == 2
        np.testing.assert_array_equal(c.sample(seed=4, num_videos=2, version=2),
                                      in_process(task, 4, 2))
        states = {s["version"]: s["state"] for s in c.status()}
        assert states == {1: "AVAILABLE", 2: "AVAILABLE"}
        # ModelService/HandleReloadConfigRequest: a new config, applied at once.
        from tensorflow_serving.apis import model_management_pb2, model_service_pb2_grpc
        new = config.update_model_config(cfg_file, "rjgan", str(base), "specific:2",
                                         {"stable": 2})
        with grpc.insecure_channel(f"127.0.0.1:{srv.port}") as channel:
            reply = model_service_pb2_grpc.ModelServiceStub(channel).HandleReloadConfigRequest(
                model_management_pb2.ReloadConfigRequest(config=new), timeout=120)
        assert reply.status.error_code == 0
        assert c.metadata(version_label="stable")[0] == 2
        with pytest.raises(ServingError) as e:
            c.metadata(version_label="canary")
        assert e.value.code == grpc.StatusCode.INVALID_ARGUMENT
        assert {s["version"]: s["state"] for s in c.status()} == {1: "END", 2: "AVAILABLE"}


def test_latest_policy_unloads_the_old_version_after_the_new_one_loads(model, tmp_path):
    _, path = model
    base = tmp_path / "rjgan"
    shutil.copytree(path, base / "3")
    cfg = config.single_model_config("rjgan", str(base))
    with ModelServer(cfg, port=0, poll_wait_s=0.1) as srv, \
            Client(f"127.0.0.1:{srv.port}", "rjgan", timeout_s=60) as c:
        (base / "7").mkdir()  # a broken version: 3 keeps serving
        deadline = time.monotonic() + 120
        while not any(s["version"] == 7 and s["error_message"] for s in c.status()):
            assert time.monotonic() < deadline, c.status()
            assert c.sample(seed=1, num_videos=1).shape[0] == 1
        assert c.metadata()[0] == 3
        shutil.rmtree(base / "7")
        shutil.copytree(path, base / ".incoming")
        os.rename(base / ".incoming", base / "9")
        assert c.wait_until_available(version=9, timeout_s=120) == 9
        deadline = time.monotonic() + 60
        while {s["version"]: s["state"] for s in c.status()}.get(3) != "END":
            assert time.monotonic() < deadline, c.status()
            c.sample(seed=1, num_videos=1)
        with pytest.raises(ServingError) as e:
            c.sample(seed=1, num_videos=1, version=3)
        assert e.value.code == grpc.StatusCode.NOT_FOUND


def test_warmup_records(model):
    _, path = model
    requests = savedmodel.read_warmup(path)
    sigs = savedmodel.signature_defs(path)
    assert 0 < len(requests) <= savedmodel.MAX_WARMUP_RECORDS
    assert {r.model_spec.signature_name for r in requests} == set(sigs)
    sizes = sorted(int(tensors.to_numpy(r.inputs["num_videos"])) for r in requests
                   if r.model_spec.signature_name == "serving_default")
    assert sizes == list(export.DEFAULT_WARMUP_BATCH_SIZES)
    assert "warm-up requests: %d" % len(requests) in export.describe(path)


def test_client_retries_unavailable_then_gives_up():
    calls = []

    class Flaky:
        def predict(self, *args):
            calls.append(1)
            if len(calls) < 3:
                raise ServingError(grpc.StatusCode.UNAVAILABLE, "starting")
            return {"video": np.zeros([1, 2, 4, 4, 3], np.uint8)}

        def close(self):
            pass

    c = Client("127.0.0.1:1", "m", retries=3, backoff_s=0.0)
    c._transport = Flaky()
    c._signatures[("m", None, None)] = {}
    assert c.predict({"seed": 1})["video"].shape == (1, 2, 4, 4, 3)
    assert len(calls) == 3
    calls.clear()
    c.retries = 1
    with pytest.raises(ServingError) as e:
        c.predict({"seed": 1})
    assert e.value.code == grpc.StatusCode.UNAVAILABLE and len(calls) == 2
    c.close()
    # Nothing listening: UNAVAILABLE after the retries, within the deadline.
    with socket_port() as port:
        start = time.monotonic()
        with Client(f"127.0.0.1:{port}", "m", retries=2, backoff_s=0.01, timeout_s=10) as c:
            with pytest.raises(ServingError) as e:
                c.status()
        assert e.value.code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
        assert time.monotonic() - start < 15


class socket_port:
    """A loopback port that nothing listens on (bound, not listening)."""

    def __enter__(self):
        import socket
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        return self.sock.getsockname()[1]

    def __exit__(self, *exc):
        self.sock.close()


def test_tensor_codec_reads_what_tensorflow_model_server_sends():
    from tensorflow.core.framework import tensor_pb2, types_pb2
    video = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    proto = tensor_pb2.TensorProto(dtype=types_pb2.DT_UINT8, tensor_shape=tensors.make_shape(
        video.shape), int_val=video.ravel().tolist())  # TF Serving's AsProtoField
    np.testing.assert_array_equal(tensors.to_numpy(proto), video)
    np.testing.assert_array_equal(tensors.to_numpy(tf.make_tensor_proto(video)), video)
    filled = tensor_pb2.TensorProto(dtype=types_pb2.DT_INT64,
                                    tensor_shape=tensors.make_shape([3]), int64_val=[5])
    np.testing.assert_array_equal(tensors.to_numpy(filled), [5, 5, 5])
    assert tensors.to_numpy(tensors.from_numpy(np.int64(7))).shape == ()
    bad = tensors.from_numpy(np.zeros([4], np.int32))
    bad.tensor_content = bad.tensor_content[:-1]
    with pytest.raises(tensors.TensorError):
        tensors.to_numpy(bad)


def test_models_config_and_batching_files(tmp_path):
    path = str(tmp_path / "models.config")
    config.update_model_config(path, "rjgan", "/models/rjgan")
    config.update_model_config(path, "mocogan", "/models/mocogan", "specific:3,4", {"stable": 3})
    config.update_model_config(path, "rjgan", "/models/rjgan", labels={"stable": 1500})
    cfg = config.read_model_config(path)
    entries = {c.name: c for c in cfg.model_config_list.config}
    assert entries["rjgan"].model_version_policy.latest.num_versions == 1
    assert dict(entries["rjgan"].version_labels) == {"stable": 1500}
    assert list(entries["mocogan"].model_version_policy.specific.versions) == [3, 4]
    for bad in ("newest", "latest:0", "specific:"):
        with pytest.raises(ValueError):
            config.parse_version_policy(bad)
    with pytest.raises(ValueError):
        config.parse_labels("stable:3")
    # The files shipped in serving/.
    shipped = config.read_model_config(os.path.join(ROOT, "serving", "models.config"))
    assert [c.name for c in shipped.model_config_list.config] == ["rjgan"]
    params = config.read_batching_parameters(
        os.path.join(ROOT, "serving", "batching_parameters.txt"))
    assert params.max_batch_size == 32 and params.num_batch_threads >= 1


def _bin(tool, *args, **kwargs):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PATH=os.defpath)  # no model server binary
    return subprocess.Popen([sys.executable, os.path.join(ROOT, "bin", tool), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            cwd=ROOT, **kwargs)


def test_bin_serve_bin_sample_and_bin_export(model, tmp_path):
    task, path = model
    serve = _bin("serve", "--model_name=rjgan", f"--model_base_path={os.path.dirname(path)}",
                 "--port=0", "--file_system_poll_wait_seconds=0.5")
    lines = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in serve.stderr],
                     daemon=True).start()
    try:
        deadline, port = time.monotonic() + 180, None
        while port is None:
            remaining = deadline - time.monotonic()
            assert remaining > 0 and serve.poll() is None, "bin/serve did not start"
            try:
                line = lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if "(gRPC)" in line:
                port = int(line.split("(gRPC)")[0].rsplit(":", 1)[1])
                assert "127.0.0.1" in line
        out = tmp_path / "videos.npy"
        sample = _bin("sample", f"--server=127.0.0.1:{port}", "--model_name=rjgan", "--seed=7",
                      "--num_videos=3", f"--output={out}")
        stdout, stderr = sample.communicate(timeout=180)
        assert sample.returncode == 0, stderr[-2000:]
        np.testing.assert_array_equal(np.load(out), in_process(task, 7, 3))
        gif = tmp_path / "grid.gif"
        sample = _bin("sample", f"--server=127.0.0.1:{port}", "--model_name=rjgan", "--seed=7",
                      "--num_videos=4", "--num_frames=6", f"--output={gif}")
        assert sample.wait(timeout=180) == 0
        from PIL import Image
        with Image.open(gif) as image:
            assert image.n_frames == 6
        bad = _bin("sample", f"--server=127.0.0.1:{port}", "--model_name=rjgan",
                   "--signature=nope", f"--output={tmp_path}/x.npy")
        _, stderr = bad.communicate(timeout=180)
        assert bad.returncode == 2 and "nope" in stderr and "Traceback" not in stderr
    finally:
        serve.send_signal(signal.SIGTERM)
        try:
            assert serve.wait(timeout=60) == 0
        finally:
            if serve.poll() is None:
                serve.kill()
                serve.wait()
    # bin/export on existing exports: models.config and --describe.
    export_dir = os.path.dirname(os.path.dirname(path))
    cfg = tmp_path / "models.config"
    proc = _bin("export", f"--export_dir={export_dir}", f"--models_config={cfg}",
                "--models_config_base_path=/models", "--version_labels=stable=1", "--describe")
    stdout, stderr = proc.communicate(timeout=180)
    assert proc.returncode == 0, stderr[-2000:]
    assert "input  num_frames: int32 []" in stdout and "optional, default 10" in stdout
    entry = config.read_model_config(str(cfg)).model_config_list.config[0]
    assert (entry.name, entry.base_path, dict(entry.version_labels)) == \
        ("rjgan", "/models/rjgan", {"stable": 1})


def test_bin_serve_runs_tensorflow_model_server_when_on_path(tmp_path):
    fake = tmp_path / "tensorflow_model_server"
    fake.write_text("#!/bin/sh\necho \"args: $*\"\n")
    fake.chmod(0o755)
    env = dict(os.environ, PATH=f"{tmp_path}:{os.defpath}")
    proc = subprocess.run(
        [sys.executable, os.path.join(ROOT, "bin", "serve"), "--model_name=rjgan",
         "--model_base_path=/models/rjgan", "--port=8500", "--rest_api_port=8501",
         "--host", "127.0.0.1", "--max_batch_size=8", "--tensorflow_intra_op_parallelism=2"],
        capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == ("args: --model_name=rjgan --model_base_path=/models/rjgan "
                                   "--port=8500 --rest_api_port=8501 "
                                   "--tensorflow_intra_op_parallelism=2")


def test_bin_serve_refuses_what_it_cannot_do(tmp_path):
    proc = _bin("serve", "--server=package")
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 2 and "--model_base_path" in stderr
    proc = _bin("serve", "--server=package", f"--model_base_path={tmp_path}",
                "--tensorflow_intra_op_parallelism=2")
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 2 and "--tensorflow_intra_op_parallelism" in stderr
    proc = _bin("serve", "--server=tensorflow_model_server", f"--model_base_path={tmp_path}")
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 2 and "not on PATH" in stderr
    proc = _bin("sample", "--model_name=rjgan", f"--output={tmp_path}/x.avi")
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 2 and ".gif, .mp4 or .npy" in stderr


def test_serving_benchmark_against_a_running_server(model, server):
    from tfvidgen.serving import benchmark
    _, path = model
    config = benchmark.ServingBenchmarkConfig(saved_model=path, target=f"127.0.0.1:{server.port}",
                                              batch_sizes=(1, 2), requests=2, warmup=0)
    result = benchmark.measure(config)
    assert result["same_videos_over_grpc"] is True
    assert set(result["results"]["grpc"]) == {"1", "2"}
    assert result["results"]["in_process"]["2"]["videos_per_s"] > 0
    assert result["video_shape_per_request"] == [2, T, 16, 16, 3]
    table = benchmark.markdown(result)
    assert table.count("\n") == 3 and "| 2 |" in table


def test_bin_sample_writes_gif_npy_and_mp4(tmp_path):
    from PIL import Image
    from tfvidgen.cli.sample import write
    videos = np.random.default_rng(0).integers(0, 255, [5, 7, 16, 16, 3]).astype(np.uint8)
    write(str(tmp_path / "v.npy"), videos, 8.0)
    np.testing.assert_array_equal(np.load(tmp_path / "v.npy"), videos)
    write(str(tmp_path / "v.gif"), videos, 8.0)
    with Image.open(tmp_path / "v.gif") as gif:
        assert gif.n_frames == 7 and gif.size == (3 * 17 - 1, 2 * 17 - 1)
    write(str(tmp_path / "images.gif"), videos[:, 0], 8.0)  # [N, H, W, 3]: one frame
    pytest.importorskip("imageio_ffmpeg")
    import imageio.v3 as iio
    write(str(tmp_path / "v.mp4"), videos, 8.0)
    assert iio.imread(tmp_path / "v.mp4").shape == (7, 48, 64, 3)  # padded to 16s
