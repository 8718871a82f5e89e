"""Serving benchmark: latency and throughput over gRPC against in process.

    bin/benchmark_serving                                  # RJGAN, reference size, 1/8/32
    bin/benchmark_serving --preset=tiny --requests=10      # a quick smoke run
    bin/benchmark_serving --saved_model=exports/rjgan/1500 # a real export
    bin/benchmark_serving --saved_model=exports/rjgan/1500 --target=localhost:8500
                                                           # a running server (TF Serving)

(``bin/benchmark --serving ...`` runs the same.)

For each batch size (``num_videos``) it times ``requests`` sequential
``serving_default`` requests, each with a new seed, two ways:

* in process: the SavedModel loaded in this process
  (``tf.saved_model.load(path).signatures["serving_default"]``), until the
  uint8 videos are numpy arrays;
* gRPC: ``tfvidgen.serving.Client.sample`` against a server in another
  process (``bin/serve --server=package``, started here on a free loopback
  port, or ``--target``), until the videos are numpy arrays in this process:
  request encoding, the server's checks and run, response encoding, the
  loopback transfer and decoding.

Requests of the two modes alternate (in process then gRPC, then gRPC then
in process, ...), so that both see the same load on a shared machine, and
each pair gives one sample of what gRPC adds; the server and this process
use the same cores, as a client and server on one machine do. Reported per
mode and batch size: p50 and p99 latency, mean, and videos/s = batch / mean
latency of one client sending one request at a time; and the gRPC / in
process ratio of p50 latency and the median of the paired differences. Without ``--saved_model`` the model has random weights
(speed does not depend on them), built from a preset:

  reference: RJGAN with the default flags: 64x64, 16 frames, ngf 64,
    latent 60, noise 10 (the configuration of docs/benchmarks.md).
  tiny: 32x32, 13 frames (D_V's minimum there), ngf 8: a smoke run.
"""
from __future__ import annotations

import dataclasses
import json
import os
import platform
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from typing import Dict, List, Sequence

import tfvidgen  # noqa: F401  (sets TF_ENABLE_ONEDNN_OPTS before TensorFlow loads)
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PRESETS = {
    "reference": dict(image_size=64, gan=dict(clip_length=16)),
    "tiny": dict(image_size=32, gan=dict(ngf=8, ndf=8, latent_dim=12, noise_dim=4,
                                         clip_length=13)),
}


@dataclasses.dataclass
class ServingBenchmarkConfig:
    model: str = "rjgan"
    preset: str = "reference"
    saved_model: str = ""          # a version folder; empty: export a preset model
    target: str = ""               # host:port of a running server; empty: start bin/serve
    model_name: str = "bench"
    batch_sizes: Sequence[int] = (1, 8, 32)
    requests: int = 30             # timed requests per mode and batch size
    warmup: int = 2                # untimed requests first, per mode and batch size
    seed: int = 0


def percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def summarize(latencies: Sequence[float], batch: int) -> dict:
    mean = float(np.mean(latencies))
    return {"requests": len(latencies), "p50_ms": 1e3 * percentile(latencies, 50),
            "p99_ms": 1e3 * percentile(latencies, 99), "mean_ms": 1e3 * mean,
            "videos_per_s": batch / mean}


def export_preset(config: ServingBenchmarkConfig, folder: str) -> str:
    """A preset model with random weights, exported as <folder>/<model_name>/1."""
    import keras

    from tfvidgen import export, registry
    from tfvidgen.models.base import DataSpec
    from tfvidgen.models.config import GANConfig
    import tfvidgen.models  # noqa: F401

    preset = PRESETS[config.preset]
    keras.utils.set_random_seed(config.seed)
    task = registry.TASKS.get(config.model)(GANConfig(**preset["gan"]),
                                            DataSpec(image_size=preset["image_size"]))
    task.build()
    sizes = tuple(sorted(set(config.batch_sizes)))
    return export.export(task, folder, config.model_name, 1, warmup_batch_sizes=sizes)


