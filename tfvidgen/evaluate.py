"""Evaluation of a trained run: the library behind ``bin/evaluate`` and ``--eval_every``.

A *sampler* (a run's Task restored from its checkpoint, or a SavedModel
export) is scored by named protocols (``PROTOCOLS``), each returning scalars
whose names carry the protocol, details for the JSON report, and files
(plots) written next to it:

* ``fd``: Frechet distance between extractor activations of N generated and
  N real clips (equal counts; seed 003 uses 624), ``fd_<extractor>_<N>v_<T>f``
  (``..._<N>i`` for an image extractor, on frames).
* ``is``: classifier (Inception) score over S splits of B samples, mean and
  std (seed 003: 10 x 128 images), ``is_<extractor>_<S>x<B>`` (+ ``_std``).
* ``ssim`` (also ``psnr``, ``prediction``): seed 002's best-of-N prediction
  protocol on held-out sequences, ``ssim_bestof<N>_<P>p<F>f`` and
  ``psnr_...``; per-timestep curves with 95% CIs in the report and a PNG.
* ``parzen``: Parzen-window log-likelihood, sigma chosen on a validation
  half of the held-out videos, mean over the other half,
  ``parzen_<unit>_<N>s`` (nats per example, pixels in [0, 1]).
* ``parzen_ms``: the multi-scale Laplacian-pyramid estimator,
  ``parzen_ms<K>_<unit>_<N>s``.
* ``nn``: nearest training items of generated samples in pixel (and
  extractor feature) space, ``nn_pixel_<unit>_<Q>s`` = mean RMS distance to
  the nearest item, and a PNG grid.

Extractors (I3D, C3D, dataset classifiers) come from
``tfvidgen.metrics.extractors``; a metric may name its own with
``fd@classifier:runs/expr_clf``. See docs/evaluation.md.
"""
from __future__ import annotations

import dataclasses
import datetime
import json
import logging
import os
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np
import tensorflow as tf

from tfvidgen import registry
from tfvidgen.data import pipeline
from tfvidgen.data.sources import SubsetSource
from tfvidgen.metrics.prediction import derive_seed

ALIASES = {"psnr": "ssim", "prediction": "ssim", "fvd": "fd", "laplacian": "parzen_ms"}


class MetricUnavailable(ValueError):
    """A requested metric cannot run for this model or setup (the message says why)."""


# Configuration --------------------------------------------------------------------
@dataclasses.dataclass
class EvalConfig:
    """Sizes and choices of every protocol (the bin/evaluate flags)."""
    metrics: Tuple[str, ...] = ("fd", "is")
    num_videos: int = 624              # fd: real and generated clips (or images), each
    num_frames: Optional[int] = None   # clip length (default: the extractor's or the model's)
    extractor: object = "i3d"          # spec ("i3d", "c3d", "classifier:<path>") or an object
    i3d_path: Optional[str] = None
    c3d_path: Optional[str] = None
    c3d_mean_path: Optional[str] = None
    is_splits: int = 10
    is_split_size: int = 128
    seed: int = 0
    batch_size: int = 32               # samples generated per call
    eval_split: str = "test"           # held-out split (prediction, parzen)
    n_past: Optional[int] = None       # prediction context (default: the run's --n_past, else 5)
    n_future: Optional[int] = None     # predicted frames (default: the run's --n_eval - --n_past,
                                       # else its --n_future, else 10)
    num_prediction_samples: int = 100
    num_test_sequences: int = 256
    prediction_select_by: str = "ssim"
    parzen_samples: int = 1000
    parzen_heldout: int = 500          # validation and test items, each
    parzen_unit: str = "frames"
    parzen_levels: int = 2
    nn_samples: int = 16
    nn_k: int = 5
    nn_unit: str = "videos"
    nn_max_train_items: int = 0        # 0: every training item

    @classmethod
    def cheap(cls, **overrides) -> "EvalConfig":
        """Small sample sizes for periodic evaluation during training (--eval_every)."""
        values = dict(num_videos=128, is_splits=10, is_split_size=32, num_prediction_samples=10,
                      num_test_sequences=32, parzen_samples=500, parzen_heldout=200,
                      nn_samples=8, nn_max_train_items=2000, extractor=None)
        values.update(overrides)
        return cls(**values)


