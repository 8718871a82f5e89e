"""Networks of VGAN (Vondrick et al. 2016) and TGAN (Saito et al. 2017), any size.

Both papers generate 64x64 videos (VGAN 32 frames, TGAN 16); the networks
here keep their layer patterns and scale with the data: a frame side S =
4 * 2^n has n stride-2 (de)convolutions, and a length T has its time
doublings in the last layers (T = t0 * 2^d, d <= n). At 64x64 the layers are
the papers':

* VGAN generator (``cvondrick/videogan`` main.lua): background stream, 2D,
  z -> 4x4 (512) -> 8 (256) -> 16 (128) -> 32 (64) -> 64x64x3, tanh;
  foreground stream, 3D, z -> 2x4x4 (512) -> 4x8x8 (256) -> 8x16x16 (128)
  -> 16x32x32 (64), then two heads to 32x64x64: a tanh video f and a
  sigmoid mask m; G(z) = m * f + (1 - m) * b, b repeated over time. 4x4x4
  kernels with stride 2, BatchNorm and ReLU.
* 3D discriminator (VGAN's, and TGAN's ``video_discriminator.py``): 4x4x4
  convolutions with stride 2, 64 -> 128 -> 256 -> 512, LeakyReLU 0.2, BatchNorm
  after all but the first; a last convolution over the remaining
  (T', 4, 4) volume gives one score per video (VGAN's two-way softmax is
  one logit here: the loss is the same).
* TGAN temporal generator G0 (``frame_seed_generator.py``): z0 [100] as a
  length-1 sequence, 1D deconvolutions 512 (k1) -> 256 -> 128 -> 128 ->
  z1 dim (k4, s2) to 16 frame latents, BatchNorm + ReLU, tanh at the end.
* TGAN image generator G1 (``video_generator.py``): per frame, Dense(z0) and
  Dense(z1(t)) to 4x4x256 each (BatchNorm, ReLU), concatenated to 4x4x512,
  then 4x4 stride-2 deconvolutions 256 -> 128 -> 64 -> 32 and a 3x3
  deconvolution to RGB, tanh.
"""
from __future__ import annotations

import math

import keras
import tensorflow as tf
from keras import layers


def num_doublings(image_size: int) -> int:
    """n with image_size = 4 * 2^n (image_size a power of two >= 8)."""
    n = int(round(math.log2(image_size))) - 2
    if n < 1 or 4 * 2 ** n != image_size:
        raise ValueError(f"image size must be a power of two >= 8, got {image_size}")
    return n


def time_plan(num_frames: int, n: int):
    """(t0, strides): initial length and the time stride of each of n upsamplings.

    The d = min(n, factors of 2 in T) time doublings go to the last d layers,
    so that T = t0 * 2^d (VGAN: 32 = 2 * 2^4).
    """
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    d, t = 0, num_frames
    while d < n and t % 2 == 0:
        d, t = d + 1, t // 2
    return t, [1] * (n - d) + [2] * d


def _set_layers(model, prefix, layers):
    """Sets ``layers`` as attributes prefix_0, prefix_1, ... (tf.train.Checkpoint does not
    follow lists of Keras 3 layers: a list attribute would leave them out of checkpoints)."""
    setattr(model, f"_num_{prefix}", len(layers))
    for i, layer in enumerate(layers):
        setattr(model, f"{prefix}_{i}", layer)


def _get_layers(model, prefix):
    return [getattr(model, f"{prefix}_{i}") for i in range(getattr(model, f"_num_{prefix}"))]


class _LayerLists:
    """``model.<name>`` -> the list of layers set by ``_set_layers(model, name, ...)``."""

    def __getattr__(self, name):
        if not name.startswith("_") and f"_num_{name}" in self.__dict__:
            return _get_layers(self, name)
        parent = getattr(super(), "__getattr__", None)
        if parent is None:
            raise AttributeError(name)
        return parent(name)


def _bn(epsilon, gamma_init="ones", name=None):
    return layers.BatchNormalization(epsilon=epsilon, momentum=0.9,
                                     gamma_initializer=gamma_init, name=name)


