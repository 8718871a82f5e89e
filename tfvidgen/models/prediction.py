"""What every video-prediction Task shares (SVG, DRNet's pose LSTM).

A prediction task continues real context frames. Subclasses implement
``predict(context_frames, num_future, noise)``; this base provides

* the pixel conversion between the pipeline's [-1, 1] RGB and the model's
  [0, 1] frames of ``config.frame_channels`` channels (1: grey = the mean
  of RGB; outputs are broadcast back to the input's channels);
* ``sample`` / ``sample_images``: samples that continue real context frames
  given explicitly (``context_length`` = n_past): held-out clips in
  evaluation, the trainer's fixed real batch in samples.gif
  (``Task.sample_for_display``); without them they raise;
* ``prediction_summaries``: ground truth beside ``draws`` predictions, with
  a red border on predicted frames;
* the ``predict`` serving signature (context uint8 [N, n_past, H, W, C],
  seed int64, num_future int32 -> video uint8 [N, n_past + num_future, H,
  W, C]) and ``serving_default`` with num_future defaulting to
  n_eval - n_past.

The config needs ``n_past``, ``n_eval`` and ``frame_channels``.
"""
from __future__ import annotations

import abc
from typing import Dict

import tensorflow as tf

from tfvidgen.models import base


def merge_time(x):
    """[B, T, ...] -> [B * T, ...]."""
    return tf.reshape(x, tf.concat([[-1], tf.shape(x)[2:]], 0))


def split_time(x, batch):
    """[B * T, ...] -> [B, T, ...]."""
    return tf.reshape(x, tf.concat([[batch, -1], tf.shape(x)[1:]], 0))


def pad_time(videos, num_frames):
    """Pads [N, T, ...] with mid-grey frames up to ``num_frames`` (or cuts)."""
    missing = num_frames - videos.shape[1]
    if missing <= 0:
        return videos[:, :num_frames]
    pad = tf.zeros(tf.concat([tf.shape(videos)[:1], [missing], tf.shape(videos)[2:]], 0))
    return tf.concat([videos, pad], axis=1)


def mark_predicted(videos):
    """A one-pixel red border on predicted frames [N, T, H, W, 3] (summaries only)."""
    if videos.shape[-1] != 3:
        return videos
    h, w = videos.shape[2], videos.shape[3]
    rows = tf.range(h)[:, None]
    cols = tf.range(w)[None, :]
    border = (rows == 0) | (rows == h - 1) | (cols == 0) | (cols == w - 1)
    red = tf.constant([1.0, -1.0, -1.0])
    return tf.where(border[None, None, :, :, None], red, videos)


def side_by_side(videos, gutter=1):
    """Videos [N, T, H, W, C] of equal shape -> [N, T, H, k W + gutters, C]."""
    sep = tf.zeros(tf.concat([tf.shape(videos[0])[:3], [gutter], tf.shape(videos[0])[4:]], 0))
    parts = []
    for i, v in enumerate(videos):
        if i:
            parts.append(sep)
        parts.append(v)
    return tf.concat(parts, axis=3)


class FramePixels:
    """The pixel conversion of the frame models (SVG, DRNet): the pipeline's [-1, 1]
    RGB <-> the model's [0, 1] frames of ``config.frame_channels`` channels."""

    def to_model(self, frames):
        """Frames [..., C] in [-1, 1] (C = 1 or 3) -> the model's [0, 1] frames."""
        frames = tf.convert_to_tensor(frames, tf.float32)
        if self.config.frame_channels == 1:
            frames = tf.reduce_mean(frames, axis=-1, keepdims=True)
        else:
            shape = frames.shape[:-1].concatenate([3])
            frames = tf.broadcast_to(frames, tf.concat([tf.shape(frames)[:-1], [3]], 0))
            frames = tf.ensure_shape(frames, shape)
        return (frames + 1.0) / 2.0

    def from_model(self, frames01, channels):
        """The model's [0, 1] frames -> [-1, 1] with ``channels`` channels (1 or 3)."""
        frames = frames01 * 2.0 - 1.0
        if self.config.frame_channels == 1:
            return tf.broadcast_to(frames, tf.concat([tf.shape(frames)[:-1], [channels]], 0))
        if isinstance(channels, int):
            return frames if channels == 3 else tf.reduce_mean(frames, -1, keepdims=True)
        return tf.cond(tf.equal(channels, 1),
                       lambda: tf.reduce_mean(frames, -1, keepdims=True), lambda: frames)