def parse_metric_specs(text) -> List[Tuple[str, Optional[str]]]:
    """"fd,is@classifier:runs/clf,parzen" -> [("fd", None), ("is", "classifier:runs/clf"), ...]."""
    items = text.split(",") if isinstance(text, str) else list(text)
    specs = []
    for item in items:
        item = item.strip()
        if not item:
            continue
        name, _, extractor = item.partition("@")
        name = ALIASES.get(name.strip().lower(), name.strip().lower())
        if name not in PROTOCOLS:
            raise ValueError(f"unknown metric {name!r}; known: {', '.join(sorted(PROTOCOLS))} "
                             f"(aliases: {', '.join(sorted(ALIASES))})")
        spec = (name, extractor.strip() or None)
        if spec not in specs:
            specs.append(spec)
    if not specs:
        raise ValueError("no metric given")
    return specs


# Samplers -------------------------------------------------------------------------
class TaskSampler:
    """Samples of a (restored) Task, in batches, from fixed seeds."""

    def __init__(self, task, batch_size: int = 32, name: str = ""):
        self.task, self.batch_size = task, batch_size
        self.name = name or type(task).__name__

    @property
    def default_num_frames(self) -> int:
        return self.task.default_num_frames

    def _batches(self, n, seed, fn):
        from tfvidgen.models.base import StatelessNoise, to_uint8
        out = []
        for i, start in enumerate(range(0, n, self.batch_size)):
            count = min(self.batch_size, n - start)
            out.append(to_uint8(fn(StatelessNoise(derive_seed(seed, 0x5A, i)), count)).numpy())
        return np.concatenate(out)

    def videos(self, n: int, num_frames: int, seed: int) -> np.ndarray:
        """uint8 [n, num_frames, H, W, 3]."""
        return self._batches(n, seed, lambda noise, c: self.task.sample(noise, c, num_frames))

    def images(self, n: int, seed: int) -> np.ndarray:
        """uint8 [n, H, W, 3]."""
        return self._batches(n, seed, lambda noise, c: self.task.sample_images(noise, c))

    def predictor(self) -> Callable:
        from tfvidgen.metrics.prediction import task_predictor
        try:
            return task_predictor(self.task)
        except ValueError as e:
            raise MetricUnavailable(str(e)) from None


class SavedModelSampler:
    """Samples of a SavedModel written by bin/export (its sample_frames/sample_images)."""

    def __init__(self, path: str, batch_size: int = 32):
        self.path, self.batch_size = path, batch_size
        self.loaded = tf.saved_model.load(path)
        self.signatures = self.loaded.signatures
        self.name = os.path.basename(os.path.dirname(os.path.normpath(path))) or path
        self._default_frames = None

    @property
    def default_num_frames(self) -> int:
        if self._default_frames is None:
            try:  # the default of serving_default's num_frames (SignatureDef.defaults)
                from tfvidgen.serving.savedmodel import default_values, signature_defs
                default = default_values(signature_defs(self.path)["serving_default"])
                self._default_frames = int(default["num_frames"])
            except (ImportError, KeyError, ValueError, TypeError):  # older exports
                out = self.signatures["serving_default"](seed=tf.constant(0, tf.int64),
                                                         num_videos=tf.constant(1, tf.int32))
                self._default_frames = int(out["video"].shape[1])
        return self._default_frames

    def _batches(self, n, seed, fn):
        return np.concatenate([
            fn(tf.constant(derive_seed(seed, 0x5A, i), tf.int64),
               tf.constant(min(self.batch_size, n - start), tf.int32))
            for i, start in enumerate(range(0, n, self.batch_size))])

    def videos(self, n: int, num_frames: int, seed: int) -> np.ndarray:
        sig = self.signatures["sample_frames"]
        return self._batches(n, seed, lambda s, c: sig(
            seed=s, num_videos=c, num_frames=tf.constant(num_frames, tf.int32))["video"].numpy())

    def images(self, n: int, seed: int) -> np.ndarray:
        if "sample_images" in self.signatures:
            sig = self.signatures["sample_images"]
            return self._batches(n, seed, lambda s, c: sig(seed=s, num_images=c)["image"].numpy())
        return self.videos(n, 1, seed)[:, 0]

    def predictor(self) -> Callable:
        if "predict" not in self.signatures:
            raise MetricUnavailable(
                f"the SavedModel {self.path} has no 'predict' signature: the prediction "
                "protocol (ssim/psnr) needs a frame-prediction model; evaluate its run "
                "directory (--model_dir) instead.")
        sig = self.signatures["predict"]
        context_spec = sig.structured_input_signature[1]["context"]

        def predict_fn(context, num_future, seed):
            context = np.asarray(context, np.float32)
            if context_spec.dtype == tf.uint8:  # SVG's export: uint8 in, context + future out
                context = np.clip(np.round((context + 1.0) * 127.5), 0, 255).astype(np.uint8)
            out = sig(context=tf.constant(context, context_spec.dtype),
                      num_future=tf.constant(num_future, tf.int32),
                      seed=tf.constant(seed, tf.int64))
            video = next(iter(out.values())).numpy()[:, -num_future:]
            return video.astype(np.float32) / 127.5 - 1.0 if video.dtype == np.uint8 else video

        return predict_fn


