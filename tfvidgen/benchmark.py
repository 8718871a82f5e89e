"""Training-speed benchmark of a method (``bin/benchmark``).

Trains a registered method (``mocogan``, ``rjgan``, ``svg_lp``, ...) on
random data with the real trainer: ``tfvidgen.train.loop.Trainer`` builds the
task, its optimizers and the compiled distributed step that ``bin/train``
runs, and (``input="pipeline"``, the default) the tf.data pipeline reads
in-memory random videos through ``ArraySource``, so that the input pipeline
is measured too. ``input="constant"`` feeds one batch over and over instead.

One iteration is what ``bin/train`` runs per step (for the GANs: D_I update,
D_V update and generator update; for SVG: one teacher-forced pass over a
clip and one Adam step). After ``warmup`` iterations (tracing and the first
oneDNN primitive creation are slow), ``iterations`` iterations are timed one
by one, each until its losses are on the host; the result reports the
median and ``videos_per_s = video batch / median``.

``baseline="torch"`` also times a PyTorch port of the official training
iteration of the method's family (``benchmarks/mocogan_torch.py``,
``benchmarks/svg_torch.py``) with the same networks, batch sizes and thread
count, alternating TF and PyTorch blocks in this process so that both see
the same load on a shared machine, and reports the ratio.

Presets are per model family (``FAMILIES``: the task's ``config_class``):

GAN family (mocogan, rjgan, rmocogan, ...):
  reference: the official MoCoGAN configuration: 64x64 RGB, 16-frame clips,
    video batch 16, image batch 32, ngf = ndf = 64, content 50, motion 10,
    categorical D_V with 6 classes.
  tiny: small widths, 16x16 frames and 10-frame clips, for a quick smoke run.
SVG family (svg_lp, svg_fp, svg_det):
  reference: the official SM-MNIST configuration: 64x64 grey frames,
    DCGAN-64 encoder/decoder (nf 64), g_dim 128, z_dim 10, LSTMs of 256
    cells (predictor 2 layers, posterior / prior 1), 5 context + 10 future
    frames (15-frame clips), batch 16, beta 1e-4, Adam 2e-3 with beta1 0.9.
  tiny: small widths, 16x16 frames, 2 + 3 frames, batch 2.

``precision`` (``--precision``) builds the networks under that Keras dtype
policy, as ``bin/train --precision`` does. Every result names the device,
the CPU's model and instruction sets that matter (AVX-512F, AVX512_BF16,
AMX-BF16, AMX-TILE; from /proc/cpuinfo, "unknown" elsewhere), the
precision, the FLOPs of one iteration (``count_flops``: convolutions and
matmuls of the traced step, forward and backward, 2 FLOPs per
multiply-add) and the fraction of this machine's peak they reach: the peak
is a large matmul in the precision's compute dtype, timed for a few seconds
by the benchmark itself (``matmul_peak``).

``input_only`` times the input pipeline alone (the trainer's dataset at the
preset, no training step) and reports the videos per second it delivers.
"""
from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import platform
import statistics
import tempfile
import time
from typing import Callable, Dict, List, Optional

import tfvidgen  # noqa: F401  (sets TF_ENABLE_ONEDNN_OPTS before TensorFlow loads)
import numpy as np
import tensorflow as tf

from tfvidgen import benchmark_worker, registry
from tfvidgen import precision as precision_lib
from tfvidgen.data import pipeline, sampling
from tfvidgen.data.sources import ArraySource
from tfvidgen.models.base import DataSpec
from tfvidgen.models.config import GANConfig
from tfvidgen.models.svg import SVGConfig

# Presets per model family: a family is a task config class (``config_class`` of
# the registered task; GANConfig when it names none), so that any method of a
# family (mocogan, rjgan, rmocogan; svg_lp, ...) runs on its family's presets.


@dataclasses.dataclass(frozen=True)
class Preset:
    """One benchmark setting of a model family.

    Attributes:
      task: fields of the family's config class (the task's hyperparameters).
      batch_size: videos per training step (TrainConfig.batch_size).
      image_size, channels: frame side and channels of the random videos.
      num_videos, video_length: the in-memory random dataset.
      num_classes: labels of the random videos (0: one unnamed class).
      torch_baseline: module under ``benchmarks/`` with the PyTorch port of
        the official iteration (``--baseline=torch``); "" if none.
      torch_args: ``fn(config, preset) -> kwargs`` of that module's
        ``Baseline`` besides model, threads and seed.
      description: one line for --help and the docs.
    """
    task: dict
    batch_size: int
    image_size: int
    channels: int = 3
    num_videos: int = 32
    video_length: int = 24
    num_classes: int = 0
    torch_baseline: str = ""
    torch_args: Optional[Callable] = None
    description: str = ""