class VGANGenerator(_LayerLists, keras.Model):
    """Two-stream generator: z [N, Z] -> dict(video, foreground, background, mask)."""

    def __init__(self, image_size=64, num_frames=32, latent_dim=100, ngf=64, channels=3,
                 weight_stddev=0.01, name="vgan_generator", **kwargs):
        super().__init__(name=name, **kwargs)
        n = num_doublings(image_size)
        self.num_frames, self.image_size = num_frames, image_size
        t0, strides = time_plan(num_frames, n)
        init = keras.initializers.RandomNormal(0.0, weight_stddev)
        gamma = keras.initializers.RandomNormal(1.0, 0.02)
        widths = [ngf * 2 ** (n - 1 - i) for i in range(n)]
        conv = dict(kernel_initializer=init, use_bias=False)
        background = [layers.Conv2DTranspose(widths[0], 4, padding="valid", **conv,
                                             name="bg0")]
        foreground = [layers.Conv3DTranspose(widths[0], (t0, 4, 4), padding="valid", **conv,
                                             name="fg0")]
        for i in range(1, n):
            background.append(layers.Conv2DTranspose(widths[i], 4, 2, "same", **conv,
                                                     name=f"bg{i}"))
            foreground.append(layers.Conv3DTranspose(
                widths[i], 4, (strides[i - 1], 2, 2), "same", **conv, name=f"fg{i}"))
        _set_layers(self, "background", background)
        _set_layers(self, "foreground", foreground)
        _set_layers(self, "bg_norms", [_bn(1e-5, gamma, f"bg{i}_bn") for i in range(n)])
        _set_layers(self, "fg_norms", [_bn(1e-5, gamma, f"fg{i}_bn") for i in range(n)])
        head = dict(kernel_initializer=init, bias_initializer="zeros")
        self.bg_out = layers.Conv2DTranspose(channels, 4, 2, "same", **head, name="bg_out")
        self.fg_out = layers.Conv3DTranspose(channels, 4, (strides[-1], 2, 2), "same",
                                             **head, name="fg_out")
        self.mask_out = layers.Conv3DTranspose(1, 4, (strides[-1], 2, 2), "same", **head,
                                               name="mask_out")

    def call(self, z, training=False):
        b = z[:, None, None, :]
        for conv, norm in zip(self.background, self.bg_norms):
            b = tf.nn.relu(norm(conv(b), training=training))
        b = tf.tanh(self.bg_out(b))
        f = z[:, None, None, None, :]
        for conv, norm in zip(self.foreground, self.fg_norms):
            f = tf.nn.relu(norm(conv(f), training=training))
        mask = tf.sigmoid(self.mask_out(f))
        f = tf.tanh(self.fg_out(f))
        return {"video": compose(mask, f, b), "foreground": f, "background": b,
                "mask": mask}


def compose(mask, foreground, background):
    """VGAN's G(z) = m * f + (1 - m) * b: mask [N, T, H, W, 1], foreground
    [N, T, H, W, C], background [N, H, W, C] (the same for every frame)."""
    return mask * foreground + (1.0 - mask) * background[:, None]


class Discriminator3D(_LayerLists, keras.Model):
    """Clips [N, T, S, S, C] -> scores [N]: VGAN's and TGAN's 3D discriminator."""

    def __init__(self, image_size=64, num_frames=32, ndf=64, bn_epsilon=1e-3,
                 kernel_initializer=None, name="video_discriminator", **kwargs):
        super().__init__(name=name, **kwargs)
        n = num_doublings(image_size)
        init = kernel_initializer or "glorot_uniform"
        gamma = "ones"
        if isinstance(init, keras.initializers.RandomNormal):
            gamma = keras.initializers.RandomNormal(1.0, 0.02)
        convs, t = [], num_frames
        for i in range(n):
            stride_t = 2 if t > 1 else 1
            t = (t + stride_t - 1) // stride_t
            convs.append(layers.Conv3D(ndf * 2 ** i, 4, (stride_t, 2, 2), "same",
                                       kernel_initializer=init, use_bias=i == 0,
                                       name=f"conv{i}"))
        _set_layers(self, "convs", convs)
        # No BatchNorm after the first convolution.
        _set_layers(self, "norms", [_bn(bn_epsilon, gamma, f"conv{i}_bn") for i in range(1, n)])
        self.out = layers.Conv3D(1, (t, 4, 4), padding="valid", kernel_initializer=init,
                                 name="score")

    def batch_norms(self):
        return self.norms

    def call(self, x, training=False):
        for i, conv in enumerate(self.convs):
            x = conv(x)
            if i:
                x = self.norms[i - 1](x, training=training)
            x = tf.nn.leaky_relu(x, 0.2)
        return tf.reshape(self.out(x), [-1])


