"""Networks of SVG (seed 002, chapter 6; Denton & Fergus 2018): frame encoders and
decoders with skip connections, and the LSTMs theta, phi and psi.

Frame encoder / decoder (section 6.3.1, the official ``models/dcgan_64.py``,
``vgg_64.py`` and their 128x128 versions), for any power-of-two frame side
S >= 16 with L = log2(S) - 2 levels of widths ``nf * min(2**l, 8)``
(64x64: 64, 128, 256, 512; 128x128: 64, 128, 256, 512, 512):

* ``dcgan``: each level is Conv 4x4 stride 2 + BatchNorm + LeakyReLU(0.2);
  then Conv 4x4 (valid, 4x4 -> 1x1) to ``g_dim`` + BatchNorm + tanh. The
  decoder mirrors it: ConvTranspose 4x4 (1x1 -> 4x4) + BN + LeakyReLU, then
  per level the encoder's feature map of that level is concatenated
  (skip connection) before a ConvTranspose 4x4 stride 2 (+ BN + LeakyReLU),
  the last one to the frame's channels with a sigmoid.
* ``vgg``: VGG16 up to its last pooling: levels of 2, 2, 3, 3 (then 3, ...)
  Conv 3x3 + BN + LeakyReLU(0.2), 2x2 max-pooling between levels, then
  Conv 4x4 valid to ``g_dim`` + BN + tanh. The decoder mirrors it with
  nearest-neighbour up-sampling in place of pooling, skip connections at
  every level and a last ConvTranspose 3x3 to the channels + sigmoid.

The encoder returns ``(h, skips)``: h [N, g_dim] in (-1, 1) and the L
feature maps (finest first) that the decoder takes as skip connections.
Frames go in and come out in [0, 1] (the decoder's sigmoid), as in the
official code; ``tfvidgen.models.svg`` converts from and to the pipeline's
[-1, 1].

Recurrent parts (section 6.3.1): ``PredictorLSTM`` is LSTM_theta (linear
embedding, ``layers`` LSTMs of ``hidden`` cells, linear output + tanh);
``GaussianLSTM`` is LSTM_phi / LSTM_psi (linear embedding, LSTMs, linear
heads for the mean and log-variance of z). Both run over a whole sequence at
once (teacher-forced training, the context of a prediction) and one step at
a time (generation) with the same weights.

Initialisation follows the official ``utils.init_weights``: conv kernels
N(0, 0.02), BatchNorm scales N(1, 0.02); Keras defaults elsewhere.
Convolutions followed by BatchNorm have no bias (BatchNorm's offset makes it
redundant).
"""
from __future__ import annotations

import math

import keras
import tensorflow as tf
from keras import layers

from tfvidgen.nets.dcgan import Stack

ARCHS = ("dcgan", "vgg")
# Conv 3x3 layers per level of the VGG encoder (VGG16's blocks; 3 beyond).
VGG_LAYERS = (2, 2, 3, 3)


def num_levels(image_size: int) -> int:
    """Stride-2 levels between a frame and the 4x4 map (64x64: 4, 128x128: 5)."""
    levels = math.log2(image_size) - 2
    if image_size < 16 or levels != int(levels):
        raise ValueError(f"image_size must be a power of two >= 16, got {image_size}")
    return int(levels)


def level_widths(image_size: int, nf: int) -> list[int]:
    """Feature widths of the levels, finest first: nf * min(2**l, 8)."""
    return [nf * min(2 ** level, 8) for level in range(num_levels(image_size))]


def _vgg_count(level: int) -> int:
    return VGG_LAYERS[level] if level < len(VGG_LAYERS) else VGG_LAYERS[-1]


def _init():
    return keras.initializers.RandomNormal(0.0, 0.02)


def _bn():
    # PyTorch's BatchNorm defaults (Keras momentum 0.9 == PyTorch momentum 0.1).
    return layers.BatchNormalization(momentum=0.9, epsilon=1e-5,
                                     gamma_initializer=keras.initializers.RandomNormal(1.0, 0.02))


def _conv(width, kernel, strides=1, padding="same", bias=False):
    return layers.Conv2D(width, kernel, strides=strides, padding=padding, use_bias=bias,
                         kernel_initializer=_init())


def _deconv(width, kernel, strides=1, padding="same", bias=False):
    return layers.Conv2DTranspose(width, kernel, strides=strides, padding=padding,
                                  use_bias=bias, kernel_initializer=_init())


def _block(conv):
    """conv + BatchNorm + LeakyReLU(0.2): dcgan_conv / dcgan_upconv / vgg_layer."""
    return [conv, _bn(), layers.LeakyReLU(0.2)]