class PredictionTask(FramePixels, base.Task):
    """Base of the tasks that continue real context frames."""

    # Data ---------------------------------------------------------------------------
    @property
    def default_num_frames(self) -> int:
        return self.config.n_eval

    @property
    def num_eval_future(self) -> int:
        """Frames predicted after the context in summaries and by default in serving."""
        return self.config.n_eval - self.config.n_past

    def check_prediction_config(self) -> None:
        """Raises ValueError for context/horizon/channel settings that cannot work."""
        c = self.config
        if c.n_past < 1 or c.n_future < 1:
            raise ValueError("--n_past and --n_future must be >= 1")
        if c.n_eval <= c.n_past:
            raise ValueError(f"--n_eval={c.n_eval} must exceed --n_past={c.n_past} "
                             "(it counts the context frames too)")
        if c.frame_channels not in (1, 3):
            raise ValueError(f"--frame_channels must be 1 or 3, got {c.frame_channels}")

    # Prediction ---------------------------------------------------------------------
    @abc.abstractmethod
    def predict(self, context_frames, num_future, noise):
        """Future frames after real context frames (the evaluation protocol's entry).

        Args:
          context_frames: float [B, n, H, W, C] in [-1, 1], C = 1 or 3, any
            n >= 1 known statically (the model was trained with n_past).
          num_future: frames to predict (int or int32 scalar tensor), any >= 0.
          noise: StatelessNoise (same seed, same futures) or tf.random.Generator.
        Returns:
          float [B, num_future, H, W, C] in [-1, 1].
        """

    def prepared_context(self, context_frames):
        """Checks context frames for ``predict``: (float tensor, static frame count,
        channels: an int, or a scalar tensor when unknown statically)."""
        context = tf.convert_to_tensor(context_frames, tf.float32)
        num_context = context.shape[1]
        if num_context is None or num_context < 1:
            raise ValueError(f"predict needs at least one context frame with a static "
                             f"count, got context of shape {context.shape}")
        channels = context.shape[-1] if context.shape[-1] is not None else tf.shape(context)[-1]
        return context, num_context, channels

    @property
    def stochastic(self) -> bool:
        """Whether two predictions of one context differ (summaries show several)."""
        return False

    # Sampling and summaries ---------------------------------------------------------
    def context_length(self, num_frames: int) -> int:
        """Prediction is conditional: every sample continues ``n_past`` real frames."""
        del num_frames
        return self.config.n_past

    def checked_context(self, context, num_videos):
        """Real context frames for ``sample``: float [N, n_past, H, W, C].

        Raises:
          ValueError: no context, fewer than n_past frames, or another count
            of clips than ``num_videos``.
        """
        name, n_past = type(self).__name__, self.config.n_past
        if context is None:
            raise ValueError(
                f"{name} predicts from real frames: sample needs context=[N, >= {n_past}, H, "
                "W, C] real clips in [-1, 1] that the samples continue (bin/evaluate passes "
                "held-out clips, samples.gif the trainer's real batch)")
        context = tf.convert_to_tensor(context, tf.float32)
        shape = context.shape
        if shape.rank != 5 or (shape[1] is not None and shape[1] < n_past):
            raise ValueError(f"{name}: context must be real clips [N, >= {n_past}, H, W, C], "
                             f"got shape {shape}")
        if isinstance(num_videos, int) and shape[0] is not None and shape[0] != num_videos:
            raise ValueError(f"{name}: {shape[0]} context clips for {num_videos} videos")
        return context[:, :n_past]

    def sample(self, noise, num_videos, num_frames, context=None):
        """Videos continuing real clips: their n_past frames, then predictions.

        Args:
          context: real clips [num_videos, >= n_past, H, W, C] in [-1, 1]
            (required: see ``checked_context``).
        Returns:
          [num_videos, num_frames, H, W, C]: the context frames, then
          ``num_frames - n_past`` predicted ones.
        """
        context = self.checked_context(context, num_videos)
        future = self.predict(context, tf.maximum(num_frames - self.config.n_past, 0), noise)
        return tf.concat([context, future], axis=1)[:, :num_frames]

    def sample_images(self, noise, num_images, context=None):
        """The first predicted frame after each context (its last frame is real)."""
        context = self.checked_context(context, num_images)
        return self.predict(context, 1, noise)[:, 0]

    def prediction_summaries(self, noise, batch, rows: int = 4):
        """``prediction``: each row is the ground truth, then one prediction (three
        for a stochastic model); predicted frames have a red border.

        Args:
          batch: the trainer's fixed real batch, whose first ``rows`` clips
            are continued.
        Returns (named summaries, the ground truth shown [rows, T, H, W, C]).
        """
        c = self.config
        if batch is None:
            raise ValueError(f"{type(self).__name__}'s summaries continue real clips: pass "
                             "the trainer's fixed real batch")
        truth = tf.convert_to_tensor(batch["video"][:rows], tf.float32)
        context = truth[:, :c.n_past]
        horizon = self.num_eval_future
        columns = [pad_time(truth, c.n_past + horizon)]
        for _ in range(3 if self.stochastic else 1):
            future = mark_predicted(self.predict(context, horizon, noise))
            columns.append(tf.concat([context, future], axis=1))
        return {"prediction": side_by_side(columns)}, truth

    def sample_summaries(self, noise, batch=None) -> Dict[str, tf.Tensor]:
        return self.prediction_summaries(noise, batch)[0]

    # Serving ------------------------------------------------------------------------
    def serving_signatures(self):
        """``predict`` (context uint8 [N, n_past, H, W, C], seed int64, num_future int32
        -> video uint8 [N, n_past + num_future, H, W, C]: the context, then the
        prediction); ``serving_default`` is the same with num_future defaulting
        to n_eval - n_past."""
        task, c, size = self, self.config, self.data_spec.image_size
        spec = [tf.TensorSpec([None, c.n_past, size, size, None], tf.uint8, name="context"),
                tf.TensorSpec([], tf.int64, name="seed"),
                tf.TensorSpec([], tf.int32, name="num_future")]

        def run(context, seed, num_future):
            frames = tf.cast(context, tf.float32) / 127.5 - 1.0
            future = task.predict(frames, num_future, base.StatelessNoise(seed))
            return {"video": tf.concat([context, base.to_uint8(future)], axis=1)}

        @tf.function(input_signature=spec)
        def predict(context, seed, num_future):
            return run(context, seed, num_future)

        @tf.function(input_signature=spec)
        def serving_default(context, seed,
                            num_future=tf.constant(self.num_eval_future, tf.int32)):
            return run(context, seed, num_future)

        return {"serving_default": serving_default, "predict": predict}
