"""Networks of the Disentangled Sequential Autoencoder (Li & Mandt 2018) and RJVAE.

Shapes follow TensorFlow Probability's ``examples/disentangled_vae.py``
(../shared/research/official_code_facts.md, section 7), with the widths as
arguments:

* ``FrameEncoder`` (TFP's compressor): Conv2D(width, 3x3, stride 2, SAME,
  leaky ReLU) down to 8x8, then Conv2D(hidden, 8x8, VALID, leaky ReLU):
  a frame -> [hidden].
* ``FrameDecoder``: Dense(hidden, leaky ReLU) -> 1x1xhidden ->
  Conv2DTranspose(width, 8x8, VALID) -> (width, 3x3, stride 2) ... ->
  (channels, 3x3, stride 2), linear: the mean of p(x_t | latent).
* ``GaussianHead``: Dense(hidden, leaky ReLU) -> Dense(2 d): mean and
  log-variance per frame (DSA's factorized q(z_t | x_t), RJVAE's
  q(delta_t | x_t, mu)).
* ``SequenceGaussian``: Bidirectional LSTM(hidden, merged by sum) over the
  frame features, its last output -> Dense(2 d) (q(f | x_1:T), q(mu | x_1:T)).
* ``FullPosterior``: DSA's full q(z_1:T | f, x_1:T): [features, f] ->
  Bidirectional LSTM(hidden, sequences, sum) -> SimpleRNN(hidden) -> Dense(2 d).

The priors over z_t / delta_t are ``svg_nets.GaussianLSTM`` (an LSTM whose
outputs parameterise a diagonal Gaussian).
"""
from __future__ import annotations

import math

import keras
import tensorflow as tf
from keras import layers


def _lrelu(x):
    return tf.nn.leaky_relu(x, 0.2)


def num_levels(image_size: int) -> int:
    """Stride-2 levels between the frame and 8x8."""
    levels = int(round(math.log2(image_size / 8)))
    if levels < 1 or 8 * 2 ** levels != image_size:
        raise ValueError(f"DSA networks need a power-of-two frame side >= 16, got {image_size}")
    return levels


class FrameEncoder(keras.Model):
    """x_t [N, S, S, C] -> features [N, hidden]."""

    def __init__(self, image_size=64, width=256, hidden=512, name="encoder", **kwargs):
        super().__init__(name=name, **kwargs)
        # Layers are attributes, not a list: tf.train.Checkpoint does not follow the
        # lists of a Keras 3 model.
        self.levels = num_levels(image_size)
        for i in range(self.levels):
            setattr(self, f"conv_{i}", layers.Conv2D(width, 3, 2, "same", activation=_lrelu,
                                                     name=f"conv_{i}"))
        self.out = layers.Conv2D(hidden, 8, 1, "valid", activation=_lrelu, name="conv_out")
        self.flatten = layers.Flatten()

    def call(self, x):
        for i in range(self.levels):
            x = getattr(self, f"conv_{i}")(x)
        return self.flatten(self.out(x))


class FrameDecoder(keras.Model):
    """latent [N, d] -> frame means [N, S, S, channels] (linear)."""

    def __init__(self, image_size=64, width=256, hidden=512, channels=3, name="decoder",
                 **kwargs):
        super().__init__(name=name, **kwargs)
        levels = num_levels(image_size)
        self.dense = layers.Dense(hidden, activation=_lrelu, name="dense")
        self.reshape = layers.Reshape([1, 1, hidden])
        self.first = layers.Conv2DTranspose(width, 8, 1, "valid", activation=_lrelu,
                                            name="deconv_in")
        self.num_ups = levels - 1
        for i in range(self.num_ups):
            setattr(self, f"deconv_{i}", layers.Conv2DTranspose(
                width, 3, 2, "same", activation=_lrelu, name=f"deconv_{i}"))
        self.out = layers.Conv2DTranspose(channels, 3, 2, "same", name="deconv_out")

    def call(self, z):
        x = self.first(self.reshape(self.dense(z)))
        for i in range(self.num_ups):
            x = getattr(self, f"deconv_{i}")(x)
        return self.out(x)


def _split(params):
    mu, logvar = tf.split(params, 2, axis=-1)
    return mu, logvar


class GaussianHead(keras.Model):
    """inputs [..., D] -> (mean, log-variance) [..., d]."""

    def __init__(self, dim, hidden=512, name="posterior_dynamic", **kwargs):
        super().__init__(name=name, **kwargs)
        self.hidden = layers.Dense(hidden, activation=_lrelu, name="hidden")
        self.params = layers.Dense(2 * dim, name="params")

    def call(self, x):
        return _split(self.params(self.hidden(x)))


class SequenceGaussian(keras.Model):
    """features [B, T, D] -> (mean, log-variance) [B, d] from a bidirectional LSTM."""

    def __init__(self, dim, hidden=512, name="posterior_static", **kwargs):
        super().__init__(name=name, **kwargs)
        self.rnn = layers.Bidirectional(layers.LSTM(hidden), merge_mode="sum", name="bilstm")
        self.params = layers.Dense(2 * dim, name="params")

    def call(self, features):
        return _split(self.params(self.rnn(features)))


class FullPosterior(keras.Model):
    """DSA's full q(z_1:T | f, x_1:T): ([B, T, D], f [B, F]) -> (mean, log-variance) [B, T, d]."""

    def __init__(self, dim, hidden=512, name="posterior_dynamic", **kwargs):
        super().__init__(name=name, **kwargs)
        self.birnn = layers.Bidirectional(layers.LSTM(hidden, return_sequences=True),
                                          merge_mode="sum", name="bilstm")
        self.rnn = layers.SimpleRNN(hidden, return_sequences=True, name="rnn")
        self.params = layers.Dense(2 * dim, name="params")

    def call(self, inputs):
        features, f = inputs
        f = tf.broadcast_to(f[:, None], tf.concat([tf.shape(features)[:2], tf.shape(f)[1:]], 0))
        return _split(self.params(self.rnn(self.birnn(tf.concat([features, f], -1)))))