class FrameEncoder(keras.Model):
    """Enc: frames [N, S, S, C] in [0, 1] -> (h [N, g_dim], skips)."""

    def __init__(self, arch="dcgan", image_size=64, g_dim=128, nf=64, name="encoder",
                 **kwargs):
        super().__init__(name=name, **kwargs)
        if arch not in ARCHS:
            raise ValueError(f"encoder architecture must be one of {ARCHS}, got {arch!r}")
        self.arch, self.image_size, self.g_dim = arch, image_size, g_dim
        widths = level_widths(image_size, nf)
        self.num_levels = len(widths)
        for level, width in enumerate(widths):
            if arch == "dcgan":
                body = _block(_conv(width, 4, strides=2))
            else:
                body = [layer for _ in range(_vgg_count(level)) for layer in _block(_conv(width, 3))]
            setattr(self, f"level_{level}", Stack(body, name=f"level_{level}"))
        self.pool = layers.MaxPooling2D(2)
        self.head = Stack([_conv(g_dim, 4, padding="valid"), _bn(), layers.Activation("tanh"),
                           layers.Flatten()], name="head")

    def call(self, x, training=False):
        skips = []
        for level in range(self.num_levels):
            if self.arch == "vgg" and level > 0:
                x = self.pool(x)
            x = getattr(self, f"level_{level}")(x, training=training)
            skips.append(x)
        if self.arch == "vgg":
            x = self.pool(x)
        return self.head(x, training=training), skips


class FrameDecoder(keras.Model):
    """Dec: (g [N, g_dim], skips) -> frames [N, S, S, channels] in [0, 1] (sigmoid)."""

    def __init__(self, arch="dcgan", image_size=64, g_dim=128, nf=64, channels=1,
                 name="decoder", **kwargs):
        super().__init__(name=name, **kwargs)
        if arch not in ARCHS:
            raise ValueError(f"decoder architecture must be one of {ARCHS}, got {arch!r}")
        self.arch, self.image_size, self.g_dim, self.channels = arch, image_size, g_dim, channels
        widths = level_widths(image_size, nf)
        self.num_levels = len(widths)
        self.reshape = layers.Reshape((1, 1, g_dim))
        self.stem = Stack(_block(_deconv(widths[-1], 4, padding="valid")), name="stem")
        self.up = layers.UpSampling2D(2, interpolation="nearest")
        # up_<level> consumes [previous, skip of that level]; levels coarsest first.
        for level in reversed(range(self.num_levels)):
            if arch == "dcgan":
                if level > 0:
                    body = _block(_deconv(widths[level - 1], 4, strides=2))
                else:
                    body = [_deconv(channels, 4, strides=2, bias=True)]
            else:
                body = [layer for _ in range(_vgg_count(level) - 1)
                        for layer in _block(_conv(widths[level], 3))]
                if level > 0:
                    body += _block(_conv(widths[level - 1], 3))
                else:
                    body += [_deconv(channels, 3, bias=True)]
            setattr(self, f"up_{level}", Stack(body, name=f"up_{level}"))
        self.out = layers.Activation("sigmoid")

    def build(self, input_shape):
        # Sublayers build on the first call: the (g, skips) input has no single shape.
        self.built = True

    def call(self, inputs, training=False):
        """``(g, skips)``, or ``(g, skips, index)`` with shared skips (see below).

        With ``index`` (int [N]), the skips have their own batch [M, ...] and
        output n uses skip row ``index[n]``: the result is that of
        ``(g, [tf.gather(s, index) for s in skips])``, but the first
        convolution of each level, linear in [x, skip], is split into its x
        and skip halves (``_split_conv``) and the skip half runs on the M
        distinct skips only, before the gather. SVG decodes T - 1 steps whose
        skips come from the n_past context frames only (section 6.3.1), so
        this runs that half on n_past instead of T - 1 frames per video.
        """
        g, skips = inputs[0], inputs[1]
        index = inputs[2] if len(inputs) > 2 else None
        x = self.stem(self.reshape(g), training=training)
        for level in reversed(range(self.num_levels)):
            if self.arch == "vgg":
                x = self.up(x)
            stack = getattr(self, f"up_{level}")
            if index is None:
                x = stack(tf.concat([x, skips[level]], axis=-1), training=training)
                continue
            x = _split_conv(stack.stack[0], x, skips[level], index)
            for layer in stack.stack[1:]:
                x = (layer(x, training=training)
                     if isinstance(layer, layers.BatchNormalization) else layer(x))
        return self.out(x)