def _gan_torch_args(gan: GANConfig, preset: Preset) -> dict:
    return dict(image_size=preset.image_size, ngf=gan.ngf, ndf=gan.ndf,
                num_categories=gan.num_categories, clip_length=gan.clip_length,
                video_batch=gan.batch_size, image_batch=gan.image_batch_size,
                content_dim=gan.content_dim, motion_dim=gan.motion_dim,
                latent_dim=gan.latent_dim, noise_dim=gan.noise_dim)


def _svg_torch_args(svg: SVGConfig, preset: Preset) -> dict:
    return dict(image_size=preset.image_size, channels=svg.frame_channels,
                nf=svg.encoder_width, g_dim=svg.g_dim, z_dim=svg.z_dim, rnn_size=svg.rnn_size,
                predictor_rnn_layers=svg.predictor_rnn_layers,
                posterior_rnn_layers=svg.posterior_rnn_layers,
                prior_rnn_layers=svg.prior_rnn_layers, n_past=svg.n_past,
                n_future=svg.n_future, beta=svg.beta, last_frame_skip=svg.last_frame_skip,
                learning_rate=svg.learning_rate, beta1=svg.beta1,
                batch_size=preset.batch_size)


FAMILIES: Dict[type, Dict[str, Preset]] = {
    GANConfig: {
        "reference": Preset(
            task=dict(ngf=64, ndf=64, content_dim=50, motion_dim=10, latent_dim=60,
                      noise_dim=10, num_categories=6, clip_length=16, batch_size=16,
                      image_batch_size=32),
            batch_size=16, image_size=64, num_videos=32, video_length=24, num_classes=6,
            torch_baseline="mocogan_torch", torch_args=_gan_torch_args,
            description="the official MoCoGAN configuration"),
        "tiny": Preset(
            task=dict(ngf=8, ndf=8, content_dim=8, motion_dim=4, latent_dim=12, noise_dim=4,
                      num_categories=6, clip_length=10, batch_size=2, image_batch_size=4),
            batch_size=2, image_size=16, num_videos=8, video_length=12, num_classes=6,
            torch_baseline="mocogan_torch", torch_args=_gan_torch_args,
            description="small widths, 16x16, 10-frame clips"),
    },
    SVGConfig: {
        "reference": Preset(
            task=dict(encoder_arch="dcgan", encoder_width=64, frame_channels=1, g_dim=128,
                      z_dim=10, rnn_size=256, predictor_rnn_layers=2, posterior_rnn_layers=1,
                      prior_rnn_layers=1, n_past=5, n_future=10, n_eval=30, beta=1e-4,
                      last_frame_skip=False, learning_rate=2e-3, beta1=0.9, beta2=0.999),
            batch_size=16, image_size=64, channels=1, num_videos=32, video_length=30,
            torch_baseline="svg_torch", torch_args=_svg_torch_args,
            description="the official SM-MNIST configuration of SVG"),
        "tiny": Preset(
            task=dict(encoder_arch="dcgan", encoder_width=8, frame_channels=1, g_dim=16,
                      z_dim=4, rnn_size=16, predictor_rnn_layers=2, posterior_rnn_layers=1,
                      prior_rnn_layers=1, n_past=2, n_future=3, n_eval=6),
            batch_size=2, image_size=16, channels=1, num_videos=8, video_length=8,
            torch_baseline="svg_torch", torch_args=_svg_torch_args,
            description="small widths, 16x16, 5-frame clips"),
    },
}
PRESET_NAMES = ("reference", "tiny")
# The GAN family's presets as plain dicts (kept for callers of the first version).
PRESETS: Dict[str, dict] = {
    name: dict(image_size=p.image_size, num_videos=p.num_videos, video_length=p.video_length,
               gan=dict(p.task))
    for name, p in FAMILIES[GANConfig].items()}
TORCH_MISSING = benchmark_worker.TORCH_MISSING


