"""SWGAN's non-progressive image networks (seed 004, chapter 5).

The thesis repository's ``standard_training/swgan_64x64.py`` (after the
64x64 ResNet of WGAN-GP, Gulrajani et al. 2017), 2D and channels-last:

* generator: z (``latent_dim``, N(0, I)) -> dense -> [S/16, S/16, 8 dim] ->
  four up-sampling residual blocks (8, 4, 2, 1 x dim) -> BatchNorm, ReLU ->
  conv 3x3 -> tanh; each block: BN, ReLU, nearest x2 + conv 3x3, BN, ReLU,
  conv 3x3, plus a shortcut (nearest x2 + conv 1x1);
* discriminator (E): conv 3x3 (dim) -> four down-sampling residual blocks
  (2, 4, 8, 8 x dim) -> dense to ``features`` (128); each block: LayerNorm
  (over H, W, C, per-channel scale and offset: the repository's swgan
  ``Normalize``), ReLU, conv 3x3, LayerNorm, ReLU, conv 3x3 + 2x2 mean pool,
  plus a shortcut (mean pool + conv 1x1);
* ``SWGANImageCritic``: D = f o E with ``progressive3d.SlicedProjection``
  as f (Eq. 5.2).

Initialisers are Keras' He / Glorot uniform (tflib's differ in scale).
"""
from __future__ import annotations

import keras
import tensorflow as tf

from tfvidgen.nets.progressive3d import SlicedProjection


def mean_pool(x):
    """2x2 average pooling (the repository's sum of four shifted slices / 4)."""
    return tf.nn.avg_pool2d(x, 2, 2, "VALID")


def upsample(x):
    """Nearest x2 (the repository's concat of four copies + depth_to_space)."""
    return tf.repeat(tf.repeat(x, 2, axis=1), 2, axis=2)


def _conv(filters, size, he=True, bias=True, name=None):
    return keras.layers.Conv2D(filters, size, padding="same", use_bias=bias, name=name,
                               kernel_initializer="he_uniform" if he else "glorot_uniform")


class LayerNorm(keras.layers.Layer):
    """Normalisation over (H, W, C) per example with per-channel scale and offset
    (tflib ``Layernorm`` over axes [1, 2, 3] of NCHW)."""

    def build(self, input_shape):
        c = int(input_shape[-1])
        self.scale = self.add_weight(shape=[c], name="scale", initializer="ones")
        self.offset = self.add_weight(shape=[c], name="offset", initializer="zeros")

    def call(self, x):
        mean, var = tf.nn.moments(x, axes=[1, 2, 3], keepdims=True)
        return (x - mean) * tf.math.rsqrt(var + 1e-5) * self.scale + self.offset


class ResidualBlock(keras.layers.Layer):
    """The repository's ``ResidualBlock`` with resample "up" (generator, BatchNorm)
    or "down" (discriminator, LayerNorm)."""

    def __init__(self, filters, resample, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.resample = int(filters), resample

    def build(self, input_shape):
        cin, cout = int(input_shape[-1]), self.filters
        if self.resample == "up":
            self.norm1 = keras.layers.BatchNormalization(epsilon=1e-5)
            self.norm2 = keras.layers.BatchNormalization(epsilon=1e-5)
            self.conv1 = _conv(cout, 3, bias=False)
            self.conv2 = _conv(cout, 3)
        else:
            self.norm1, self.norm2 = LayerNorm(), LayerNorm()
            self.conv1 = _conv(cin, 3, bias=False)
            self.conv2 = _conv(cout, 3)
        self.shortcut = _conv(cout, 1, he=False)

    def call(self, x, training=False):
        if self.resample == "up":
            short = self.shortcut(upsample(x))
            h = tf.nn.relu(self.norm1(x, training=training))
            h = tf.nn.relu(self.norm2(self.conv1(upsample(h)), training=training))
            return short + self.conv2(h)
        short = self.shortcut(mean_pool(x))
        h = self.conv1(tf.nn.relu(self.norm1(x)))
        h = mean_pool(self.conv2(tf.nn.relu(self.norm2(h))))
        return short + h


class ImageGenerator(keras.Model):
    """z [B, latent_dim] -> images [B, S, S, channels] in [-1, 1]."""

    def __init__(self, image_size, latent_dim=128, dim=64, channels=3, name="generator"):
        super().__init__(name=name)
        if image_size < 16 or image_size % 16:
            raise ValueError(f"the SWGAN image networks need a size that is a multiple of 16, "
                             f"got {image_size}")
        self.start = image_size // 16
        self.dim, self.latent_dim = int(dim), int(latent_dim)
        self.dense = keras.layers.Dense(self.start * self.start * 8 * self.dim,
                                        kernel_initializer="he_uniform")
        self.blocks = [ResidualBlock(m * self.dim, "up", name=f"res{i + 1}")
                       for i, m in enumerate((8, 4, 2, 1))]
        self.out_norm = keras.layers.BatchNormalization(epsilon=1e-5)
        self.to_rgb = _conv(channels, 3)

    def call(self, z, training=False):
        h = tf.reshape(self.dense(z), [-1, self.start, self.start, 8 * self.dim])
        for block in self.blocks:
            h = block(h, training=training)
        h = tf.nn.relu(self.out_norm(h, training=training))
        return tf.tanh(self.to_rgb(h))


class ImageEncoder(keras.Model):
    """E: images [B, S, S, C] -> features [B, features] (no activation)."""

    def __init__(self, dim=64, features=128, name="encoder"):
        super().__init__(name=name)
        self.dim = int(dim)
        self.from_rgb = _conv(self.dim, 3, he=False)
        self.blocks = [ResidualBlock(m * self.dim, "down", name=f"res{i + 1}")
                       for i, m in enumerate((2, 4, 8, 8))]
        self.flatten = keras.layers.Flatten()
        self.dense = keras.layers.Dense(int(features))

    def call(self, x, training=False):
        h = self.from_rgb(x)
        for block in self.blocks:
            h = block(h, training=training)
        return self.dense(self.flatten(h))


class SWGANImageCritic(keras.Model):
    """D = f o E: ``ImageEncoder`` features through SWGAN's ``SlicedProjection``."""

    def __init__(self, dim=64, features=128, blocks=4, riemannian=True, name="discriminator"):
        super().__init__(name=name)
        self.encoder = ImageEncoder(dim, features)
        self.projection = SlicedProjection(blocks, riemannian, name="projection")

    def call(self, x, training=False):
        return self.projection(self.encoder(x, training=training))