def find_saved_model(path: str, model_name: Optional[str] = None) -> str:
    """A SavedModel folder from a version folder, a model folder (latest version) or a base."""
    if os.path.exists(os.path.join(path, "saved_model.pb")):
        return path
    versions = sorted((int(d) for d in os.listdir(path) if d.isdigit()
                       and os.path.exists(os.path.join(path, d, "saved_model.pb")))
                      if os.path.isdir(path) else [])
    if versions:
        return os.path.join(path, str(versions[-1]))
    if os.path.isdir(path):
        models = sorted(d for d in os.listdir(path) if os.path.isdir(os.path.join(path, d))
                        and not d.startswith("."))
        if model_name and model_name in models:
            return find_saved_model(os.path.join(path, model_name))
        if len(models) == 1:
            return find_saved_model(os.path.join(path, models[0]))
        if models:
            raise FileNotFoundError(f"{path} holds several models ({', '.join(models)}): pass "
                                    "--model_name or the model's folder.")
    raise FileNotFoundError(f"No SavedModel at {path}: pass a bin/export version folder "
                            "(<export_dir>/<model>/<version>), its model folder or its base.")


# Runs ---------------------------------------------------------------------------
def read_flags_file(path: str) -> dict:
    """A run's flags.txt -> its values (``experiment.read_run``, the one reader)."""
    from tfvidgen import experiment
    return experiment.read_run(os.path.dirname(os.path.abspath(path)))


def load_run(model_dir: str, values: Optional[dict] = None):
    """Rebuilds a run's Task from its flags and restores its latest checkpoint.

    Returns (task, data, step, values).
    """
    from tfvidgen import experiment
    from tfvidgen.models.base import latest_checkpoint

    if values is None:
        values = read_flags_file(experiment.flags_file(model_dir))
    prefix = latest_checkpoint(model_dir)
    data = experiment.build_training_data(values)
    task = experiment.build_task(values, experiment.data_spec(data, values["image_size"]))
    task.build()
    step = tf.Variable(0, dtype=tf.int64)
    status = tf.train.Checkpoint(step=step, **task.networks()).read(prefix)
    status.expect_partial().assert_existing_objects_matched()
    return task, data, int(step.numpy()), values


def load_sampler(path: str, batch_size: int = 32):
    """A run directory (has flags.txt) or a SavedModel export -> (sampler, info)."""
    if os.path.exists(os.path.join(path, "flags.txt")):
        task, data, step, values = load_run(path)
        return TaskSampler(task, batch_size, name=values["model"]), {
            "model_dir": path, "model": values["model"], "step": step}
    saved = find_saved_model(path)
    return SavedModelSampler(saved, batch_size), {"export_dir": saved}


# Real data ------------------------------------------------------------------------
def real_clips(data: pipeline.TrainingData, n: int, num_frames: int, seed: int,
               every_nth: int = 1) -> np.ndarray:
    """uint8 [n, T, H, W, 3]: clips as the training pipeline draws them, from (seed, index)."""
    loader = pipeline.ElementLoader(data, num_frames, every_nth, 0, seed)
    return np.stack([loader(g)[0] for g in range(n)])


def real_images(data: pipeline.TrainingData, n: int, seed: int) -> np.ndarray:
    """uint8 [n, H, W, 3]: frames drawn as the image discriminator's are."""
    loader = pipeline.ElementLoader(data, 0, 1, 1, seed)
    return np.stack([loader(g)[0][0] for g in range(n)])


def _unit(x) -> np.ndarray:
    return np.asarray(x, np.float32) / 255.0