@dataclasses.dataclass
class BenchmarkConfig:
    """What to measure.

    Attributes:
      model: registered method name (``mocogan``, ``rjgan``, ...).
      preset: ``reference`` or ``tiny`` (see the module docstring).
      iterations: timed iterations (per framework).
      warmup: untimed iterations first (per framework).
      share_fakes: one batch of fakes for the D and G updates (GANConfig).
      jit_compile: XLA-compile the step (slow on CPU).
      input: ``pipeline`` (tf.data over in-memory random videos) or
        ``constant`` (one batch fed every iteration).
      baseline: ``""`` or ``"torch"`` (PyTorch port of the official code).
      blocks: number of alternating TF / PyTorch blocks with a baseline.
      threads: intra-op threads of TF (and PyTorch); 0: all cores.
      inter_op_threads: TF's inter-op threads (ops run concurrently); 0: TF's
        default (one per core).
      seed: seed of weights, data and noise.
      profile_dir: when set, also profiles ``profile_iterations`` extra
        iterations with ``tf.profiler`` into this folder and reports the ops
        taking most time.
      profile_iterations: iterations profiled.
      torch_process: run the PyTorch baseline in a child process without
        TensorFlow (``TorchProcess``) instead of in this one.
    """
    model: str = "mocogan"
    preset: str = "reference"
    iterations: int = 8
    warmup: int = 2
    share_fakes: bool = True
    jit_compile: bool = False
    input: str = "pipeline"
    baseline: str = ""
    blocks: int = 2
    threads: int = 0
    inter_op_threads: int = 0
    seed: int = 0
    profile_dir: str = ""
    profile_iterations: int = 2
    torch_process: bool = False
    precision: str = "float32"
    steps_per_loop: int = 1
    input_only: bool = False
    peak_seconds: float = 3.0


def family(model: str) -> type:
    """The config class of a registered method (its preset family)."""
    import tfvidgen.models  # noqa: F401  (registers every method)

    return registry.TASKS.get(model).config_class


def get_preset(model: str, preset: str) -> Preset:
    """The preset ``preset`` of ``model``'s family."""
    # A family covers its config class's subclasses (ImageGANConfig is a GANConfig).
    presets = next((FAMILIES[c] for c in family(model).__mro__ if c in FAMILIES), None)
    if presets is None:
        raise ValueError(f"no benchmark presets for {model!r} "
                         f"(families: {', '.join(c.__name__ for c in FAMILIES)})")
    if preset not in presets:
        raise ValueError(f"unknown preset {preset!r}; known: {', '.join(sorted(presets))}")
    return presets[preset]


def task_config(model: str, preset: str, **overrides):
    """The task config of ``model`` at a preset, with field overrides (unknown fields of
    the family's config class are ignored, e.g. ``share_fakes`` for SVG)."""
    config_class = family(model)
    fields = {f.name for f in dataclasses.fields(config_class)}
    values = {**get_preset(model, preset).task,
              **{k: v for k, v in overrides.items() if k in fields}}
    return config_class(**values)


def gan_config(preset: str, **overrides) -> GANConfig:
    """The GANConfig of a preset of the GAN family (with field overrides)."""
    if preset not in FAMILIES[GANConfig]:
        raise ValueError(f"unknown preset {preset!r}; known: "
                         f"{', '.join(sorted(FAMILIES[GANConfig]))}")
    return GANConfig(**{**FAMILIES[GANConfig][preset].task, **overrides})


def random_data(preset, seed: int = 0) -> pipeline.TrainingData:
    """In-memory random uint8 videos of a Preset (or a GAN preset's name), with labels."""
    p = FAMILIES[GANConfig][preset] if isinstance(preset, str) else preset
    rng = np.random.default_rng(seed)
    size, classes = p.image_size, max(p.num_classes, 1)
    videos = [rng.integers(0, 256, [p.video_length, size, size, p.channels], dtype=np.uint8)
              for _ in range(p.num_videos)]
    labels = [i % classes for i in range(p.num_videos)]
    names = tuple(f"class{i}" for i in range(classes))
    return pipeline.split_sources(ArraySource(videos, labels, names, name="random"), seed=seed)


