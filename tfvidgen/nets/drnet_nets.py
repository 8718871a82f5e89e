"""Networks of DRNet (seed 002, chapter 5; Denton & Birodkar 2017).

* ``ContentEncoder`` E_c: a frame -> (h_c [N, content_dim], skips). The
  DCGAN-64 or VGG-64 frame encoder of ``svg_nets`` (the same blocks as the
  official ``dcgan_64`` / ``vgg_64``), whose last layer's output is scaled
  to unit norm (section 5.3.1); its per-level feature maps are the U-Net
  skip connections to the decoder (KTH, section 5.3.1).
* ``PoseEncoder`` E_p: a frame -> h_p [N, pose_dim], unit norm. ``dcgan``
  / ``vgg`` as E_c without the skips, or ``resnet``: ResNet-18 (basic
  blocks 2-2-2-2 of 64, 128, 256, 512 filters; KTH's E_p) up to a 4x4 map,
  then Conv 4x4 to ``pose_dim``.
* ``Decoder`` D: (h_c, h_p, skips of the content frame) -> frame in [0, 1]:
  ``svg_nets.FrameDecoder`` on the concatenation [h_c, h_p] (the mirrored
  encoder with up-sampling and the skips, sigmoid output; KTH), or
  ``PlainDecoder``, the same without skips (MNIST).
* ``SceneDiscriminator`` C: a pair of pose vectors -> the logit of "same
  video": 2 hidden layers of 100 units with ReLU (section 5.3.1).
* The pose LSTM of Eq. (5.6)-(5.7) is ``svg_nets.PredictorLSTM`` (linear
  embedding, 2 LSTMs of 256 cells, linear output + tanh) with
  ``output_dim = pose_dim``.

Frames go in and come out in [0, 1], as in ``svg_nets``.
"""
from __future__ import annotations

import keras
import tensorflow as tf
from keras import layers

from tfvidgen.nets import svg_nets
from tfvidgen.nets.dcgan import Stack

POSE_ARCHS = ("dcgan", "vgg", "resnet")
# ResNet-18: basic blocks per stage and their widths.
RESNET_STAGES = ((2, 64), (2, 128), (2, 256), (2, 512))


def unit_norm(h):
    """Scales feature vectors [N, D] to unit L2 norm (as PyTorch's F.normalize:
    norms below 1e-12 are taken as 1e-12)."""
    return tf.math.l2_normalize(h, axis=-1, epsilon=1e-24)


class ContentEncoder(keras.Model):
    """E_c: frames [N, S, S, C] in [0, 1] -> (h_c [N, dim] of unit norm, skips)."""

    def __init__(self, arch="dcgan", image_size=64, dim=128, nf=64, name="content_encoder",
                 **kwargs):
        super().__init__(name=name, **kwargs)
        self.body = svg_nets.FrameEncoder(arch, image_size, dim, nf, name="body")

    def call(self, x, training=False):
        h, skips = self.body(x, training=training)
        return unit_norm(h), skips


class _BasicBlock(keras.layers.Layer):
    """ResNet basic block: (Conv 3x3 + BN + ReLU, Conv 3x3 + BN) + shortcut, ReLU."""

    def __init__(self, width, strides=1, project=False, **kwargs):
        super().__init__(**kwargs)
        self.body = Stack([svg_nets._conv(width, 3, strides=strides), svg_nets._bn(),
                           layers.ReLU(), svg_nets._conv(width, 3), svg_nets._bn()],
                          name="body")
        self.shortcut = (Stack([svg_nets._conv(width, 1, strides=strides), svg_nets._bn()],
                               name="shortcut") if project else None)

    def call(self, x, training=False):
        skip = self.shortcut(x, training=training) if self.shortcut is not None else x
        return tf.nn.relu(self.body(x, training=training) + skip)