# Context ----------------------------------------------------------------------------
class Context:
    """What the protocols share: the sampler, data, config, lazily built pieces, outputs."""

    def __init__(self, sampler, config: EvalConfig, *, values: Optional[dict] = None,
                 data: Optional[pipeline.TrainingData] = None, output_stem: Optional[str] = None):
        self.sampler, self.config, self.values = sampler, config, values or {}
        self._data, self._heldout, self._extractors = data, None, {}
        self.output_stem = output_stem  # plots go to <stem>_<what>.png; None: no files
        self.images: Dict[str, bytes] = {}  # PNGs for TensorBoard

    @property
    def data(self) -> pipeline.TrainingData:
        if self._data is None:
            from tfvidgen import experiment
            if not self.values:
                raise MetricUnavailable("no training data: pass the run's flags or data")
            self._data = experiment.build_training_data(self.values)
        return self._data

    @property
    def every_nth(self) -> int:
        return int(self.values.get("every_nth") or 1)

    def heldout(self) -> tuple:
        """(VideoSource of held-out videos, description): --eval_split, else the training videos."""
        if self._heldout is None:
            split = self.config.eval_split
            source, note = None, ""
            if self.values and split == self.values.get("split"):
                self._heldout = (self.data.videos,
                                 f"the {split!r} split: the training videos themselves")
                return self._heldout
            if self.values:
                from tfvidgen import experiment
                try:
                    source = experiment.build_source({**self.values, "split": split})
                except (ValueError, FileNotFoundError) as e:
                    note = f" ({e})"
                if source is not None and len(source) < 2:
                    note, source = f" (the {split!r} split has {len(source)} videos)", None
            if source is None:
                source = self.data.videos
                desc = (f"no usable {split!r} split{note}: the training videos "
                        f"({self.values.get('split', 'given data')}) are used as held-out data")
                logging.warning("evaluation: %s", desc)
            else:
                desc = f"the {split!r} split ({len(source)} videos)"
            self._heldout = (source, desc)
        return self._heldout

    def heldout_halves(self) -> tuple:
        """(validation, test) TrainingData: even- and odd-indexed held-out videos."""
        source, desc = self.heldout()
        if len(source) < 2:
            raise MetricUnavailable("held-out data needs at least 2 videos (validation and test)")
        idx = np.arange(len(source))
        halves = [pipeline.split_sources(SubsetSource(source, idx[k::2]), seed=self.config.seed)
                  for k in (0, 1)]
        return halves[0], halves[1], desc + "; validation: even-indexed videos, test: odd"

    def extractor(self, spec=None):
        spec = spec if spec is not None else self.config.extractor
        if spec is None:
            raise MetricUnavailable("no feature extractor: pass --extractor (or name one per "
                                    "metric, e.g. fd@classifier:runs/expr_classifier)")
        if not isinstance(spec, str):
            return spec  # an extractor object (tests, notebooks)
        if spec not in self._extractors:
            self._extractors[spec] = make_extractor(spec, self.config)
        return self._extractors[spec]

    def path(self, what: str, ext: str = "png") -> Optional[str]:
        return f"{self.output_stem}_{what}.{ext}" if self.output_stem else None


def make_extractor(spec: str, config: EvalConfig):
    """``i3d``, ``c3d``, ``classifier:<path>`` or ``<registered name>[:<path>]`` -> extractor."""
    try:
        from tfvidgen.metrics import extractors
        get_extractor = extractors.get_extractor
    except (ImportError, AttributeError) as e:
        raise MetricUnavailable(
            f"feature extractors are not available ({e}): fd and is need "
            "tfvidgen.metrics.extractors.get_extractor") from None
    name, _, path = spec.partition(":")
    kwargs = {}
    if name.startswith("i3d"):
        path = path or config.i3d_path
    elif name == "c3d":
        path = path or config.c3d_path
        if config.c3d_mean_path:
            kwargs["mean_path"] = config.c3d_mean_path
    try:
        return get_extractor(name, path or None, **kwargs)
    except ImportError as e:
        raise MetricUnavailable(f"extractor {name!r} is not available: {e}") from None
    except KeyError as e:
        raise MetricUnavailable(f"--extractor={spec}: {e.args[0]}") from None


# Protocols ------------------------------------------------------------------------
PROTOCOLS: Dict[str, Callable] = {}


