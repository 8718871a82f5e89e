"""Networks of the multimodal VAE (Wu & Goodman 2018) and its VAE-GAN variant (seed 000).

Image expert and decoder follow the official MVAE CelebA code
(mhw32/multimodal-vae-public, ``celeba/model.py``) for any power-of-two side
S >= 16: Conv 4x4 stride 2 (no bias) + BatchNorm + Swish per level, widths
``width * 2**l`` (64x64 and width 32: 32, 64, 128, 256, the official
widths), down to a 4x4 map, then Linear ``hidden`` + Swish (the official code
ends on a valid 4x4 convolution to 5x5 and Linear 6400 -> 512; here the
last level is stride 2 so every size ends at 4x4). The decoder mirrors it and
returns logits (pixels are Bernoulli on [0, 1], BCE-with-logits).

Attribute expert: Linear 512 + BN + Swish twice; attribute decoder: three
such layers, then the attribute logits (official ``AttributeEncoder`` /
``AttributeDecoder``). The Gaussian heads map features to (mean, log-variance).

Discriminators (Larsen et al. 2016, official ``architectures.py`` img64x64):
Conv 5x5 ``w`` stride 1 + ReLU, Conv 5x5 ``4w`` s2 + BN + ReLU, Conv 5x5 ``8w``
s2 + BN + ReLU, Conv 5x5 ``8w`` s2 -> Dis_l (the learned similarity's layer:
the 4th convolution, before its BatchNorm) -> BN + ReLU -> Linear 512 + BN +
ReLU -> Linear 1 (a logit). The attribute discriminator is an MLP whose first
Linear is Dis_l. Both return ``(logits [N], features [N, ...])``.
"""
from __future__ import annotations

import math

import keras
import tensorflow as tf
from keras import layers


def num_levels(image_size: int) -> int:
    """Stride-2 levels from an S x S image to the 4x4 map."""
    levels = math.log2(image_size) - 2
    if image_size < 16 or levels != int(levels):
        raise ValueError(f"image_size must be a power of two >= 16, got {image_size}")
    return int(levels)


def _attach(model, prefix, items):
    """Layers as attributes ``prefix_i`` (Keras 3 leaves layers held in a plain list out of
    ``tf.train.Checkpoint``; see ``tfvidgen.nets.dcgan.Stack``). Returns their count."""
    for i, item in enumerate(items):
        if item is not None:
            setattr(model, f"{prefix}_{i}", item)
    return len(items)


def _layers(model, prefix, count):
    return [getattr(model, f"{prefix}_{i}", None) for i in range(count)]


def swish(x):
    return x * tf.sigmoid(x)


def _bn():
    return layers.BatchNormalization(momentum=0.9, epsilon=1e-5)


class ImageEncoder(keras.Model):
    """Images [N, S, S, C] in [0, 1] -> features [N, hidden]."""

    def __init__(self, image_size, width=32, hidden=512, name="image_encoder"):
        super().__init__(name=name)
        n = num_levels(image_size)
        self.levels = _attach(self, "conv", [layers.Conv2D(width * 2 ** i, 4, 2, "same",
                                                           use_bias=False) for i in range(n)])
        _attach(self, "norm", [None] + [_bn() for _ in range(n - 1)])
        self.flatten = layers.Flatten()
        self.dense = layers.Dense(hidden)

    def call(self, x, training=False):
        for conv, norm in zip(_layers(self, "conv", self.levels),
                              _layers(self, "norm", self.levels)):
            x = conv(x)
            if norm is not None:
                x = norm(x, training=training)
            x = swish(x)
        return swish(self.dense(self.flatten(x)))


class ImageDecoder(keras.Model):
    """Codes [N, D] -> image logits [N, S, S, C]."""

    def __init__(self, image_size, width=32, channels=3, name="image_decoder"):
        super().__init__(name=name)
        n = num_levels(image_size)
        self.top = width * 2 ** (n - 1)
        self.dense = layers.Dense(4 * 4 * self.top)
        self.levels = _attach(self, "deconv", [
            layers.Conv2DTranspose(width * 2 ** i, 4, 2, "same", use_bias=False)
            for i in reversed(range(n - 1))])
        _attach(self, "norm", [_bn() for _ in range(n - 1)])
        self.out = layers.Conv2DTranspose(channels, 4, 2, "same")

    def call(self, z, training=False):
        x = tf.reshape(swish(self.dense(z)), [-1, 4, 4, self.top])
        for deconv, norm in zip(_layers(self, "deconv", self.levels),
                                 _layers(self, "norm", self.levels)):
            x = swish(norm(deconv(x), training=training))
        return self.out(x)