def chainer_normal():
    """Chainer's default initialiser (LeCunNormal: N(0, 1 / fan_in), untruncated)."""
    return keras.initializers.VarianceScaling(1.0, "fan_in", "untruncated_normal")


class TemporalGenerator(_LayerLists, keras.Model):
    """TGAN's G0: z0 [N, Z0] -> frame latents z1 [N, T, Z1] in (-1, 1)."""

    def __init__(self, num_frames=16, z1_dim=100, width=512, name="temporal_generator",
                 **kwargs):
        super().__init__(name=name, **kwargs)
        k = int(round(math.log2(num_frames)))
        if 2 ** k != num_frames:
            raise ValueError(f"TGAN's temporal generator needs a power-of-two length, "
                             f"got {num_frames}")
        init = dict(kernel_initializer=chainer_normal(), use_bias=False)
        convs = [layers.Conv1DTranspose(width, 1, **init, name="dc0")]
        for i in range(k - 1):
            convs.append(layers.Conv1DTranspose(max(width // 2 ** (i + 1), width // 4), 4, 2,
                                                "same", **init, name=f"dc{i + 1}"))
        _set_layers(self, "convs", convs)
        _set_layers(self, "norms", [_bn(2e-5, name=f"dc{i}_bn") for i in range(k)])
        self.out = layers.Conv1DTranspose(z1_dim, 4, 2 if k else 1, "same",
                                          kernel_initializer=chainer_normal(), name=f"dc{k}")

    def call(self, z0, training=False):
        x = z0[:, None, :]
        for conv, norm in zip(self.convs, self.norms):
            x = tf.nn.relu(norm(conv(x), training=training))
        return tf.tanh(self.out(x))


class FrameGenerator(_LayerLists, keras.Model):
    """TGAN's G1: (z0 [M, Z0], z1 [M, Z1]) -> frames [M, S, S, C] (M = N * T)."""

    def __init__(self, image_size=64, channels=3, width=512, name="image_generator",
                 **kwargs):
        super().__init__(name=name, **kwargs)
        n = num_doublings(image_size)
        init = dict(kernel_initializer=chainer_normal(), use_bias=False)
        self.width = width
        self.slow = layers.Dense(4 * 4 * (width // 2), **init, name="l0s")
        self.fast = layers.Dense(4 * 4 * (width // 2), **init, name="l0f")
        self.slow_bn, self.fast_bn = _bn(2e-5, name="l0s_bn"), _bn(2e-5, name="l0f_bn")
        _set_layers(self, "convs", [layers.Conv2DTranspose(max(width // 2 ** (i + 1), 1), 4, 2,
                                                           "same", **init, name=f"dc{i + 1}")
                                    for i in range(n)])
        _set_layers(self, "norms", [_bn(2e-5, name=f"dc{i + 1}_bn") for i in range(n)])
        self.out = layers.Conv2DTranspose(channels, 3, 1, "same",
                                          kernel_initializer=chainer_normal(), name="dc_out")

    def call(self, inputs, training=False):
        z0, z1 = inputs
        half = self.width // 2
        slow = tf.nn.relu(self.slow_bn(self.slow(z0), training=training))
        fast = tf.nn.relu(self.fast_bn(self.fast(z1), training=training))
        x = tf.concat([tf.reshape(slow, [-1, 4, 4, half]), tf.reshape(fast, [-1, 4, 4, half])],
                      axis=-1)
        for conv, norm in zip(self.convs, self.norms):
            x = tf.nn.relu(norm(conv(x), training=training))
        return tf.tanh(self.out(x))


def tgan_videos(temporal, frames_net, z0, training=False):
    """TGAN's G: z0 [N, Z0] -> videos [N, T, S, S, C] (G1 on [z0, z1(t)] for each t)."""
    z1 = temporal(z0, training=training)
    n, t = tf.shape(z1)[0], tf.shape(z1)[1]
    slow = tf.reshape(tf.repeat(z0[:, None], t, axis=1), [n * t, z0.shape[-1]])
    fast = tf.reshape(z1, [n * t, z1.shape[-1]])
    frames = frames_net((slow, fast), training=training)
    return tf.reshape(frames, tf.concat([[n, t], tf.shape(frames)[1:]], axis=0))