def protocol(name: str):
    """Registers a protocol ``fn(ctx, extractor_spec) -> (scalars, details, files)``."""
    def decorator(fn):
        PROTOCOLS[name] = fn
        if name not in registry.METRICS:
            registry.register_metric(name)(fn)
        return fn
    return decorator


def _metric_name(*args, **kwargs) -> str:
    from tfvidgen.metrics import metric_name
    return metric_name(*args, **kwargs)


def _clip_length(ctx: Context, extractor=None) -> int:
    wanted = getattr(extractor, "num_frames", None)
    chosen = ctx.config.num_frames or wanted or ctx.sampler.default_num_frames
    if wanted and chosen != wanted:
        raise MetricUnavailable(f"extractor {extractor.name!r} takes {wanted}-frame clips; "
                                f"--num_frames={chosen}")
    return int(chosen)


@protocol("fd")
def fd_protocol(ctx: Context, spec=None):
    from tfvidgen.metrics import frechet_distance
    ext = ctx.extractor(spec)
    cfg, n = ctx.config, ctx.config.num_videos
    if getattr(ext, "kind", "video") == "image":
        fake = ctx.sampler.images(n, cfg.seed)
        real = real_images(ctx.data, n, cfg.seed)
        name, t = _metric_name("fd", ext.name, num_images=n), None
    else:
        t = _clip_length(ctx, ext)
        fake = ctx.sampler.videos(n, t, cfg.seed)
        real = real_clips(ctx.data, n, t, cfg.seed, ctx.every_nth)
        name = _metric_name("fd", ext.name, num_videos=n, num_frames=t)
    if real.shape[1:] != fake.shape[1:]:
        raise MetricUnavailable(f"real data {real.shape[1:]} and samples {fake.shape[1:]} differ")
    value = frechet_distance(ext.activations(real), ext.activations(fake))
    details = {"name": name, "value": value, "extractor": ext.name, "num_real": n,
               "num_generated": n, "num_frames": t,
               "real": "training data, clips drawn as the trainer draws them"}
    return {name: value}, details, {}


@protocol("is")
def is_protocol(ctx: Context, spec=None):
    from tfvidgen.metrics import classifier_score_splits
    ext = ctx.extractor(spec)
    cfg = ctx.config
    n = cfg.is_splits * cfg.is_split_size
    if getattr(ext, "kind", "video") == "image":
        samples, t = ctx.sampler.images(n, cfg.seed), None
    else:
        t = _clip_length(ctx, ext)
        samples = ctx.sampler.videos(n, t, cfg.seed)
    mean, std = classifier_score_splits(ext.logits(samples), num_splits=cfg.is_splits)
    name = _metric_name("is", ext.name, num_splits=cfg.is_splits, split_size=cfg.is_split_size,
                        num_frames=t)
    details = {"name": name, "mean": float(mean), "std": float(std), "extractor": ext.name,
               "num_splits": cfg.is_splits, "split_size": cfg.is_split_size, "num_frames": t}
    return {name: float(mean), name + "_std": float(std)}, details, {}


@protocol("ssim")
def prediction_protocol(ctx: Context, spec=None):
    from tfvidgen.metrics import prediction
    from tfvidgen.train.summaries import write_gif
    cfg = ctx.config
    predict_fn = ctx.sampler.predictor()
    n_past, n_future = prediction_horizon(cfg, ctx.values)
    source, desc = ctx.heldout()
    data = pipeline.split_sources(source, seed=cfg.seed)
    sequences = real_clips(data, cfg.num_test_sequences, n_past + n_future, cfg.seed,
                           ctx.every_nth)
    sequences = sequences.astype(np.float32) / 127.5 - 1.0
    # The deterministic baseline is one sample (all samples would be the same).
    deterministic = getattr(getattr(ctx.sampler, "task", None), "stochastic", True) is False
    num_samples = 1 if deterministic else cfg.num_prediction_samples
    result = prediction.best_of_n(predict_fn, sequences, n_past, n_future,
                                  num_samples=num_samples, seed=cfg.seed,
                                  batch_size=cfg.batch_size, select_by=cfg.prediction_select_by,
                                  keep_examples=8)
    tag = f"bestof{num_samples}_{n_past}p{n_future}f"
    summary = result.summary()
    scalars = {f"ssim_{tag}": summary["ssim"]["mean"], f"psnr_{tag}": summary["psnr"]["mean"]}
    details = {**summary, "names": list(scalars), "test_sequences": desc,
               "distinct_videos": min(len(source), cfg.num_test_sequences)}
    files = {}
    plot = ctx.path("prediction")
    if plot:
        trained = ctx.values.get("n_future") if ctx.values.get("n_past") == n_past else None
        prediction.plot({f"{ctx.sampler.name} ({result.label})": result}, plot,
                        trained_horizon=(n_past + trained) if trained else None)
        files["prediction_plot"] = plot
        with open(plot, "rb") as f:
            ctx.images["prediction/ssim_psnr"] = f.read()
        gif = ctx.path("prediction_examples", "gif")
        rows = np.concatenate([result.truths, result.examples], axis=0)
        write_gif(gif, rows, columns=len(result.truths))
        files["prediction_examples"] = gif
    return scalars, details, files


