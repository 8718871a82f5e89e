"""What the protocols sample: a restored Task (``TaskSampler``) or a SavedModel export
(``SavedModelSampler``), in batches, from fixed seeds.

Both have the same interface: ``videos(n, num_frames, seed, context=None)``
and ``images(n, seed, context=None)`` (uint8), ``default_num_frames``,
``context_length(num_frames)`` and ``predictor()`` (the prediction
protocol's ``predict_fn``). A *conditional* model (``context_length`` > 0:
video prediction continues real frames, DRNet reconstructs real clips)
samples nothing without real clips: the caller passes them as ``context``
(uint8 or [-1, 1] floats [n, >= context_length(T), H, W, C]); the
evaluation protocols pass held-out clips (``Context.generated_videos``).
"""
from __future__ import annotations

import contextlib
import os
from typing import Callable, Optional

import numpy as np
import tensorflow as tf

from tfvidgen.evaluate.specs import MetricUnavailable
from tfvidgen.metrics.prediction import derive_seed


def _as_float(context) -> tf.Tensor:
    """Real clips, uint8 or [-1, 1] floats -> float32 [-1, 1]."""
    context = np.asarray(context)
    if context.dtype == np.uint8:
        return tf.constant(context.astype(np.float32) / 127.5 - 1.0)
    return tf.constant(context, tf.float32)


def _as_uint8(context) -> np.ndarray:
    context = np.asarray(context)
    if context.dtype == np.uint8:
        return context
    return np.clip(np.round((context.astype(np.float32) + 1.0) * 127.5), 0, 255).astype(np.uint8)


def _check_context(name: str, needed: int, n: int, context) -> None:
    if not needed:
        return
    if context is None:
        raise MetricUnavailable(
            f"{name} is conditional: its samples continue the first {needed} frames of real "
            "clips; pass them as context (the evaluation protocols pass held-out clips)")
    shape = np.shape(context)
    if len(shape) != 5 or shape[0] < n or shape[1] < needed:
        raise ValueError(f"{name}: context must be real clips [>= {n}, >= {needed}, H, W, C], "
                         f"got shape {shape}")


class TaskSampler:
    """Samples of a (restored) Task, in batches, from fixed seeds.

    Samples are drawn under ``task.sampling_weights()`` (the generator's
    moving average when the task keeps one), as exports are written.

    Args:
      task: a built Task (or an object with its ``sample`` / ``sample_images``).
      batch_size: samples per call.
      name: shown in reports and plots (default: the task's class name).
    """

    def __init__(self, task, batch_size: int = 32, name: str = ""):
        self.task, self.batch_size = task, batch_size
        self.name = name or type(task).__name__

    @property
    def default_num_frames(self) -> int:
        return self.task.default_num_frames

    def context_length(self, num_frames: int) -> int:
        """Real frames a sample of ``num_frames`` frames conditions on (0: none)."""
        fn = getattr(self.task, "context_length", None)
        return int(fn(num_frames)) if fn is not None else 0

    def _weights(self):
        fn = getattr(self.task, "sampling_weights", None)
        return fn() if fn is not None else contextlib.nullcontext()

    def _batches(self, n, seed, fn, context):
        from tfvidgen.models.base import StatelessNoise, to_uint8
        out = []
        with self._weights():
            for i, start in enumerate(range(0, n, self.batch_size)):
                count = min(self.batch_size, n - start)
                kwargs = {} if context is None else {
                    "context": _as_float(context[start:start + count])}
                noise = StatelessNoise(derive_seed(seed, 0x5A, i))
                out.append(to_uint8(fn(noise, count, **kwargs)).numpy())
        return np.concatenate(out)

    def videos(self, n: int, num_frames: int, seed: int, context=None) -> np.ndarray:
        """uint8 [n, num_frames, H, W, 3]; a conditional task's continue ``context``."""
        needed = self.context_length(num_frames)
        _check_context(self.name, needed, n, context)
        return self._batches(n, seed, lambda noise, c, **kw: self.task.sample(
            noise, c, num_frames, **kw), None if not needed else np.asarray(context)[:n])

    def images(self, n: int, seed: int, context=None) -> np.ndarray:
        """uint8 [n, H, W, 3]; a conditional task's condition on ``context``
        (``context_length(1)`` frames per image)."""
        needed = self.context_length(1)
        _check_context(self.name, needed, n, context)
        return self._batches(n, seed, self.task.sample_images,
                             None if not needed else np.asarray(context)[:n])

    def predictor(self) -> Callable:
        from tfvidgen.metrics.prediction import task_predictor
        try:
            predict_fn = task_predictor(self.task)
        except ValueError as e:
            raise MetricUnavailable(str(e)) from None

        def predict_with_sampling_weights(context, num_future, seed):
            with self._weights():
                return predict_fn(context, num_future, seed)

        return predict_with_sampling_weights


