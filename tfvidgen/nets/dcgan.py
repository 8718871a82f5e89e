"""MoCoGAN's image generator and discriminators, for any 2^k frame size.

These are the networks of the official MoCoGAN code (Tulyakov et al., 2018,
``models.py``) that seed 003 reuses for RJGAN and RMoCoGAN:

* ``ImageGenerator`` (G_I): latent [B, d] -> ConvTranspose 4x4 (1x1 -> 4x4,
  8*ngf) then stride-2 ConvTranspose 4x4 blocks halving the width down to
  ngf, BatchNorm + ReLU, and a last stride-2 ConvTranspose to 3 channels with
  tanh. With ngf=64 and 64x64 frames: 512, 256, 128, 64, 3.
* ``PatchImageDiscriminator`` (D_I): stride-2 Conv 4x4 blocks 64, 128+BN,
  256+BN with LeakyReLU 0.2, then Conv 4x4 stride 2 -> one logit per patch
  (a 4x4 map for 64x64 frames).
* ``VideoDiscriminator`` (D_V): Conv3D 4x4x4, stride (1, 2, 2), padding
  (0, 1, 1): 64, 128+BN, 256+BN, 512+BN, LeakyReLU 0.2, then Conv3D 4x4x4 ->
  1 (+ number of categories for the categorical variant). A 16-frame 64x64
  clip gives one output per video.

Other frame sizes add or drop stride-2 blocks (32x32: one fewer; 128x128:
one more), so tests and quick runs can use small frames. BatchNorm uses
PyTorch's defaults (momentum 0.1 == Keras momentum 0.9, epsilon 1e-5) and
convolutions have no bias, as in the official code.
"""
from __future__ import annotations

import math

import keras
from keras import layers


class Stack(keras.layers.Layer):
    """Layers applied in order, each tracked as an attribute (layer_0, layer_1, ...).

    Keras 3 does not expose layers held in a plain Python list to
    ``tf.train.Checkpoint``: their weights (BatchNorm statistics included)
    would silently be left out of checkpoints. Attributes are tracked.
    """

    def __init__(self, stack_layers, **kwargs):
        super().__init__(**kwargs)
        self.num_layers = len(stack_layers)
        for i, layer in enumerate(stack_layers):
            setattr(self, f"layer_{i}", layer)

    @property
    def stack(self):
        return [getattr(self, f"layer_{i}") for i in range(self.num_layers)]

    def call(self, x, training=False):
        for layer in self.stack:
            x = layer(x, training=training) if isinstance(layer, layers.BatchNormalization) else layer(x)
        return x


def _num_blocks(image_size: int) -> int:
    blocks = math.log2(image_size) - 2
    if image_size < 16 or blocks != int(blocks):
        raise ValueError(f"image_size must be a power of two >= 16, got {image_size}")
    return int(blocks)


def batch_norm(name=None):
    """BatchNorm with PyTorch's defaults, as in the official code."""
    return layers.BatchNormalization(momentum=0.9, epsilon=1e-5, name=name)


class ImageGenerator(keras.Model):
    """G_I: maps frame latents [N, latent_dim] to frames [N, S, S, C] in [-1, 1]."""

    def __init__(self, image_size=64, ngf=64, channels=3, name="image_generator", **kwargs):
        super().__init__(name=name, **kwargs)
        self.image_size = image_size
        n = _num_blocks(image_size)
        width = ngf * 2 ** (n - 1)
        body = [layers.Reshape((1, 1, -1)),
                layers.Conv2DTranspose(width, 4, strides=1, padding="valid", use_bias=False),
                batch_norm(), layers.ReLU()]
        for _ in range(n - 1):
            width //= 2
            body += [layers.Conv2DTranspose(width, 4, strides=2, padding="same", use_bias=False),
                     batch_norm(), layers.ReLU()]
        body += [layers.Conv2DTranspose(channels, 4, strides=2, padding="same", use_bias=False),
                 layers.Activation("tanh")]
        self.body = Stack(body, name="body")

    def call(self, z, training=False):
        return self.body(z, training=training)


class PatchImageDiscriminator(keras.Model):
    """D_I: frames [N, S, S, C] -> a 4x4 map of patch logits [N, 4, 4, 1]."""

    def __init__(self, image_size=64, ndf=64, name="image_discriminator", **kwargs):
        super().__init__(name=name, **kwargs)
        n = _num_blocks(image_size)
        body = []
        width = ndf
        for i in range(n - 1):
            body.append(layers.Conv2D(width, 4, strides=2, padding="same", use_bias=False))
            if i > 0:
                body.append(batch_norm())
            body.append(layers.LeakyReLU(0.2))
            width *= 2
        body.append(layers.Conv2D(1, 4, strides=2, padding="same", use_bias=False))
        self.body = Stack(body, name="body")

    def call(self, x, training=False):
        return self.body(x, training=training)


class VideoDiscriminator(keras.Model):
    """D_V: clips [N, T, S, S, C] -> logits [N, T', 1, 1, 1 + num_categories].

    Each block shortens the clip by 3 frames (kernel 4, stride 1, no temporal
    padding) and halves the frame side; the last Conv3D (kernel 4, no
    padding) needs at least 4 frames and a 4x4 map left, so the official
    16-frame 64x64 clip yields T' = 1. Longer clips give T' > 1 logits per
    video (averaged by the losses, as a patch discriminator over time).
    """

    def __init__(self, image_size=64, ndf=64, num_categories=0, name="video_discriminator",
                 **kwargs):
        super().__init__(name=name, **kwargs)
        self.num_categories = num_categories
        n = _num_blocks(image_size)
        self.num_blocks = n
        body = []
        width = ndf
        for i in range(n):
            body += [layers.ZeroPadding3D((0, 1, 1)),
                     layers.Conv3D(width, 4, strides=(1, 2, 2), padding="valid", use_bias=False)]
            if i > 0:
                body.append(batch_norm())
            body.append(layers.LeakyReLU(0.2))
            width = min(width * 2, ndf * 8)
        body.append(layers.Conv3D(1 + num_categories, 4, padding="valid", use_bias=False))
        self.body = Stack(body, name="body")

    def min_frames(self) -> int:
        return 3 * self.num_blocks + 4

    def call(self, x, training=False):
        return self.body(x, training=training)