def prediction_horizon(config: EvalConfig, values: dict) -> Tuple[int, int]:
    """(n_past, n_future) of the prediction protocol: the config's, else the run's."""
    n_past = config.n_past or values.get("n_past") or 5
    n_future = config.n_future
    if not n_future:
        n_eval = values.get("n_eval")
        n_future = (n_eval - n_past) if n_eval and n_eval > n_past else (
            values.get("n_future") or 10)
    return int(n_past), int(n_future)


def _parzen_items(ctx: Context, unit: str, data, n: int, seed: int, t: int):
    if unit == "frames":
        return _unit(real_images(data, n, seed))
    return _unit(real_clips(data, n, t, seed, ctx.every_nth))


def _parzen_setup(ctx: Context):
    cfg = ctx.config
    if cfg.parzen_unit not in ("frames", "videos"):
        raise MetricUnavailable(f"parzen unit must be frames or videos, got {cfg.parzen_unit!r}")
    t = None if cfg.parzen_unit == "frames" else _clip_length(ctx)
    val_data, test_data, desc = ctx.heldout_halves()
    samples = (ctx.sampler.images(cfg.parzen_samples, cfg.seed) if t is None
               else ctx.sampler.videos(cfg.parzen_samples, t, cfg.seed))
    val = _parzen_items(ctx, cfg.parzen_unit, val_data, cfg.parzen_heldout, cfg.seed + 1, t)
    test = _parzen_items(ctx, cfg.parzen_unit, test_data, cfg.parzen_heldout, cfg.seed + 2, t)
    return _unit(samples), val, test, desc, t


@protocol("parzen")
def parzen_protocol(ctx: Context, spec=None):
    from tfvidgen.metrics import parzen
    cfg = ctx.config
    samples, val, test, desc, t = _parzen_setup(ctx)
    result = parzen.parzen_evaluate(samples, val, test)
    name = f"parzen_{cfg.parzen_unit}" + (f"{t}f" if t else "") + f"_{cfg.parzen_samples}s"
    if result["sigma_at_grid_edge"]:
        logging.warning("parzen: the chosen sigma %.3g is at the edge of the grid",
                        result["sigma"])
    return {name: result["mean"]}, {"name": name, **result, "heldout": desc}, {}


@protocol("parzen_ms")
def multiscale_parzen_protocol(ctx: Context, spec=None):
    from tfvidgen.metrics import parzen
    cfg = ctx.config
    samples, val, test, desc, t = _parzen_setup(ctx)
    result = parzen.multiscale_evaluate(samples, val, test, levels=cfg.parzen_levels)
    name = (f"parzen_ms{cfg.parzen_levels}_{cfg.parzen_unit}" + (f"{t}f" if t else "")
            + f"_{cfg.parzen_samples}s")
    return {name: result["mean"]}, {"name": name, **result, "heldout": desc}, {}