def build_trainer(config: BenchmarkConfig, model_dir: str):
    """A Trainer of ``config.model`` at the preset, as bin/train builds it (one replica)."""
    from tfvidgen.train import strategies
    from tfvidgen.train.loop import TrainConfig, Trainer

    preset = get_preset(config.model, config.preset)
    task_cfg = task_config(config.model, config.preset, share_fakes=config.share_fakes)
    data = random_data(preset, config.seed)
    spec = DataSpec(image_size=preset.image_size, channels=preset.channels,
                    class_names=tuple(data.sources[0].class_names),
                    length_probs=tuple(float(p) for p in
                                       sampling.length_probs(data.videos.lengths())))
    with precision_lib.policy(config.precision):  # as experiment.build_task does
        task = registry.TASKS.get(config.model)(task_cfg, spec)
    precision_lib.bind(task, config.precision)
    train_config = TrainConfig(model_dir=model_dir, max_steps=10 ** 9,
                               batch_size=preset.batch_size, seed=config.seed,
                               jit_compile=config.jit_compile)
    return Trainer(task, data, train_config, strategies.make_strategy("mirrored", 1))


class TFRunner:
    """Times iterations of the trainer's compiled step."""

    def __init__(self, config: BenchmarkConfig):
        self.config = config
        self._tmp = tempfile.TemporaryDirectory(prefix="tfvidgen-benchmark-")
        self.trainer = build_trainer(config, self._tmp.name)
        self.step_fn = self.trainer._train_step  # the exact function Trainer.train runs
        self.iterator = iter(self.trainer.dataset(0))
        self.constant = next(self.iterator) if config.input == "constant" else None
        self.steps_per_loop = max(1, config.steps_per_loop)
        self.loop_fn = (self.trainer._make_train_loop(self.step_fn)  # as --steps_per_loop
                        if self.steps_per_loop > 1 else None)

    def iteration(self) -> float:
        """Runs one iteration (batch, step, losses to host); returns its seconds.
        With ``steps_per_loop`` N > 1: N iterations in one compiled call, losses
        to the host once; returns the seconds per iteration."""
        start = time.perf_counter()
        if self.loop_fn is not None:
            metrics = self.loop_fn(self.iterator, tf.constant(self.steps_per_loop, tf.int64))
        else:
            batch = self.constant if self.constant is not None else next(self.iterator)
            metrics = self.step_fn(batch)
        losses = {k: float(v) for k, v in metrics.items()}
        elapsed = (time.perf_counter() - start) / self.steps_per_loop
        if not all(np.isfinite(v) for v in losses.values()):
            raise FloatingPointError(f"non-finite loss: {losses}")
        return elapsed

    def input_iteration(self) -> float:
        """Takes one batch from the input pipeline (no step); returns its seconds."""
        start = time.perf_counter()
        batch = next(self.iterator)
        tf.nest.map_structure(lambda t: t.numpy() if hasattr(t, "numpy") else t,
                              self.trainer.strategy.experimental_local_results(batch))
        return time.perf_counter() - start

    def flops(self) -> int:
        """FLOPs of one iteration of the compiled step (``count_flops``)."""
        batch = self.constant if self.constant is not None else next(self.iterator)
        return count_flops(self.step_fn.get_concrete_function(batch).graph)

    def profile(self, logdir: str, iterations: int, top: int = 12) -> dict:
        """Profiles some iterations; returns where the op time goes (see ``op_breakdown``)."""
        tf.profiler.experimental.start(logdir)
        try:
            for _ in range(iterations):
                self.iteration()
        finally:
            tf.profiler.experimental.stop()
        groups = list(self.trainer.task.networks()) + ["adam"]
        return op_breakdown(logdir, groups, top)

    def close(self):
        self._tmp.cleanup()


def _flops_of(op) -> int:
    """2 x multiply-adds of a convolution or matmul op with known shapes (else 0)."""
    def shape(t):
        dims = t.shape.as_list() if t.shape.rank is not None else None
        return None if dims is None or any(d is None for d in dims) else dims
    kind = op.type
    if kind in ("Conv2D", "Conv3D", "DepthwiseConv2dNative"):
        kernel, out = shape(op.inputs[1]), shape(op.outputs[0])
        if kernel is None or out is None:
            return 0
        if kind == "DepthwiseConv2dNative":
            return 2 * int(np.prod(out)) * int(np.prod(kernel[:2]))
        return 2 * int(np.prod(out[:-1])) * int(np.prod(kernel))
    if kind in ("Conv2DBackpropInput", "Conv3DBackpropInputV2", "Conv2DBackpropFilter",
                "Conv3DBackpropFilterV2"):
        # Same work as the forward convolution: its output gradient x the kernel.
        grad = shape(op.inputs[2])
        kernel = shape(op.inputs[1]) if "Input" in kind else shape(op.outputs[0])
        if grad is None or kernel is None:
            return 0
        return 2 * int(np.prod(grad[:-1])) * int(np.prod(kernel))
    if kind in ("MatMul", "BatchMatMulV2", "BatchMatMulV3", "BatchMatMul"):
        a, out = shape(op.inputs[0]), shape(op.outputs[0])
        if a is None or out is None:
            return 0
        if kind == "MatMul":
            k = a[0] if op.get_attr("transpose_a") else a[1]
        else:
            adj = op.get_attr("adj_x") if "adj_x" in op.node_def.attr else False
            k = a[-2] if adj else a[-1]
        return 2 * int(np.prod(out)) * int(k)
    return 0