class ServerProcess:
    """``bin/serve --server=package`` on a free loopback port, stopped by ``close``."""

    def __init__(self, base_path: str, model_name: str, max_batch_size: int,
                 log=lambda m: None, timeout_s: float = 600):
        command = [sys.executable, os.path.join(ROOT, "bin", "serve"), "--server=package",
                   f"--model_name={model_name}", f"--model_base_path={base_path}", "--port=0",
                   f"--max_batch_size={max_batch_size}"]
        self.proc = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                     text=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
        lines: "queue.Queue[str]" = queue.Queue()
        self.log_lines: List[str] = []

        def pump():
            for line in self.proc.stderr:
                self.log_lines.append(line)
                lines.put(line)

        threading.Thread(target=pump, daemon=True).start()
        deadline = time.monotonic() + timeout_s
        self.port = None
        while self.port is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.proc.poll() is not None:
                self.close()
                raise RuntimeError("bin/serve did not start:\n" + "".join(self.log_lines[-20:]))
            try:
                line = lines.get(timeout=min(remaining, 1.0))
            except queue.Empty:
                continue
            if "(gRPC)" in line:
                self.port = int(line.split("(gRPC)")[0].rsplit(":", 1)[1])
                log(line.strip())

    def close(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                cpu = line.split(":", 1)[1].strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return {"cpu": cpu, "nproc": os.cpu_count(), "python": platform.python_version()}


def measure(config: ServingBenchmarkConfig, log=lambda m: None) -> dict:
    """Runs the benchmark; returns the JSON-able result."""
    import tensorflow as tf

    from tfvidgen.serving import Client

    tmp = None
    server = None
    try:
        if config.saved_model:
            path = os.path.abspath(config.saved_model)
            if not os.path.exists(os.path.join(path, "saved_model.pb")):
                raise ValueError(f"--saved_model={config.saved_model}: not a version folder "
                                 "(<export_dir>/<model_name>/<version>/ with saved_model.pb)")
        else:
            tmp = tempfile.mkdtemp(prefix="tfvidgen-serving-bench-")
            log(f"exporting a {config.preset} {config.model} with random weights")
            path = export_preset(config, tmp)
        base_path, version = os.path.split(path)
        model_name = os.path.basename(base_path) if config.saved_model else config.model_name
        if config.target:
            target = config.target
        else:
            log("starting bin/serve")
            server = ServerProcess(base_path, model_name, max(config.batch_sizes), log)
            target = f"127.0.0.1:{server.port}"
        loaded = tf.saved_model.load(path)
        fn = loaded.signatures["serving_default"]
        has_frames = "num_frames" in fn.structured_input_signature[1]
        frames = None
        client = Client(target, model_name, timeout_s=600, max_batch_size=None)
        client.wait_until_available(timeout_s=600)
        if has_frames:  # in process, the signature wants every input: the server's default
            _, sigs = client.metadata()
            from tfvidgen.serving import tensors
            frames = int(tensors.to_numpy(sigs["serving_default"].defaults["num_frames"]))

        def in_process(seed, n):
            inputs = {"seed": tf.constant(seed, tf.int64), "num_videos": tf.constant(n)}
            if frames is not None:
                inputs["num_frames"] = tf.constant(frames)
            return fn(**inputs)["video"].numpy()

        def over_grpc(seed, n):
            return client.sample(seed=seed, num_videos=n)

        modes = {"in_process": in_process, "grpc": over_grpc}
        results: Dict[str, Dict[str, dict]] = {m: {} for m in modes}
        results["grpc_overhead"] = {}
        shape = None
        for n in config.batch_sizes:
            times = {m: [] for m in modes}
            seed = config.seed
            for call in modes.values():
                for _ in range(config.warmup):
                    call(seed, n)
                    seed += 1
            for i in range(config.requests):
                # One request of each mode, in alternating order: both modes see the same
                # load on a shared machine, and each pair gives one overhead sample.
                order = list(modes) if i % 2 == 0 else list(reversed(list(modes)))
                for mode in order:
                    start = time.perf_counter()
                    videos = modes[mode](seed, n)
                    times[mode].append(time.perf_counter() - start)
                shape = list(videos.shape)
                seed += 1
            for mode in modes:
                results[mode][str(n)] = summarize(times[mode], n)
            extra = np.asarray(times["grpc"]) - np.asarray(times["in_process"])
            p50 = {m: results[m][str(n)]["p50_ms"] for m in modes}
            results["grpc_overhead"][str(n)] = {
                "ratio_p50": p50["grpc"] / p50["in_process"],
                "paired_extra_ms_p50": 1e3 * percentile(extra, 50),
                "paired_extra_ms_p90": 1e3 * percentile(extra, 90)}
            log(f"batch {n:3d}: in process p50 {p50['in_process']:8.1f} ms, gRPC p50 "
                f"{p50['grpc']:8.1f} ms, paired gRPC extra p50 "
                f"{results['grpc_overhead'][str(n)]['paired_extra_ms_p50']:6.1f} ms")
        # Same seed, same videos, in process and over the wire.
        same = bool(np.array_equal(in_process(123, 2), over_grpc(123, 2)))
        client.close()
        return {"benchmark": "serving", "model": config.model if not config.saved_model else
                model_name, "preset": config.preset if not config.saved_model else "",
                "saved_model": config.saved_model, "target": config.target or "bin/serve",
                "video_shape_per_request": shape, "requests_per_point": config.requests,
                "same_videos_over_grpc": same,
                "machine": machine(), "tensorflow": tf.__version__, "results": results}
    finally:
        if server is not None:
            server.close()
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def markdown(result: dict) -> str:
    """The result as a markdown table (for docs/benchmarks.md)."""
    lines = ["| batch | in process p50 / p99 ms | gRPC p50 / p99 ms | in process videos/s "
             "| gRPC videos/s | gRPC / in process (p50) | gRPC extra per request (paired p50) |",
             "|---:|---:|---:|---:|---:|---:|---:|"]
    res = result["results"]
    for n in res["grpc"]:
        a, b, o = res["in_process"][n], res["grpc"][n], res["grpc_overhead"][n]
        lines.append(f"| {n} | {a['p50_ms']:.1f} / {a['p99_ms']:.1f} | {b['p50_ms']:.1f} / "
                     f"{b['p99_ms']:.1f} | {a['videos_per_s']:.1f} | {b['videos_per_s']:.1f} | "
                     f"{o['ratio_p50']:.2f}x | {o['paired_extra_ms_p50']:.1f} ms |")
    return "\n".join(lines)


# Command line ------------------------------------------------------------------------
def _flags():
    from absl import flags

    values = flags.FlagValues()
    flags.DEFINE_string("model", "rjgan", "Registered method (with --preset).",
                        flag_values=values)
    flags.DEFINE_enum("preset", "reference", list(PRESETS), "Model size without --saved_model.",
                      flag_values=values)
    flags.DEFINE_string("saved_model", "", "Version folder of an export to benchmark instead.",
                        flag_values=values)
    flags.DEFINE_string("target", "", "host:port of a running server (default: start bin/serve)"
                        "; it must serve --saved_model under its folder's model name.",
                        flag_values=values)
    flags.DEFINE_list("batch_sizes", ["1", "8", "32"], "num_videos per request.",
                      flag_values=values)
    flags.DEFINE_integer("requests", 30, "Timed requests per mode and batch size.",
                         flag_values=values)
    flags.DEFINE_integer("warmup", 2, "Untimed requests first (per mode and batch size).",
                         flag_values=values)
    flags.DEFINE_integer("seed", 0, "Weights (preset) and first seed.", flag_values=values)
    flags.DEFINE_string("output", None, "Also write the JSON result here.", flag_values=values)
    flags.DEFINE_bool("markdown", True, "Print a markdown table to stderr too.",
                      flag_values=values)
    return values


def run(argv=None):
    """``bin/benchmark_serving`` (and ``bin/benchmark --serving``): flags, measure, print."""
    from tfvidgen.cli.common import fail, parse_flags_or_fail

    values = _flags()
    argv = list(sys.argv if argv is None else argv)
    parse_flags_or_fail(values, [a for a in argv if a != "--serving"], __doc__)
    try:
        sizes = [int(v) for v in values.batch_sizes]
    except ValueError:
        fail("--batch_sizes: expected integers, e.g. 1,8,32")
    if not sizes or min(sizes) < 1 or values.requests < 1 or values.warmup < 0:
        fail("--batch_sizes and --requests must be positive")
    if values.target and not values.saved_model:
        fail("--target needs --saved_model (the export the server serves, for the in-process "
             "side)")
    config = ServingBenchmarkConfig(model=values.model, preset=values.preset,
                                    saved_model=values.saved_model, target=values.target,
                                    batch_sizes=sizes, requests=values.requests,
                                    warmup=values.warmup, seed=values.seed)
    try:
        result = measure(config, log=lambda m: print(m, file=sys.stderr, flush=True))
    except (ValueError, RuntimeError, KeyError) as e:
        fail(str(e))
    text = json.dumps(result, indent=1)
    print(text)
    if values.markdown:
        print(markdown(result), file=sys.stderr)
    if values.output:
        with open(values.output, "w") as f:
            f.write(text + "\n")
    return result


def main(argv=None):
    """Entry for ``bin/benchmark --serving`` (argv may still hold --serving)."""
    return run(argv)


if __name__ == "__main__":
    run()
