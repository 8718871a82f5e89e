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
        self.body = [layers.Reshape((1, 1, -1)),
                     layers.Conv2DTranspose(width, 4, strides=1, padding="valid", use_bias=False),
                     batch_norm(), layers.ReLU()]
        for _ in range(n - 1):
            width //= 2
            self.body += [layers.Conv2DTranspose(width, 4, strides=2, padding="same", use_bias=False),
                          batch_norm(), layers.ReLU()]
        self.body += [layers.Conv2DTranspose(channels, 4, strides=2, padding="same", use_bias=False),
                      layers.Activation("tanh")]

    def call(self, z, training=False):
        x = z
        for layer in self.body:
            x = layer(x, training=training) if isinstance(layer, layers.BatchNormalization) else layer(x)
        return x


class PatchImageDiscriminator(keras.Model):
    """D_I: frames [N, S, S, C] -> a 4x4 map of patch logits [N, 4, 4, 1]."""

    def __init__(self, image_size=64, ndf=64, name="image_discriminator", **kwargs):
        super().__init__(name=name, **kwargs)
        n = _num_blocks(image_size)
        self.body = []
        width = ndf
        for i in range(n - 1):
            self.body.append(layers.Conv2D(width, 4, strides=2, padding="same", use_bias=False))
            if i > 0:
                self.body.append(batch_norm())
            self.body.append(layers.LeakyReLU(0.2))
            width *= 2
        self.body.append(layers.Conv2D(1, 4, strides=2, padding="same", use_bias=False))

    def call(self, x, training=False):
        for layer in self.body:
            x = layer(x, training=training) if isinstance(layer, layers.BatchNormalization) else layer(x)
        return x


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
        self.body = []
        width = ndf
        for i in range(n):
            self.body += [layers.ZeroPadding3D((0, 1, 1)),
                          layers.Conv3D(width, 4, strides=(1, 2, 2), padding="valid", use_bias=False)]
            if i > 0:
                self.body.append(batch_norm())
            self.body.append(layers.LeakyReLU(0.2))
            width = min(width * 2, ndf * 8)
        self.body.append(layers.Conv3D(1 + num_categories, 4, padding="valid", use_bias=False))

    def min_frames(self) -> int:
        return 3 * self.num_blocks + 4

    def call(self, x, training=False):
        for layer in self.body:
            x = layer(x, training=training) if isinstance(layer, layers.BatchNormalization) else layer(x)
        return x
