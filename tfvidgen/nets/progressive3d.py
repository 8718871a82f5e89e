"""Progressively grown 3D video networks (seed 004: Acharya 2018, chapter 4, appendix A).

The generator and discriminator of "Towards High Resolution Video Generation
with Progressive Growing of Sliced Wasserstein GANs" follow PGGAN (Karras et
al. 2018) with every 2D operation made 3D (channels-last [B, T, H, W, C]):

* generator: latent (pixel-normalised) -> dense -> 4x4x4 -> conv 3x3x3; per
  higher level nearest upsampling (x2 in space, x2 or x1 in time) and two
  3x3x3 convolutions, each followed by LeakyReLU 0.2 and pixel norm (Eq.
  4.1, eps 1e-8); a linear 1x1x1 toRGB per level;
* discriminator: the mirror image, a 1x1x1 fromRGB (LeakyReLU) per level,
  two 3x3x3 convolutions and average pooling per level, minibatch standard
  deviation (section 4.2) before the last block, then conv 3x3x3 and a dense
  layer of nf(0) features, and (WGAN-GP) a linear score; no normalisation;
* equalized learning rate: weights drawn from N(0, 1) and multiplied at run
  time by He's constant gain / sqrt(fan_in) (PGGAN section 4.1), biases
  unscaled;
* fade-in (section 4.1): at level l with weight alpha the generator outputs
  ``alpha * toRGB_l(h_l) + (1 - alpha) * up(toRGB_{l-1}(h_{l-1}))`` and the
  discriminator reads ``alpha * block_l(fromRGB_l(x)) + (1 - alpha) *
  fromRGB_{l-1}(down(x))``.

``SlicedProjection`` is SWGAN's learned orthogonal projection of the
discriminator's features (chapter 5, Eq. 5.2).

Feature maps per level: nf(stage) = min(fmap_base / 2^stage, fmap_max) with
the thesis' fmap_base 1024, fmap_max 128 (appendix A: 128 up to 16x16, then
64, 32, 16, 8 at 32, 64, 128, 256 pixels).
"""
from __future__ import annotations

import math
from typing import List, Optional, Sequence, Tuple

import keras
import numpy as np
import tensorflow as tf

# Level index at which time doubles (level 0 = 4x4x4), per schedule.
#  thesis: appendix A, 4x4x4 -> 8x8x8 -> 8x16x16 -> 8x32x32 -> 16x64x64 -> 16x128 -> 32x256.
#  official_code: the thesis' repository (temporal_upscale_map): time doubles at 8, 32, 128 px.
#  together: time and space double at every level.
TIME_DOUBLES_AT = {
    "thesis": (1, 4, 6),
    "official_code": (1, 3, 5),
    "together": tuple(range(1, 16)),
}


def level_shapes(final_size: int, schedule: str = "thesis") -> List[Tuple[int, int]]:
    """(frames, size) of each level from 4x4x4 up to ``final_size`` pixels.

    Raises:
      ValueError: ``final_size`` not a power of two >= 4, or an unknown schedule.
    """
    if final_size < 4 or not math.log2(final_size).is_integer():
        raise ValueError(f"progressive networks need a power-of-two size >= 4, got {final_size}")
    if schedule not in TIME_DOUBLES_AT:
        raise ValueError(f"unknown time schedule {schedule!r}; one of {', '.join(TIME_DOUBLES_AT)}")
    shapes, frames = [], 4
    for level in range(int(math.log2(final_size)) - 1):
        if level in TIME_DOUBLES_AT[schedule]:
            frames *= 2
        shapes.append((frames, 4 * 2 ** level))
    return shapes