def count_flops(graph) -> int:
    """FLOPs of a traced graph (and the function graphs it calls): convolutions,
    their gradients and matmuls, 2 per multiply-add; elementwise ops, BatchNorm and
    the optimizer are left out (a few percent in the methods here). Only ops that
    the graph's outputs or stateful ops (variable updates) depend on count: the
    gradient of a convolution's input that nothing uses (e.g. with respect to the
    real videos) is traced but pruned before it runs."""
    total, seen = 0, set()

    def live_ops(g):
        stack = [t.op for t in g.outputs] + list(getattr(g, "control_outputs", []))
        stack += [op for op in g.get_operations() if op._is_stateful]  # noqa: SLF001
        live = set()
        while stack:
            op = stack.pop()
            if op in live:
                continue
            live.add(op)
            stack.extend(t.op for t in op.inputs)
            stack.extend(op.control_inputs)
        return live

    def walk(g):
        nonlocal total
        for op in live_ops(g):
            total += _flops_of(op)
        for name, fn in getattr(g, "_functions", {}).items():
            inner = getattr(fn, "graph", None)
            if name not in seen and inner is not None:
                seen.add(name)
                walk(inner)
    walk(graph)
    return total


def matmul_peak(precision: str = "float32", seconds: float = 3.0, n: int = 2048) -> dict:
    """This machine's matmul rate in the compute dtype of ``precision``: [n, n] x [n, n]
    products for about ``seconds``; the best window's GFLOP/s."""
    dtype = tf.as_dtype(precision_lib.compute_dtype(precision))
    a = tf.random.stateless_normal([n, n], [1, 2], dtype=tf.float32)
    b = tf.random.stateless_normal([n, n], [3, 4], dtype=tf.float32)
    a, b = tf.cast(a, dtype), tf.cast(b, dtype)
    mm = tf.function(lambda x, y: tf.reduce_sum(tf.cast(tf.matmul(x, y)[:1, :1], tf.float32)))
    mm(a, b).numpy()  # warm-up (oneDNN primitive creation)
    flop = 2.0 * n ** 3
    rates, start = [], time.perf_counter()
    while time.perf_counter() - start < seconds or len(rates) < 3:
        count, t0 = 0, time.perf_counter()
        while count < 1 or time.perf_counter() - t0 < min(1.0, seconds / 3):
            mm(a, b).numpy()
            count += 1
        rates.append(count * flop / (time.perf_counter() - t0))
    return {"dtype": dtype.name, "n": n, "gflops": round(max(rates) / 1e9, 1)}


def device_name() -> str:
    """The device the step runs on: the first GPU's name, else "CPU"."""
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return "CPU"
    try:
        return tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU")
    except Exception:  # noqa: BLE001
        return "GPU"


def machine_report(precision: str) -> dict:
    """Device, CPU model, instruction sets and precision (also printed by bin/benchmark)."""
    info = precision_lib.cpu_info()
    return {"device": device_name(), "cpu_model": info["cpu_model"],
            "instruction_sets": dict(info["instruction_sets"]), "precision": precision,
            "bf16_hardware": precision_lib.bf16_hardware()}


