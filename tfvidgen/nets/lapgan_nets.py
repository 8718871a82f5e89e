"""LAPGAN's Laplacian pyramid and networks (Denton, thesis chapter 4).

Pyramid (section 4.2.2): ``d`` blurs and decimates (here area averaging,
the mean of each 2x2 block for a factor of two, any ratio otherwise:
CIFAR-10's 14 -> 8), ``u`` expands by bilinear interpolation (the
reference code's ``image.scale``). With sizes s_0 > s_1 > ... > s_K (finest
first), the Gaussian pyramid is x_0 = x, x_{k+1} = d(x_k); the Laplacian
pyramid is h_k = x_k - u(x_{k+1}) (Eq. 4.5) and h_K = x_K; reconstruction
is x_k = u(x_{k+1}) + h_k (Eq. 4.6), exact by construction.

Networks (section 4.3, the reference code ``facebook/eyescream``):

* ``CoarseGenerator`` G_K: fully connected, z (100-d, U(-1, 1)) -> 2 hidden
  ReLU layers (1200 units) -> a linear 3 s_K^2 output (the low-frequency
  residual image).
* ``CoarseDiscriminator`` D_K: fully connected, 2 hidden ReLU layers with
  dropout (600 units) -> one logit.
* ``RefineGenerator`` G_k: a convnet on [noise plane, l_k] (the noise is a
  4th "colour plane" of the upsampled coarse image l_k), hidden 7x7
  same-padded convolutions with ReLU (CIFAR/STL: 64, 64; LSUN: 64, 368,
  128, 224 with batch normalisation and dropout) and a linear output
  convolution to the band-pass image h_k.
* ``RefineDiscriminator`` D_k: sees h_k + l_k (l_k "explicitly added to h_k
  before the first convolution layer"), 5x5 ReLU convolutions (the first at
  stride 1, the others at stride 2; CIFAR/STL: 64, 64; LSUN: 48, 448, 416),
  dropout, a linear logit. Same padding everywhere (the reference code's
  valid padding leaves nothing of an 8x8 input).

Class-conditional variants (section 4.3.1): the one-hot label goes through a
linear layer (with ReLU, as the reference code) whose output is reshaped to
one feature plane, concatenated to the convnets' inputs; the fully
connected nets concatenate the one-hot vector to their input. To keep one
tensor per network input (the adversarial step detaches and stacks its
inputs), the one-hot vector travels as constant planes after the image
channels (``with_label_planes``) and the network splits it off.
"""
from __future__ import annotations

from typing import Sequence

import keras
import tensorflow as tf
from keras import layers


# Pyramid -----------------------------------------------------------------------------------

def downsample(x, size: int):
    """d(x): area average to size x size (the 2x2 block mean for a factor of two)."""
    return tf.image.resize(x, [size, size], method="area")


def upsample(x, size: int):
    """u(x): bilinear expansion to size x size."""
    return tf.image.resize(x, [size, size], method="bilinear")


def gaussian_pyramid(x, sizes: Sequence[int]):
    """[x_0, ..., x_K] of images x [B, s_0, s_0, C]; ``sizes`` finest first (s_0 ... s_K)."""
    out = [tf.convert_to_tensor(x)]
    for size in sizes[1:]:
        out.append(downsample(out[-1], size))
    return out


def laplacian_pyramid(x, sizes: Sequence[int]):
    """[h_0, ..., h_{K-1}, h_K]: band-pass images h_k = x_k - u(x_{k+1}) and h_K = x_K."""
    gauss = gaussian_pyramid(x, sizes)
    highs = [gauss[k] - upsample(gauss[k + 1], sizes[k]) for k in range(len(sizes) - 1)]
    return highs + [gauss[-1]]


def reconstruct(coefficients, sizes: Sequence[int]):
    """x_0 from [h_0, ..., h_K] by x_k = u(x_{k+1}) + h_k (Eq. 4.6)."""
    x = coefficients[-1]
    for k in range(len(sizes) - 2, -1, -1):
        x = upsample(x, sizes[k]) + coefficients[k]
    return x


# Class conditioning --------------------------------------------------------------------------

def with_label_planes(x, one_hot):
    """x [B, H, W, C] with the one-hot labels [B, n] appended as n constant planes."""
    if one_hot is None:
        return x
    shape = tf.shape(x)
    planes = tf.broadcast_to(one_hot[:, None, None, :],
                             tf.stack([shape[0], shape[1], shape[2], tf.shape(one_hot)[1]]))
    return tf.concat([x, tf.cast(planes, x.dtype)], axis=-1)


class ClassPlane(layers.Layer):
    """One-hot [B, n] -> one feature plane [B, s, s, 1] (linear layer + ReLU, reshaped)."""

    def __init__(self, size: int, **kwargs):
        super().__init__(**kwargs)
        self.size = size
        self.dense = layers.Dense(size * size, activation="relu", name="dense")

    def call(self, one_hot):
        return tf.reshape(self.dense(one_hot), [-1, self.size, self.size, 1])


# Networks ------------------------------------------------------------------------------------