def training_items(source, unit: str, num_frames: int, max_items: int = 0, seed: int = 0,
                   videos_per_chunk: int = 16):
    """Every training frame, or every non-overlapping clip of ``num_frames``, as an ItemSet."""
    from tfvidgen.metrics.neighbours import ItemSet
    refs = []
    for v in range(len(source)):
        length = source.num_frames(v)
        if length <= 0:
            continue
        if unit == "frames":
            refs += [(v, f) for f in range(length)]
        else:
            refs += [(v, s) for s in range(0, max(length - num_frames, 0) + 1, num_frames)]
    if max_items and len(refs) > max_items:
        keep = np.sort(np.random.default_rng([seed, 0x11]).choice(len(refs), max_items,
                                                                   replace=False))
        refs = [refs[i] for i in keep]

    def frames_of(v, start):
        if unit == "frames":
            return [start]
        return np.minimum(start + np.arange(num_frames), source.num_frames(v) - 1)

    def read(ref):
        frames = source.read(ref[0], frames_of(*ref))
        return frames[0] if unit == "frames" else frames

    def chunks():
        batch, current = [], set()
        for ref in refs:
            if ref[0] not in current and len(current) >= videos_per_chunk:
                yield np.stack(batch)
                batch, current = [], set()
            current.add(ref[0])
            batch.append(read(ref))
        if batch:
            yield np.stack(batch)

    what = "frames" if unit == "frames" else f"{num_frames}-frame clips (non-overlapping)"
    return ItemSet(chunks, lambda i: read(refs[i]),
                   f"{len(refs)} training {what} of {len(source)} videos"), len(refs)


@protocol("nn")
def nn_protocol(ctx: Context, spec=None):
    from tfvidgen.metrics.neighbours import nearest_neighbours
    cfg = ctx.config
    unit = cfg.nn_unit
    if unit not in ("frames", "videos"):
        raise MetricUnavailable(f"nn unit must be frames or videos, got {unit!r}")
    t = _clip_length(ctx) if unit == "videos" else 1
    samples = (ctx.sampler.videos(cfg.nn_samples, t, cfg.seed) if unit == "videos"
               else ctx.sampler.images(cfg.nn_samples, cfg.seed))
    items, count = training_items(ctx.data.videos, unit, t, cfg.nn_max_train_items, cfg.seed)
    if not count:
        raise MetricUnavailable("no training items to compare with")
    features_fn, ext_name, note = None, None, None
    if spec is not None or cfg.extractor is not None:
        try:
            ext = ctx.extractor(spec)
            kind = getattr(ext, "kind", "video")
            if (kind == "video") != (unit == "videos"):
                note = f"extractor {ext.name!r} takes {kind}s, --nn_unit={unit}"
            elif unit == "videos" and getattr(ext, "num_frames", None) not in (None, t):
                note = f"extractor {ext.name!r} takes {ext.num_frames}-frame clips, not {t}"
            else:
                features_fn, ext_name = ext.activations, ext.name
        except (MetricUnavailable, FileNotFoundError, ImportError, ValueError) as e:
            note = str(e)
        if note:
            logging.warning("nn: feature space skipped: %s", note)
    label = unit + (f"{t}f" if unit == "videos" else "")
    result = nearest_neighbours(
        samples, items, k=cfg.nn_k, features_fn=features_fn,
        grid_path=ctx.path("nn_pixel"),
        feature_grid_path=ctx.path(f"nn_{ext_name}") if ext_name else None)
    scalars = {f"nn_pixel_{label}_{cfg.nn_samples}s": result["pixel"]["mean_nearest"]}
    if "feature" in result:
        scalars[f"nn_{ext_name}_{label}_{cfg.nn_samples}s"] = result["feature"]["mean_nearest"]
    elif note:
        result["feature_skipped"] = note
    files = {k: v["grid"] for k, v in result.items() if isinstance(v, dict) and "grid" in v}
    for key, path in files.items():
        with open(path, "rb") as f:
            ctx.images[f"nearest_neighbours/{key}"] = f.read()
    files = {f"nn_{k}_grid": v for k, v in files.items()}
    return scalars, {"names": list(scalars), **result}, files


# Running ------------------------------------------------------------------------------
def check(ctx: Context, specs) -> None:
    """Fails before any work when a requested metric cannot run (no extractor, no predictor)."""
    for name, spec in specs:
        if name in ("fd", "is"):
            ctx.extractor(spec)
        elif name == "ssim":
            ctx.sampler.predictor()


def run_protocols(ctx: Context, specs) -> dict:
    """Runs the metrics; returns {"metrics": scalars, "details": {...}, "files": {...}}."""
    check(ctx, specs)
    scalars, details, files = {}, {}, {}
    for name, spec in specs:
        logging.info("evaluation: %s%s", name, f" ({spec})" if spec else "")
        s, d, f = PROTOCOLS[name](ctx, spec)
        scalars.update(s)
        key = name if spec is None else f"{name}@{spec}"
        details[key] = d
        files.update(f)
    return {"metrics": scalars, "details": details, "files": files}