def op_breakdown(logdir: str, groups=(), top: int = 12) -> dict:
    """Op self time by op type, by network (forward / gradient) and the top ops.

    Reads the newest profile under ``logdir`` with TensorFlow's own converter
    (``framework_op_stats``, the table of TensorBoard's profile plugin), so no
    extra package is needed. Times are summed over ops, which may overlap
    when inter-op parallelism runs several at once.
    """
    from tensorflow.python.profiler.internal import _pywrap_profiler_plugin as plugin

    paths = sorted(tf.io.gfile.glob(os.path.join(logdir, "plugins", "profile", "*",
                                                 "*.xplane.pb")))
    if not paths:
        return {}
    data, ok = plugin.xspace_to_tools_data(paths[-1:], "framework_op_stats", {})
    if not ok:
        return {}
    table = json.loads(data)[0]
    cols = [c["id"] for c in table["cols"]]
    rows = [dict(zip(cols, [cell.get("v") for cell in row["c"]])) for row in table["rows"]]
    rows = [r for r in rows if r.get("type") != "IDLE" and r.get("total_self_time")]
    # tf.data's iterator ops run in the background and wait most of their time.
    input_ms = sum(r["total_self_time"] for r in rows if r["type"] in ("Dataset", "Iterator"))
    rows = [r for r in rows if r["type"] not in ("Dataset", "Iterator")]
    total = sum(r["total_self_time"] for r in rows) or 1.0

    def table_of(key_fn, limit):
        sums = {}
        for r in rows:
            key = key_fn(r)
            sums[key] = sums.get(key, 0.0) + r["total_self_time"]
        ordered = sorted(sums.items(), key=lambda kv: -kv[1])[:limit]
        return {k: {"ms": round(v / 1e3, 1), "percent": round(100.0 * v / total, 1)}
                for k, v in ordered}

    def network(r):
        name = r["operation"]
        part = "gradient" if "gradient_tape" in name else "forward"
        group = next((g for g in groups if g in name), "other")
        return f"{group} {part}" if group != "adam" else "optimizer"

    individual = sorted(rows, key=lambda r: -r["total_self_time"])[:top]
    return {"total_op_ms": round(total / 1e3, 1), "input_pipeline_ms": round(input_ms / 1e3, 1),
            "by_type": table_of(lambda r: r["type"], top),
            "by_network": table_of(network, 2 * len(groups) + 2),
            "top_ops": [{"type": r["type"], "name": r["operation"],
                         "ms": round(r["total_self_time"] / 1e3, 1)} for r in individual]}


def load_torch_baseline(name: str = "mocogan_torch"):
    """Imports ``benchmarks/<name>.py`` from the source tree (needs PyTorch)."""
    return benchmark_worker.load_baseline(name)


def summarize(times: List[float], video_batch: int, cpu_times: Optional[List[float]] = None
              ) -> dict:
    """Median / p10 / p90 seconds per iteration and videos per second.

    ``cpu_times`` (process CPU seconds per iteration) gives their median,
    which depends little on other processes' load (but includes threads
    spinning while they wait), and ``cpu_per_wall``: about the number of
    cores the process had on average (near ``threads`` on an idle machine,
    lower when other processes compete for the cores).
    """
    q = np.percentile(times, [10, 50, 90])
    median = statistics.median(times)
    out = {"videos_per_s": round(video_batch / median, 4),
           "sec_per_iter_median": round(median, 4), "sec_per_iter_p10": round(float(q[0]), 4),
           "sec_per_iter_p90": round(float(q[2]), 4), "iterations": len(times),
           "times": [round(t, 3) for t in times]}
    if cpu_times:
        out["cpu_sec_per_iter_median"] = round(statistics.median(cpu_times), 3)
        out["cpu_per_wall"] = round(sum(cpu_times) / max(sum(times), 1e-9), 2)
    return out


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def resolved_threads(threads: int) -> int:
    """The intra-op thread count TF uses (0 means one per core)."""
    return threads or tf.config.threading.get_intra_op_parallelism_threads() or os.cpu_count()