class CoarseGenerator(keras.Model):
    """G_K: z [B, z_dim (+ num_classes)] -> x_K [B, s, s, 3] (fully connected)."""

    def __init__(self, size: int, hidden: int = 1200, channels: int = 3, name="coarse_generator"):
        super().__init__(name=name)
        self.size, self.channels = size, channels
        self.hidden_0 = layers.Dense(hidden, activation="relu", name="hidden_0")
        self.hidden_1 = layers.Dense(hidden, activation="relu", name="hidden_1")
        self.out = layers.Dense(size * size * channels, name="out")

    def call(self, z, training=False):
        x = self.out(self.hidden_1(self.hidden_0(z)))
        return tf.reshape(x, [-1, self.size, self.size, self.channels])


class CoarseDiscriminator(keras.Model):
    """D_K: x_K [B, s, s, 3 (+ num_classes label planes)] -> logits [B, 1]."""

    def __init__(self, hidden: int = 600, dropout: float = 0.5, channels: int = 3,
                 name="coarse_discriminator"):
        super().__init__(name=name)
        self.channels = channels
        self.hidden_0 = layers.Dense(hidden, activation="relu", name="hidden_0")
        self.hidden_1 = layers.Dense(hidden, activation="relu", name="hidden_1")
        self.drop_0 = layers.Dropout(dropout)
        self.drop_1 = layers.Dropout(dropout)
        self.out = layers.Dense(1, name="out")

    def call(self, x, training=False):
        image = x[..., :self.channels]
        flat = tf.reshape(image, [-1, image.shape[1] * image.shape[2] * self.channels])
        if x.shape[-1] > self.channels:  # one-hot label concatenated to the input
            flat = tf.concat([flat, x[:, 0, 0, self.channels:]], axis=-1)
        h = self.drop_0(self.hidden_0(flat), training=training)
        h = self.drop_1(self.hidden_1(h), training=training)
        return self.out(h)


class _ConvStack(keras.layers.Layer):
    """Convolutions (+ optional batch norm, ReLU, dropout), each tracked as an attribute."""

    def __init__(self, features, kernel, strides, batch_norm, dropout, **kwargs):
        super().__init__(**kwargs)
        self.num = len(features)
        self.batch_norm, self.dropout = batch_norm, dropout
        for i, (f, s) in enumerate(zip(features, strides)):
            setattr(self, f"conv_{i}", layers.Conv2D(f, kernel, s, padding="same",
                                                     name=f"conv_{i}"))
            if batch_norm:
                setattr(self, f"bn_{i}", layers.BatchNormalization(name=f"bn_{i}"))
            if dropout:
                setattr(self, f"drop_{i}", layers.Dropout(dropout))

    def call(self, x, training=False):
        for i in range(self.num):
            x = getattr(self, f"conv_{i}")(x)
            if self.batch_norm:
                x = getattr(self, f"bn_{i}")(x, training=training)
            x = tf.nn.relu(x)
            if self.dropout:
                x = getattr(self, f"drop_{i}")(x, training=training)
        return x


class RefineGenerator(keras.Model):
    """G_k: [noise plane, l_k (3), one-hot planes] [B, s, s, 4 (+ n)] -> h_k [B, s, s, 3]."""

    def __init__(self, size: int, features=(64, 64), kernel: int = 7, out_kernel: int = 5,
                 batch_norm: bool = False, dropout: float = 0.0, num_classes: int = 0,
                 channels: int = 3, name="refine_generator"):
        super().__init__(name=name)
        self.size, self.num_classes, self.channels = size, num_classes, channels
        self.class_plane = ClassPlane(size, name="class_plane") if num_classes else None
        self.hidden = _ConvStack(tuple(features), kernel, [1] * len(features), batch_norm,
                                 dropout, name="hidden")
        self.out = layers.Conv2D(channels, out_kernel, padding="same", name="out")

    def call(self, x, training=False):
        base = x[..., :1 + self.channels]
        if self.class_plane is not None:
            base = tf.concat([base, self.class_plane(x[:, 0, 0, 1 + self.channels:])], axis=-1)
        return self.out(self.hidden(base, training=training))


class RefineDiscriminator(keras.Model):
    """D_k: [h_k + l_k (3), one-hot planes] [B, s, s, 3 (+ n)] -> logits [B, 1]."""

    def __init__(self, size: int, features=(64, 64), kernel: int = 5, batch_norm: bool = False,
                 dropout: float = 0.5, num_classes: int = 0, channels: int = 3,
                 name="refine_discriminator"):
        super().__init__(name=name)
        self.size, self.num_classes, self.channels = size, num_classes, channels
        self.class_plane = ClassPlane(size, name="class_plane") if num_classes else None
        strides = [1] + [2] * (len(features) - 1)
        self.hidden = _ConvStack(tuple(features), kernel, strides, batch_norm, 0.0, name="hidden")
        self.drop = layers.Dropout(dropout)
        self.out = layers.Dense(1, name="out")

    def call(self, x, training=False):
        base = x[..., :self.channels]
        if self.class_plane is not None:
            base = tf.concat([base, self.class_plane(x[:, 0, 0, self.channels:])], axis=-1)
        h = self.hidden(base, training=training)
        h = tf.reshape(h, [-1, h.shape[1] * h.shape[2] * h.shape[3]])
        return self.out(self.drop(h, training=training))