class ResNetEncoder(keras.Model):
    """ResNet-18 body for S x S frames: Conv 3x3 stride 2 (64) + BN + ReLU, then
    stages of 2 basic blocks (64, 128, 256, 512; stride 2 from the second, one
    more 512 stage per doubling past 64x64) down to 4x4, then Conv 4x4 -> dim.
    """

    def __init__(self, image_size=64, dim=5, nf=64, name="resnet", **kwargs):
        super().__init__(name=name, **kwargs)
        levels = svg_nets.num_levels(image_size)   # stride-2 steps down to 4x4
        scale = nf / 64.0
        stages = list(RESNET_STAGES) + [RESNET_STAGES[-1]] * max(0, levels - 4)
        stages = stages[:max(levels, 1)]
        self.stem = Stack([svg_nets._conv(int(stages[0][1] * scale), 3, strides=2),
                           svg_nets._bn(), layers.ReLU()], name="stem")
        blocks, width_in = [], int(stages[0][1] * scale)
        for s, (count, width) in enumerate(stages):
            width = int(width * scale)
            for b in range(count):
                strides = 2 if (s > 0 and b == 0) else 1
                blocks.append(_BasicBlock(width, strides, project=(strides != 1 or
                                                                    width != width_in),
                                          name=f"stage{s}_block{b}"))
                width_in = width
        self.blocks = Stack(blocks, name="blocks")
        self.head = Stack([svg_nets._conv(dim, 4, padding="valid"), svg_nets._bn(),
                           layers.Activation("tanh"), layers.Flatten()], name="head")

    def call(self, x, training=False):
        return self.head(self.blocks(self.stem(x, training=training), training=training),
                         training=training)


class PoseEncoder(keras.Model):
    """E_p: frames [N, S, S, C] in [0, 1] -> h_p [N, dim] of unit norm."""

    def __init__(self, arch="dcgan", image_size=64, dim=5, nf=64, name="pose_encoder",
                 **kwargs):
        super().__init__(name=name, **kwargs)
        if arch not in POSE_ARCHS:
            raise ValueError(f"pose encoder architecture must be one of {POSE_ARCHS}, "
                             f"got {arch!r}")
        self.arch = arch
        self.body = (ResNetEncoder(image_size, dim, nf, name="body") if arch == "resnet" else
                     svg_nets.FrameEncoder(arch, image_size, dim, nf, name="body"))

    def call(self, x, training=False):
        h = self.body(x, training=training)
        if self.arch != "resnet":
            h = h[0]   # the frame encoder's skips are not used for pose
        return unit_norm(h)


class PlainDecoder(svg_nets.FrameDecoder):
    """The mirrored encoder without skip connections (DRNet's MNIST decoder: "a
    mirrored version of the encoder with 5 deconvolutional layers and a sigmoid
    output layer"). The same levels as ``FrameDecoder``; each takes only the
    previous level's output (its layers build on that narrower input)."""

    def call(self, inputs, training=False):
        x = self.stem(self.reshape(inputs[0]), training=training)
        for level in reversed(range(self.num_levels)):
            if self.arch == "vgg":
                x = self.up(x)
            x = getattr(self, f"up_{level}")(x, training=training)
        return self.out(x)


class Decoder(keras.Model):
    """D: (h_c [N, c], h_p [N, p], skips of the content frame[, index]) -> [N, S, S, C]
    in [0, 1]. With ``skips=False`` the skips are ignored (``PlainDecoder``). With
    ``index`` (int [N]) the skips have their own batch and output n uses skip row
    index[n] (``svg_nets.FrameDecoder``: the skip half of each level's first
    convolution runs once per content frame)."""

    def __init__(self, arch="dcgan", image_size=64, content_dim=128, pose_dim=5, nf=64,
                 channels=1, skips=True, name="decoder", **kwargs):
        super().__init__(name=name, **kwargs)
        self.skips = skips
        kind = svg_nets.FrameDecoder if skips else PlainDecoder
        self.body = kind(arch, image_size, content_dim + pose_dim, nf, channels, name="body")

    def build(self, input_shape):
        self.built = True

    def call(self, inputs, training=False):
        h_c, h_p, skips = inputs[:3]
        g = tf.concat([h_c, h_p], axis=-1)
        if not self.skips:
            return self.body((g,), training=training)
        return self.body((g, skips, *inputs[3:]), training=training)


class SceneDiscriminator(keras.Model):
    """C: (h_p1, h_p2) -> logit that both come from the same video."""

    def __init__(self, width=100, name="scene_discriminator", **kwargs):
        super().__init__(name=name, **kwargs)
        self.body = Stack([layers.Dense(width, activation="relu"),
                           layers.Dense(width, activation="relu"), layers.Dense(1)],
                          name="body")

    def call(self, inputs, training=False):
        h1, h2 = inputs
        return self.body(tf.concat([h1, h2], axis=-1), training=training)[:, 0]