def _split(total: int, parts: int) -> List[int]:
    parts = max(1, min(parts, total))
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def run(config: BenchmarkConfig, log=print) -> dict:
    """Runs the benchmark; returns the JSON-ready result.

    Args:
      config: what to measure.
      log: progress messages (e.g. ``print`` to stderr); None for silence.
    """
    log = log or (lambda *a, **k: None)
    if config.input not in ("pipeline", "constant"):
        raise ValueError(f"input must be 'pipeline' or 'constant', got {config.input!r}")
    if config.baseline not in ("", "torch"):
        raise ValueError(f"baseline must be '' or 'torch', got {config.baseline!r}")
    if config.iterations < 1 or config.warmup < 0:
        raise ValueError("iterations must be >= 1 and warmup >= 0")
    precision_lib.check(config.precision)
    if config.steps_per_loop > 1 and config.input == "constant":
        raise ValueError("--steps_per_loop > 1 reads batches from the pipeline: use "
                         "--input=pipeline")
    if config.input_only and config.baseline:
        raise ValueError("--input_only measures the input pipeline alone: no --baseline")
    if config.threads:
        tf.config.threading.set_intra_op_parallelism_threads(config.threads)
    if config.inter_op_threads:
        tf.config.threading.set_inter_op_parallelism_threads(config.inter_op_threads)
    preset = get_preset(config.model, config.preset)
    if config.baseline == "torch" and not preset.torch_baseline:
        raise ValueError(f"no PyTorch baseline for {config.model!r}")
    torch_mod = None
    if config.baseline == "torch":
        if config.torch_process:  # only check here: torch is imported by the child alone
            if importlib.util.find_spec("torch") is None:
                raise RuntimeError(TORCH_MISSING)
            torch_mod = True
        else:
            torch_mod = load_torch_baseline(preset.torch_baseline)
    threads = resolved_threads(config.threads)
    task_cfg = task_config(config.model, config.preset, share_fakes=config.share_fakes)

    machine = machine_report(config.precision)
    log("device {device}, CPU {cpu_model} ({sets}), precision {precision}".format(
        sets=", ".join(f"{k} {'yes' if v is True else 'no' if v is False else v}"
                       for k, v in machine["instruction_sets"].items()), **machine))
    if config.precision == "mixed_bfloat16" and machine["bf16_hardware"] is False:
        log("note: no AVX512_BF16 / AMX-BF16 and no GPU: bfloat16 is emulated on this CPU")
    log(f"building {config.model} ({config.preset}) ...")
    tf_runner = TFRunner(config)
    if config.input_only:
        return _run_input_only(config, preset, tf_runner, machine, threads, log)
    torch_runner = None
    if torch_mod is not None:
        kwargs = dict(model=config.model, threads=threads, seed=config.seed,
                      **preset.torch_args(task_cfg, preset))
        torch_runner = (TorchProcess(preset.torch_baseline, kwargs)
                        if config.torch_process else torch_mod.Baseline(**kwargs))
    load_before = os.getloadavg()
    runners = {"tensorflow": tf_runner}
    if torch_runner is not None:
        runners["torch"] = torch_runner
    times = {name: [] for name in runners}
    cpu = {name: [] for name in runners}
    for name, runner in runners.items():
        for i in range(config.warmup):
            log(f"{name} warm-up {i + 1}/{config.warmup}: {runner.iteration():.3f} s")
    blocks = _split(config.iterations, config.blocks if torch_runner else 1)
    for b, count in enumerate(blocks):
        for name, runner in runners.items():
            for _ in range(count):
                start_cpu = time.process_time()
                times[name].append(runner.iteration())
                # A runner in its own process reports that process's CPU seconds.
                cpu[name].append(getattr(runner, "last_cpu", None)
                                 or time.process_time() - start_cpu)
                log(f"block {b + 1}/{len(blocks)} {name}: {times[name][-1]:.3f} s "
                    f"(cpu {cpu[name][-1]:.1f} s)")

    batch = preset.batch_size
    result = {"model": config.model, "preset": config.preset,
              **summarize(times["tensorflow"], batch, cpu["tensorflow"]),
              "warmup": config.warmup, "video_batch": batch,
              "image_batch": getattr(task_cfg, "image_batch_size", 0),
              "clip_length": tf_runner.trainer.task.data_requirements().clip_length,
              "image_size": preset.image_size, "channels": preset.channels,
              "share_fakes": config.share_fakes, "jit_compile": config.jit_compile,
              "input": config.input, "steps_per_loop": config.steps_per_loop,
              "threads": threads,
              "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
              "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "") not in ("", "0"),
              "tensorflow": tf.__version__, "cpu": cpu_model(), "nproc": os.cpu_count(),
              "loadavg_1min_before_after": [round(load_before[0], 2),
                                            round(os.getloadavg()[0], 2)], **machine}
    flops = tf_runner.flops()
    log(f"measuring the {config.precision} matmul peak ({config.peak_seconds:g} s) ...")
    peak = matmul_peak(config.precision, config.peak_seconds)
    achieved = flops / result["sec_per_iter_median"] / 1e9
    result.update({"flops_per_iteration": flops, "achieved_gflops": round(achieved, 1),
                   "peak_matmul": peak,
                   "fraction_of_peak": round(achieved / peak["gflops"], 3)
                   if peak["gflops"] else None})
    log(f"{result['videos_per_s']} videos/s, {flops / 1e12:.3f} TFLOP/iteration, "
        f"{achieved:.1f} GFLOP/s = {result['fraction_of_peak']} of the {peak['dtype']} "
        f"matmul peak ({peak['gflops']} GFLOP/s)")
    if torch_runner is not None:
        result["torch"] = {**summarize(times["torch"], batch, cpu["torch"]),
                           **torch_runner.describe()}
        result["blocks"] = len(blocks)
        result["speedup_vs_torch"] = round(result["videos_per_s"] /
                                           result["torch"]["videos_per_s"], 3)
        # Ratio of the fastest iterations: closer to an idle machine's ratio.
        result["speedup_vs_torch_p10"] = round(result["torch"]["sec_per_iter_p10"] /
                                               result["sec_per_iter_p10"], 3)
    if config.profile_dir:
        log(f"profiling {config.profile_iterations} iterations into {config.profile_dir} ...")
        result["profile"] = tf_runner.profile(config.profile_dir, config.profile_iterations)
    tf_runner.close()
    if isinstance(torch_runner, TorchProcess):
        torch_runner.close()
    return result