class SavedModelSampler:
    """Samples of a SavedModel written by bin/export.

    An unconditional model's come from ``sample_frames`` / ``sample_images``;
    a prediction model's (an export with ``predict`` and no
    ``sample_frames``: SVG, DRNet's pose LSTM) continue the ``context``
    passed through ``predict``.
    """

    def __init__(self, path: str, batch_size: int = 32):
        self.path, self.batch_size = path, batch_size
        self.loaded = tf.saved_model.load(path)
        self.signatures = self.loaded.signatures
        self.name = os.path.basename(os.path.dirname(os.path.normpath(path))) or path
        self._default_frames = None

    @property
    def conditional(self) -> bool:
        return "sample_frames" not in self.signatures and "predict" in self.signatures

    @property
    def _n_past(self) -> int:
        spec = self.signatures["predict"].structured_input_signature[1]["context"]
        return int(spec.shape[1])

    def context_length(self, num_frames: int) -> int:
        return self._n_past if self.conditional else 0

    def _defaults(self, signature: str) -> dict:
        from tfvidgen.serving.savedmodel import default_values, signature_defs
        return default_values(signature_defs(self.path)[signature])

    @property
    def default_num_frames(self) -> int:
        if self._default_frames is None:
            if self.conditional:
                self._default_frames = self._n_past + int(
                    self._defaults("serving_default")["num_future"])
                return self._default_frames
            try:  # the default of serving_default's num_frames (SignatureDef.defaults)
                self._default_frames = int(self._defaults("serving_default")["num_frames"])
            except (ImportError, KeyError, ValueError, TypeError):  # older exports
                out = self.signatures["serving_default"](seed=tf.constant(0, tf.int64),
                                                         num_videos=tf.constant(1, tf.int32))
                self._default_frames = int(out["video"].shape[1])
        return self._default_frames

    def _batches(self, n, seed, fn, context=None):
        return np.concatenate([
            fn(tf.constant(derive_seed(seed, 0x5A, i), tf.int64),
               tf.constant(min(self.batch_size, n - start), tf.int32),
               None if context is None else context[start:start + self.batch_size])
            for i, start in enumerate(range(0, n, self.batch_size))])

    def _continue(self, context, seed, num_future) -> np.ndarray:
        """uint8 context + prediction [N, n_past + num_future, H, W, C] from ``predict``."""
        sig = self.signatures["predict"]
        spec = sig.structured_input_signature[1]["context"]
        context = context[:, :self._n_past]
        context = (tf.constant(_as_uint8(context)) if spec.dtype == tf.uint8
                   else _as_float(context))
        out = sig(context=context, seed=seed, num_future=tf.constant(num_future, tf.int32))
        video = next(iter(out.values())).numpy()
        return video if video.dtype == np.uint8 else _as_uint8(video)

    def videos(self, n: int, num_frames: int, seed: int, context=None) -> np.ndarray:
        if self.conditional:
            _check_context(self.name, self._n_past, n, context)
            future = max(num_frames - self._n_past, 0)
            return self._batches(n, seed, lambda s, c, ctx: self._continue(
                ctx, s, future)[:, :num_frames], np.asarray(context)[:n])
        if "sample_frames" not in self.signatures:
            raise MetricUnavailable(f"the SavedModel {self.path} has no sample_frames "
                                    "signature: it does not sample videos")
        sig = self.signatures["sample_frames"]
        return self._batches(n, seed, lambda s, c, _: sig(
            seed=s, num_videos=c, num_frames=tf.constant(num_frames, tf.int32))["video"].numpy())

    def images(self, n: int, seed: int, context=None) -> np.ndarray:
        if self.conditional:  # the first predicted frame, as PredictionTask.sample_images
            _check_context(self.name, self._n_past, n, context)
            return self._batches(n, seed, lambda s, c, ctx: self._continue(ctx, s, 1)[:, -1],
                                 np.asarray(context)[:n])
        if "sample_images" in self.signatures:
            sig = self.signatures["sample_images"]
            return self._batches(
                n, seed, lambda s, c, _: sig(seed=s, num_images=c)["image"].numpy())
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
                context = _as_uint8(context)
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


def load_sampler(path: str, batch_size: int = 32):
    """A run directory (has flags.txt) or a SavedModel export -> (sampler, info)."""
    from tfvidgen import runs
    if runs.has_run(path):
        task, _, step, values = runs.load_run(path)
        return TaskSampler(task, batch_size, name=values["model"]), {
            "model_dir": path, "model": values["model"], "step": step}
    saved = find_saved_model(path)
    return SavedModelSampler(saved, batch_size), {"export_dir": saved}