class VectorEncoder(keras.Model):
    """Attribute vectors [N, A] -> features [N, hidden] (two Linear + BN + Swish)."""

    def __init__(self, hidden=512, layers_=2, name="attribute_encoder"):
        super().__init__(name=name)
        self.levels = _attach(self, "dense", [layers.Dense(hidden) for _ in range(layers_)])
        _attach(self, "norm", [_bn() for _ in range(layers_)])

    def call(self, x, training=False):
        for dense, norm in zip(_layers(self, "dense", self.levels),
                               _layers(self, "norm", self.levels)):
            x = swish(norm(dense(x), training=training))
        return x


class VectorDecoder(keras.Model):
    """Codes [N, D] -> attribute logits [N, A] (three Linear + BN + Swish, then Linear)."""

    def __init__(self, dim, hidden=512, name="attribute_decoder"):
        super().__init__(name=name)
        self.body = VectorEncoder(hidden, 3, name=f"{name}_body")
        self.out = layers.Dense(dim)

    def call(self, z, training=False):
        return self.out(self.body(z, training=training))


class GaussianHead(keras.Model):
    """Features [N, F] -> (mean, log-variance) [N, D] of one expert q(z | x_i)."""

    def __init__(self, latent_dim, name="head"):
        super().__init__(name=name)
        self.latent_dim = latent_dim
        self.dense = layers.Dense(2 * latent_dim)

    def call(self, h):
        out = self.dense(h)
        return out[:, :self.latent_dim], out[:, self.latent_dim:]


class ImageDiscriminator(keras.Model):
    """Larsen et al.'s discriminator: images [N, S, S, C] in [-1, 1] -> (logits [N], Dis_l)."""

    def __init__(self, width=32, name="image_discriminator"):
        super().__init__(name=name)
        self.conv1 = layers.Conv2D(width, 5, 1, "same")
        _attach(self, "conv", [layers.Conv2D(w, 5, 2, "same", use_bias=False)
                               for w in (4 * width, 8 * width, 8 * width)])
        _attach(self, "norm", [_bn() for _ in range(3)])
        self.flatten = layers.Flatten()
        self.dense = layers.Dense(512, use_bias=False)
        self.dense_norm = _bn()
        self.out = layers.Dense(1)

    def call(self, x, training=False):
        x = tf.nn.relu(self.conv1(x))
        features = None
        for i, (conv, norm) in enumerate(zip(_layers(self, "conv", 3), _layers(self, "norm", 3))):
            x = conv(x)
            if i == 2:
                features = x  # Dis_l: the 4th convolution, before its BatchNorm
            x = tf.nn.relu(norm(x, training=training))
        x = tf.nn.relu(self.dense_norm(self.dense(self.flatten(x)), training=training))
        return self.out(x)[:, 0], features


class VectorDiscriminator(keras.Model):
    """Attribute vectors [N, A] -> (logits [N], Dis_l [N, hidden]): Linear (Dis_l) + ReLU,
    Linear + ReLU, Linear 1."""

    def __init__(self, hidden=512, name="attribute_discriminator"):
        super().__init__(name=name)
        self.first = layers.Dense(hidden)
        self.second = layers.Dense(hidden)
        self.out = layers.Dense(1)

    def call(self, x, training=False):
        features = self.first(x)
        x = tf.nn.relu(self.second(tf.nn.relu(features)))
        return self.out(x)[:, 0], features


class ExpertLSTM(keras.Model):
    """The LSTM after a frame expert's encoder (seed 000, III.B: "encoders followed by
    a LSTM"): over a sequence of features at once, or one step at a time (rollout)."""

    def __init__(self, hidden=512, name="lstm"):
        super().__init__(name=name)
        self.hidden = hidden
        self.cell = layers.LSTMCell(hidden)
        self.rnn = layers.RNN(self.cell, return_sequences=True, return_state=True)

    def call(self, x):
        """Features [B, T, F] -> (outputs [B, T, hidden], state [h, c])."""
        out, h, c = self.rnn(x)
        return out, [h, c]

    def step(self, x, state):
        """One step: features [B, F], state -> (output [B, hidden], state)."""
        out, state = self.cell(x, state)
        return out, list(state)