def _run_input_only(config: BenchmarkConfig, preset: Preset, tf_runner: TFRunner,
                    machine: dict, threads: int, log) -> dict:
    """``input_only``: batches of the trainer's input pipeline, no training step."""
    for i in range(config.warmup):
        log(f"input warm-up {i + 1}/{config.warmup}: {tf_runner.input_iteration():.4f} s")
    # Batches are fast: time at least 20 of them.
    count = max(config.iterations, 20)
    start = time.perf_counter()
    times = [tf_runner.input_iteration() for _ in range(count)]
    total = time.perf_counter() - start
    batch = preset.batch_size
    req = tf_runner.trainer.task.data_requirements()
    result = {"model": config.model, "preset": config.preset, "input_only": True,
              **summarize(times, batch), "videos_per_s_overall": round(batch * count / total, 2),
              "warmup": config.warmup, "video_batch": batch, "clip_length": req.clip_length,
              "images_per_video": req.images_per_video, "real_batches": req.real_batches,
              "image_size": preset.image_size, "channels": preset.channels, "threads": threads,
              "tensorflow": tf.__version__, "cpu": cpu_model(), "nproc": os.cpu_count(),
              **machine}
    log(f"input pipeline alone: {result['videos_per_s']} videos/s (median batch), "
        f"{result['videos_per_s_overall']} videos/s overall")
    tf_runner.close()
    return result


class TorchProcess:
    """The PyTorch baseline in a child process without TensorFlow (``torch_process``).

    The child (``python -m tfvidgen.benchmark_worker``) imports neither
    TensorFlow nor this process's threads and blocks on its stdin between
    iterations, so TF's thread pools and tf.data's background threads
    cannot take cores from PyTorch's OpenMP threads while they run; the
    blocks still alternate, so both see the same outside load.
    ``last_cpu`` is the child's CPU seconds of the last iteration.
    """

    def __init__(self, name: str, kwargs: dict):
        import subprocess
        import sys

        root = os.path.dirname(os.path.dirname(os.path.abspath(tfvidgen.__file__)))
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            [root] + [p for p in [os.environ.get("PYTHONPATH")] if p])}
        self._process = subprocess.Popen(
            [sys.executable, "-m", "tfvidgen.benchmark_worker"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, text=True, env=env)
        answer = self._ask(json.dumps({"name": name, "kwargs": kwargs}))
        if "ready" not in answer:
            self.close()
            raise RuntimeError(f"PyTorch baseline process failed: {answer.get('error')}")
        self._describe = answer["ready"]
        self.last_cpu = None

    def _ask(self, line: str) -> dict:
        self._process.stdin.write(line + "\n")
        self._process.stdin.flush()
        answer = self._process.stdout.readline()
        if not answer:
            raise RuntimeError(f"PyTorch baseline process exited ({self._process.wait()})")
        return json.loads(answer)

    def iteration(self) -> float:
        answer = self._ask("iteration")
        self.last_cpu = answer["cpu"]
        return answer["seconds"]

    def describe(self) -> dict:
        return {**self._describe, "process": "separate (no TensorFlow in it)"}

    def close(self):
        if self._process.poll() is None:
            self._process.stdin.close()
            try:
                self._process.wait(timeout=30)
            except Exception:  # noqa: BLE001
                self._process.kill()