def level_factors(shapes: Sequence[Tuple[int, int]]) -> List[Tuple[int, int]]:
    """(time, space) up/down-sampling factor between level l - 1 and l ((1, 1) at l = 0)."""
    out = [(1, 1)]
    for (t0, s0), (t1, s1) in zip(shapes, shapes[1:]):
        out.append((t1 // t0, s1 // s0))
    return out


def num_features(stage: int, fmap_base: int = 1024, fmap_max: int = 128) -> int:
    """nf(stage) = min(fmap_base / 2^stage, fmap_max) (PGGAN ``nf``, fmap_decay 1)."""
    return max(min(int(fmap_base / 2.0 ** stage), fmap_max), 1)


# Operations -----------------------------------------------------------------------------

def lrelu(x):
    return tf.nn.leaky_relu(x, 0.2)


def pixel_norm(x, epsilon=1e-8):
    """Eq. 4.1: each position's feature vector divided by its RMS (over channels)."""
    return x * tf.math.rsqrt(tf.reduce_mean(tf.square(x), axis=-1, keepdims=True) + epsilon)


def upsample(x, factors):
    """Nearest-neighbour upsampling of [B, T, H, W, C] by (time, space) factors."""
    ft, fs = factors
    if ft > 1:
        x = tf.repeat(x, ft, axis=1)
    if fs > 1:
        x = tf.repeat(tf.repeat(x, fs, axis=2), fs, axis=3)
    return x


def downsample(x, factors):
    """Average pooling of [B, T, H, W, C] over (time, space, space) blocks."""
    ft, fs = factors
    if ft == 1 and fs == 1:
        return x
    return tf.nn.avg_pool3d(x, [1, ft, fs, fs, 1], [1, ft, fs, fs, 1], "VALID")


def minibatch_stddev(x, group_size=4):
    """Section 4.2 / PGGAN: one feature map holding the group's mean standard deviation.

    Groups of G = min(group_size, N) videos (element n is in group n mod M,
    M = N / G, as the official reshape [G, M, ...]); the standard deviation
    over the group of every feature at every position (sqrt(var + 1e-8)),
    averaged over features and positions, is appended as a channel. With a
    static batch not divisible by G, G is gcd(N, G).
    """
    n = x.shape[0]
    if n is not None:
        group = math.gcd(int(n), group_size) if n % min(group_size, n) else min(group_size, n)
    else:
        group = tf.minimum(group_size, tf.shape(x)[0])
    shape = tf.shape(x)
    y = tf.reshape(x, tf.concat([[group, -1], shape[1:]], 0))
    y -= tf.reduce_mean(y, axis=0, keepdims=True)
    y = tf.sqrt(tf.reduce_mean(tf.square(y), axis=0) + 1e-8)
    y = tf.reduce_mean(y, axis=[1, 2, 3, 4], keepdims=True)
    y = tf.tile(y, tf.stack([group, shape[1], shape[2], shape[3], 1]))
    return tf.concat([x, y], axis=-1)


# Equalized learning rate layers -----------------------------------------------------------

class EqualizedDense(keras.layers.Layer):
    """Dense layer with weights N(0, 1) scaled at run time by gain / sqrt(fan_in)."""

    def __init__(self, units, gain=math.sqrt(2.0), **kwargs):
        super().__init__(**kwargs)
        self.units, self.gain = int(units), float(gain)

    def build(self, input_shape):
        fan_in = int(np.prod(input_shape[1:]))
        self.kernel = self.add_weight(shape=[fan_in, self.units], name="kernel",
                                      initializer=keras.initializers.RandomNormal(0.0, 1.0))
        self.bias = self.add_weight(shape=[self.units], name="bias", initializer="zeros")
        self.scale = self.gain / math.sqrt(fan_in)

    def call(self, x):
        x = tf.reshape(x, [tf.shape(x)[0], self.kernel.shape[0]])
        return tf.matmul(x, self.kernel * self.scale) + self.bias


class EqualizedConv3D(keras.layers.Layer):
    """3D convolution (SAME, stride 1), weights N(0, 1) scaled by gain / sqrt(k^3 c_in)."""

    def __init__(self, filters, kernel_size=3, gain=math.sqrt(2.0), **kwargs):
        super().__init__(**kwargs)
        self.filters, self.kernel_size, self.gain = int(filters), int(kernel_size), float(gain)

    def build(self, input_shape):
        k, c_in = self.kernel_size, int(input_shape[-1])
        self.kernel = self.add_weight(shape=[k, k, k, c_in, self.filters], name="kernel",
                                      initializer=keras.initializers.RandomNormal(0.0, 1.0))
        self.bias = self.add_weight(shape=[self.filters], name="bias", initializer="zeros")
        self.scale = self.gain / math.sqrt(k * k * k * c_in)

    def call(self, x):
        return tf.nn.conv3d(x, self.kernel * self.scale, [1] * 5, "SAME") + self.bias


# Networks ----------------------------------------------------------------------------------

def _set_layers(model, prefix, layers):
    """Sets ``layers`` as attributes prefix_0, prefix_1, ... (tf.train.Checkpoint does not
    follow lists of Keras 3 layers) and records their count."""
    setattr(model, f"_num_{prefix}", len(layers))
    for i, layer in enumerate(layers):
        setattr(model, f"{prefix}_{i}", layer)


def _get_layers(model, prefix):
    return [getattr(model, f"{prefix}_{i}") for i in range(getattr(model, f"_num_{prefix}"))]


def _level_convs(layers, level):
    """The convolutions of ``level`` in a flat list: one at level 0, two per level after."""
    return layers[:1] if level == 0 else layers[2 * level - 1:2 * level + 1]


class ProgressiveGenerator3D(keras.Model):
    """Appendix A, Table A.1: latent -> videos [B, T_l, S_l, S_l, channels] at level l.

    Args:
      shapes: (frames, size) per level (``level_shapes``).
      latent_dim: 128 in the thesis.
      fmap_base, fmap_max: feature maps per level (``num_features``).
      channels: output channels.
    """

    def __init__(self, shapes, latent_dim=128, fmap_base=1024, fmap_max=128, channels=3,
                 name="generator"):
        super().__init__(name=name)
        self.shapes, self.latent_dim = list(shapes), int(latent_dim)
        self.built = True  # variables are created level by level (build_all_levels)
        self.factors = level_factors(self.shapes)
        nf = [num_features(level + 1, fmap_base, fmap_max) for level in range(len(shapes))]
        self.fmaps = nf
        self.dense = EqualizedDense(nf[0] * 4 * 4 * 4, gain=math.sqrt(2.0) / 4, name="dense")
        # One flat list (nested lists of layers are not tracked by tf.train.Checkpoint).
        convs = [EqualizedConv3D(nf[0], 3, name="conv_0_1")]
        for level in range(1, len(shapes)):
            convs += [EqualizedConv3D(nf[level], 3, name=f"conv_{level}_{i}") for i in (0, 1)]
        _set_layers(self, "conv", convs)
        _set_layers(self, "rgb", [EqualizedConv3D(channels, 1, gain=1.0, name=f"to_rgb_{level}")
                                  for level in range(len(shapes))])

    @property
    def conv_layers(self):
        return _get_layers(self, "conv")

    @property
    def to_rgb(self):
        return _get_layers(self, "rgb")

    @property
    def top_level(self):
        return len(self.shapes) - 1

    def features(self, z, level):
        """Hidden features of levels 0..level (a list)."""
        x = pixel_norm(z)
        x = self.dense(x)
        x = tf.reshape(x, [-1, 4, 4, 4, self.fmaps[0]])
        x = pixel_norm(lrelu(x))
        out = []
        for lev in range(level + 1):
            if lev > 0:
                x = upsample(x, self.factors[lev])
            for conv in _level_convs(self.conv_layers, lev):
                x = pixel_norm(lrelu(conv(x)))
            out.append(x)
        return out

    def call(self, z, level=None, alpha=None, training=False):
        """Videos at ``level`` (default: the top); ``alpha`` (None: no fade) blends
        in the new level's output over the previous level's, upsampled."""
        del training
        level = self.top_level if level is None else level
        hidden = self.features(z, level)
        new = self.to_rgb[level](hidden[level])
        if level == 0 or alpha is None:
            return new
        old = upsample(self.to_rgb[level - 1](hidden[level - 1]), self.factors[level])
        alpha = tf.cast(alpha, new.dtype)
        return alpha * new + (1.0 - alpha) * old

    def level_variables(self, level, fade=True):
        layers = [self.dense] + [c for lev in range(level + 1) for c in _level_convs(self.conv_layers, lev)]
        layers.append(self.to_rgb[level])
        if fade and level > 0:
            layers.append(self.to_rgb[level - 1])
        return [v for layer in layers for v in layer.trainable_variables]


class ProgressiveDiscriminator3D(keras.Model):
    """Appendix A, Table A.2: videos at level l -> a score [B, 1] (or nf(0) features).

    Args:
      shapes: (frames, size) per level, as the generator's.
      fmap_base, fmap_max: feature maps per level.
      mbstd_group_size: group of the minibatch standard deviation (0: none).
      score: True: a final linear dense layer to one score (WGAN-GP);
        False: the nf(0) features of the dense layer before it (SWGAN's E).
    """

    def __init__(self, shapes, fmap_base=1024, fmap_max=128, mbstd_group_size=4, score=True,
                 name="discriminator"):
        super().__init__(name=name)
        self.shapes = list(shapes)
        self.built = True  # variables are created level by level (build_all_levels)
        self.factors = level_factors(self.shapes)
        self.mbstd_group_size = int(mbstd_group_size)
        nf = lambda stage: num_features(stage, fmap_base, fmap_max)  # noqa: E731
        _set_layers(self, "rgb", [EqualizedConv3D(nf(level + 1), 1, name=f"from_rgb_{level}")
                                  for level in range(len(shapes))])
        convs = [EqualizedConv3D(nf(1), 3, name="conv_0_0")]
        for level in range(1, len(shapes)):
            convs += [EqualizedConv3D(nf(level + 1), 3, name=f"conv_{level}_0"),
                      EqualizedConv3D(nf(level), 3, name=f"conv_{level}_1")]
        _set_layers(self, "conv", convs)
        self.dense = EqualizedDense(nf(0), name="dense_0")
        self.score = EqualizedDense(1, gain=1.0, name="dense_1") if score else None
        self.feature_dim = nf(0)

    @property
    def conv_layers(self):
        return _get_layers(self, "conv")

    @property
    def from_rgb(self):
        return _get_layers(self, "rgb")

    @property
    def top_level(self):
        return len(self.shapes) - 1

    def _block(self, x, level):
        for conv in _level_convs(self.conv_layers, level):
            x = lrelu(conv(x))
        return downsample(x, self.factors[level]) if level > 0 else x

    def call(self, x, level=None, alpha=None, training=False):
        del training
        level = self.top_level if level is None else level
        h = lrelu(self.from_rgb[level](x))
        if level > 0:
            h = self._block(h, level)
        if level > 0 and alpha is not None:
            old = lrelu(self.from_rgb[level - 1](downsample(x, self.factors[level])))
            alpha = tf.cast(alpha, h.dtype)
            h = alpha * h + (1.0 - alpha) * old
        for lev in range(level - 1, 0, -1):
            h = self._block(h, lev)
        if self.mbstd_group_size > 1:
            h = minibatch_stddev(h, self.mbstd_group_size)
        h = self._block(h, 0)
        h = lrelu(self.dense(h))
        return self.score(h) if self.score is not None else h

    def level_variables(self, level, fade=True):
        layers = [self.from_rgb[level]] + [c for lev in range(level + 1) for c in _level_convs(self.conv_layers, lev)]
        if fade and level > 0:
            layers.append(self.from_rgb[level - 1])
        layers += [self.dense] + ([self.score] if self.score is not None else [])
        return [v for layer in layers for v in layer.trainable_variables]


def orthonormalize(matrix):
    """Q of the QR decomposition of each [K, K] matrix, signs fixed so that diag(R) > 0.

    The thesis' repository retracts its projection onto the Stiefel manifold
    with ``W <- Q`` of ``tf.qr(W)`` after each update; fixing the signs makes
    this the identity on matrices that are already orthogonal.
    """
    q, r = tf.linalg.qr(matrix)
    signs = tf.where(tf.linalg.diag_part(r) < 0, -1.0, 1.0)
    return q * signs[..., None, :]


def riemannian_gradient(matrix, grad):
    """The Euclidean gradient projected on the Stiefel manifold's tangent space at W.

    ``G - W sym(W^T G)``, sym(A) = (A + A^T) / 2, for each [K, K] matrix W
    (columns: directions): the thesis repository (progressive_training/
    tfutil.py, ``Optimizer.apply_updates``) replaces the projection's
    gradient by this before Adam, then retracts with QR (``orthonormalize``).
    For W^T W = I the result xi is tangent: W^T xi + xi^T W = 0.
    """
    wtg = tf.matmul(matrix, grad, transpose_a=True)
    return grad - tf.matmul(matrix, 0.5 * (wtg + tf.linalg.matrix_transpose(wtg)))


@tf.custom_gradient
def on_stiefel(matrix):
    """Identity whose gradient is ``riemannian_gradient``: reading a variable
    through it makes ``tape.gradient`` (and so the optimizer) see the
    Riemannian gradient of every use. The map is linear in G, so projecting
    each use's gradient equals projecting their sum."""
    def grad(upstream):
        return riemannian_gradient(matrix, upstream)
    return tf.identity(matrix), grad


class SlicedProjection(keras.layers.Layer):
    """SWGAN's f (Eq. 5.2): phi(lambda_k theta_k^T y + b_k) for K orthogonal directions.

    ``blocks`` orthogonal K x K matrices theta (K = feature size), learned
    scales lambda (init 1) and offsets b (init 0), phi = LeakyReLU 0.2
    (``DualSWD`` of the thesis' repository; its standard_training model
    uses 4 blocks). The matrices start orthogonal and stay on the Stiefel
    manifold: with ``riemannian`` (the repository's update) they are read
    through ``on_stiefel``, so the optimizer gets their Riemannian gradient
    G - W sym(W^T G), and ``orthonormalize`` retracts them after every
    update (``projection_constraint``); without it Adam sees the Euclidean
    gradient and only the QR retraction keeps them orthogonal.

    Returns [B, blocks * K].
    """

    def __init__(self, blocks=1, riemannian=True, **kwargs):
        super().__init__(**kwargs)
        self.blocks = int(blocks)
        self.riemannian = bool(riemannian)

    def build(self, input_shape):
        k = int(input_shape[-1])

        def orthogonal(shape, dtype=None):
            return orthonormalize(tf.random.normal(shape, dtype=dtype or tf.float32))

        self.matrix = self.add_weight(shape=[self.blocks, k, k], name="projection_matrix",
                                      initializer=orthogonal)
        self.scale = self.add_weight(shape=[self.blocks * k], name="scale", initializer="ones")
        self.offset = self.add_weight(shape=[self.blocks * k], name="offset",
                                      initializer="zeros")

    def project(self, y):
        """theta^T y for every direction: [B, blocks * K] (before scale and offset)."""
        matrix = tf.convert_to_tensor(self.matrix)
        if self.riemannian:
            matrix = on_stiefel(matrix)
        p = tf.einsum("bk,nkj->bnj", y, tf.cast(matrix, y.dtype))
        return tf.reshape(p, [tf.shape(y)[0], self.blocks * self.matrix.shape[-1]])

    def call(self, y):
        return lrelu(self.scale * self.project(y) + self.offset)


class SWGANCritic(keras.Model):
    """D = f o E (chapter 5): the discriminator's features, then ``SlicedProjection``."""

    def __init__(self, encoder: ProgressiveDiscriminator3D, blocks=1, name="discriminator",
                 riemannian=True):
        super().__init__(name=name)
        self.built = True
        self.encoder = encoder
        self.projection = SlicedProjection(blocks, riemannian, name="projection")

    def call(self, x, level=None, alpha=None, training=False):
        return self.projection(self.encoder(x, level=level, alpha=alpha))

    def level_variables(self, level, fade=True):
        return (self.encoder.level_variables(level, fade)
                + list(self.projection.trainable_variables))


def build_all_levels(generator, discriminator, latent_dim, channels, fade=True,
                     levels: Optional[Sequence[int]] = None):
    """Creates every level's variables (progressive: all, with their fade-in layers)."""
    levels = range(len(generator.shapes)) if levels is None else levels
    for level in levels:
        frames, size = generator.shapes[level]
        alpha = 0.5 if fade else None
        generator(tf.zeros([1, latent_dim]), level=level, alpha=alpha)
        discriminator(tf.zeros([1, frames, size, size, channels]), level=level, alpha=alpha)