def write_summaries(log_dir: str, step: int, scalars: dict, images: Optional[dict] = None) -> None:
    """Scalars (and PNG images) into TensorBoard events under ``log_dir`` (a run's eval/)."""
    writer = tf.summary.create_file_writer(log_dir)
    with writer.as_default(step=int(step)):
        for name, value in scalars.items():
            tf.summary.scalar(name, float(value))
        for name, png in (images or {}).items():
            tf.summary.image(name, tf.image.decode_png(png, channels=3)[None])
    writer.flush()
    writer.close()


def evaluate(sampler, config: EvalConfig, *, values: Optional[dict] = None,
             data: Optional[pipeline.TrainingData] = None, output: Optional[str] = None,
             step: Optional[int] = None, log_dir: Optional[str] = None,
             source: Optional[dict] = None) -> dict:
    """Runs ``config.metrics``; writes the JSON report (``output``), plots next to it and
    TensorBoard scalars under ``log_dir``. Returns the report."""
    specs = parse_metric_specs(config.metrics)
    stem = None
    if output:
        os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
        stem = os.path.splitext(output)[0]
    ctx = Context(sampler, config, values=values, data=data, output_stem=stem)
    result = run_protocols(ctx, specs)
    cfg = {k: v for k, v in dataclasses.asdict(config).items()
           if isinstance(v, (int, float, str, bool, type(None), tuple, list))}
    if not isinstance(config.extractor, str):
        cfg["extractor"] = getattr(config.extractor, "name", repr(config.extractor))
    report = {
        "kind": "tfvidgen evaluation", "version": 1,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "source": {**(source or {}), "step": step},
        "config": cfg, **result}
    if output:
        with open(output + ".tmp", "w") as f:
            json.dump(_json_safe(report), f, indent=2)
        os.replace(output + ".tmp", output)
    if log_dir and step is not None:
        write_summaries(log_dir, step, result["metrics"], ctx.images)
        report["source"]["eval_events"] = log_dir
    return report


def _json_safe(x):
    from tfvidgen.metrics.prediction import _clean
    return _clean(x)


# Training hook -------------------------------------------------------------------------
def check_train_metrics(text) -> list:
    """Parses --eval_metrics; fd and is must name their extractor (``fd@classifier:<folder>``)."""
    specs = parse_metric_specs(text)
    for name, spec in specs:
        if name in ("fd", "is") and spec is None:
            raise ValueError(f"{name} needs a feature extractor during training: write "
                             f"{name}@classifier:<folder> (bin/train_evaluator) or "
                             f"{name}@i3d:<path>")
    return specs


def make_train_hook(metrics: str, values: Optional[dict] = None, seed: int = 0, task=None,
                    data: Optional[pipeline.TrainingData] = None, **overrides):
    """``fn(trainer, step) -> {name: float}`` for ``Trainer(hooks=[(every, fn)])``.

    Runs ``metrics`` ("parzen", "fd@classifier:runs/clf,nn", ...) with
    ``EvalConfig.cheap`` sizes (``overrides`` change them) on the trainer's
    Task and data; the trainer writes the scalars under eval/. The same seed
    every time, so that the curve follows the model and not the noise, and
    only stateless noise: the training RNG is not touched.

    With ``task`` (and ``data``) given, extractors are loaded and metrics
    checked now, so that a wrong ``--eval_metrics`` stops the run before it
    trains (ValueError / FileNotFoundError). An error while evaluating later
    is logged and the step's evaluation skipped: training goes on.
    """
    specs = check_train_metrics(metrics)
    config = EvalConfig.cheap(metrics=tuple(n if s is None else f"{n}@{s}" for n, s in specs),
                              seed=seed, **overrides)
    state = {}
    if task is not None:
        state["ctx"] = Context(TaskSampler(task, config.batch_size), config, values=values,
                               data=data)
        check(state["ctx"], specs)

    def hook(trainer, step):
        if "ctx" not in state:
            state["ctx"] = Context(TaskSampler(trainer.task, config.batch_size), config,
                                   values=values, data=trainer.data)
            check(state["ctx"], specs)
        try:
            return run_protocols(state["ctx"], specs)["metrics"]
        except Exception:  # noqa: BLE001  (evaluation must not end a training run)
            logging.exception("evaluation at step %d failed; training continues", step)
            return {}

    return hook
