"""A toy method registered from outside tfvidgen (``--user_module=tests/toy_method.py``).

It shows what a new method needs and nothing more: a settings dataclass with
its defaults, a Task registered by name, no edit to any shared module. The
model is a learned mean clip plus Gaussian noise of a learned scale, fitted
by least squares: trivial, but it trains, samples, checkpoints and exports
through the one trainer and exporter like every method.
"""
from __future__ import annotations

import dataclasses

import keras
import tensorflow as tf

from tfvidgen import registry
from tfvidgen.models import base
from tfvidgen.settings import ConfigError, Settings, setting


@dataclasses.dataclass(frozen=True)
class ToyConfig(Settings):
    batch_size: int = setting(4, "Clips per step.", min=1)
    toy_frames: int = setting(3, "Frames of the learned mean clip.", min=1)
    toy_learning_rate: float = setting(0.05, "Adam learning rate.", min=0.0,
                                       min_exclusive=True)
    toy_noise: str = setting("gaussian", "Noise added when sampling.",
                             choices=("gaussian", "none"))

    def check(self):
        if self.toy_frames > 64:
            raise ConfigError(f"--toy_frames must be <= 64, got {self.toy_frames}")


class MeanClip(keras.Model):
    def __init__(self, frames, size, channels):
        super().__init__(name="mean_clip")
        self.clip = self.add_weight(shape=[frames, size, size, channels], initializer="zeros",
                                    name="clip")
        self.log_scale = self.add_weight(shape=[], initializer="zeros", name="log_scale")

    def call(self, noise):
        return tf.tanh(self.clip)[None] + tf.exp(self.log_scale) * noise


@registry.register_task("toy_mean_clip")
class ToyMeanClip(base.Task):
    config_class = ToyConfig

    def data_requirements(self):
        return base.DataRequirements(clip_length=self.config.toy_frames)

    def build(self):
        c, spec = self.config, self.data_spec
        self.model = MeanClip(c.toy_frames, spec.image_size, spec.channels)
        self.optimizer = keras.optimizers.Adam(c.toy_learning_rate)
        self.optimizer.build(self.model.trainable_variables)

    def networks(self):
        return {"model": self.model}

    def optimizers(self):
        return {"model": self.optimizer}

    def train_step(self, batch, step, rng, global_batch_size):
        videos = batch["video"]
        with tf.GradientTape() as tape:
            fit = self.model(tf.zeros_like(videos))
            per_example = tf.reduce_mean(tf.square(fit - videos), axis=[1, 2, 3, 4])
            loss = base.average(per_example, global_batch_size)
        base.apply_gradients(self.optimizer, tape, loss, self.model.trainable_variables)
        return {"mse": loss}

    def sample(self, noise, num_videos, num_frames):
        c, spec = self.config, self.data_spec
        shape = tf.stack([num_videos, c.toy_frames, spec.image_size, spec.image_size,
                          spec.channels])
        eps = noise.normal(shape) if c.toy_noise == "gaussian" else tf.zeros(shape)
        clips = tf.clip_by_value(self.model(eps), -1.0, 1.0)
        index = tf.range(num_frames) % c.toy_frames
        return tf.gather(clips, index, axis=1)