def _split_conv(conv, x, skip, index):
    """``conv(concat([x, gather(skip, index)], -1))`` as conv_x(x) + gather(conv_s(skip)).

    ``conv`` is a built Conv2D / Conv2DTranspose layer (no activation) whose
    input channels are x's then skip's; its kernel is sliced on the input
    axis (Conv2D: axis 2; Conv2DTranspose: axis 3), so the weights, their
    gradients and the checkpoint layout are those of the one layer. The
    convolution is linear, so the result equals the concatenated call up to
    float rounding.
    """
    cx = x.shape[-1]
    transpose = isinstance(conv, layers.Conv2DTranspose)
    kernel = conv.kernel
    if transpose:
        k_x, k_s = kernel[:, :, :, :cx], kernel[:, :, :, cx:]
    else:
        k_x, k_s = kernel[:, :, :cx, :], kernel[:, :, cx:, :]

    def apply(inputs, k):
        if transpose:
            return keras.ops.conv_transpose(
                inputs, k, strides=list(conv.strides), padding=conv.padding,
                output_padding=conv.output_padding, dilation_rate=conv.dilation_rate,
                data_format=conv.data_format)
        return conv.convolution_op(inputs, k)

    with tf.name_scope(conv.name):
        y = apply(x, k_x) + tf.gather(apply(skip, k_s), index)
        if conv.use_bias:
            y = y + conv.bias
    return y


class _RecurrentStack(keras.Model):
    """Linear embedding then ``num_layers`` LSTMs of ``hidden`` cells.

    ``run`` takes a whole sequence (cuDNN-eligible Keras LSTM layers);
    ``step`` advances one time step through the same layers' cells.
    A state is a tuple (h_1, c_1, ..., h_L, c_L) of [B, hidden] tensors.
    """

    def __init__(self, hidden, num_layers, name, **kwargs):
        super().__init__(name=name, **kwargs)
        self.hidden, self.num_layers = hidden, num_layers
        self.embed = layers.Dense(hidden, name="embed")
        for i in range(num_layers):
            setattr(self, f"lstm_{i}", layers.LSTM(hidden, return_sequences=True,
                                                   return_state=True, name=f"lstm_{i}"))

    def _lstm(self, i):
        return getattr(self, f"lstm_{i}")

    def zero_state(self, batch_size):
        zeros = tf.zeros(tf.stack([batch_size, self.hidden]))
        return tuple(zeros for _ in range(2 * self.num_layers))

    def run(self, sequence, state=None):
        """[B, T, D] -> ([B, T, hidden] top-layer outputs, final state)."""
        x = self.embed(sequence)
        out_state = []
        for i in range(self.num_layers):
            initial = None if state is None else [state[2 * i], state[2 * i + 1]]
            x, h, c = self._lstm(i)(x, initial_state=initial)
            out_state += [h, c]
        return x, tuple(out_state)

    def step(self, x, state):
        """[B, D] and a state -> ([B, hidden], next state)."""
        x = self.embed(x)
        out_state = []
        for i in range(self.num_layers):
            x, (h, c) = self._lstm(i).cell(x, [state[2 * i], state[2 * i + 1]])
            out_state += [h, c]
        return x, tuple(out_state)


class PredictorLSTM(_RecurrentStack):
    """LSTM_theta: [h_{t-1}, z_t] -> g_t = tanh(linear(LSTM(...))) in (-1, 1)^g_dim."""

    def __init__(self, output_dim=128, hidden=256, num_layers=2, name="frame_predictor",
                 **kwargs):
        super().__init__(hidden, num_layers, name=name, **kwargs)
        self.output_dim = output_dim
        self.out = layers.Dense(output_dim, activation="tanh", name="output")

    def call(self, sequence, state=None):
        """[B, T, D] -> ([B, T, output_dim], final state)."""
        x, state = self.run(sequence, state)
        return self.out(x), state

    def step(self, x, state):
        x, state = super().step(x, state)
        return self.out(x), state


class GaussianLSTM(_RecurrentStack):
    """LSTM_phi (posterior q(z_t | x_1:t)) or LSTM_psi (prior p(z_t | x_1:t-1)).

    Returns the mean and log-variance of a diagonal Gaussian over z.
    """

    def __init__(self, z_dim=10, hidden=256, num_layers=1, name="posterior", **kwargs):
        super().__init__(hidden, num_layers, name=name, **kwargs)
        self.z_dim = z_dim
        self.mu = layers.Dense(z_dim, name="mu")
        self.logvar = layers.Dense(z_dim, name="logvar")

    def call(self, sequence, state=None):
        """[B, T, D] -> (mu [B, T, z], logvar [B, T, z], final state)."""
        x, state = self.run(sequence, state)
        return self.mu(x), self.logvar(x), state

    def step(self, x, state):
        x, state = super().step(x, state)
        return self.mu(x), self.logvar(x), state
