"""C3D (Tran et al. 2015) as a Keras model, for UCF101 Inception Scores.

The network of TGAN (Saito et al. 2017) and seed 004's UCF101 Inception
Score: C3D fine-tuned on UCF101 (``conv3d_deepnetA_ucf.npz`` of TGAN's
Chainer port, ``c3d_ucf101_finetune_whole_iter_20000`` of the original):

    conv1a 64 - pool1 (1x2x2) - conv2a 128 - pool2 (2x2x2)
    - conv3a 256 - conv3b 256 - pool3 - conv4a 512 - conv4b 512 - pool4
    - conv5a 512 - conv5b 512 - pool5 - fc6 4096 - fc7 4096 - fc8 101

3x3x3 convolutions (stride 1, padding 1) with ReLU; max pools with stride
equal to the window that cover the whole input (Chainer's ``cover_all``,
i.e. SAME padding: pool5 maps 7x7 to 4x4), so a 16x112x112 clip gives
512x1x4x4 = 8192 inputs to fc6. Dropout is off at inference.

Preprocessing follows TGAN's evaluation: frames resized to 128x128
(bicubic), RGB -> BGR, minus the mean clip of C3D's training data
(``mean2.npz``, [1, 3, 16, 128, 171], centre 128 columns; or per-channel
means when no mean file is given), then the centre 112x112 crop.
TF's bicubic kernel (a = -0.5) differs slightly from OpenCV's (a = -0.75)
that TGAN used. ``activations`` are fc7 (4096, after ReLU); ``logits`` fc8.

Weights: ``load_c3d(path)`` reads TGAN's Chainer .npz (``conv1a/W``
[out, in, t, h, w], ``conv1a/b``, ..., ``fc8/W`` [out, in]; fc6's inputs
are in Chainer's channel-major order and are permuted here) or a
``.weights.h5`` this module wrote (``convert_c3d``).
"""
from __future__ import annotations

import logging
import os

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from tfvidgen.metrics.extractors import Extractor, WeightsMissingError, register_extractor

NUM_FRAMES = 16
CROP = 112
RESIZE = 128
NUM_CLASSES = 101
CONVS = ("conv1a", "conv2a", "conv3a", "conv3b", "conv4a", "conv4b", "conv5a", "conv5b")
WIDTHS = (64, 128, 256, 256, 512, 512, 512, 512)
POOL_AFTER = {"conv1a": (1, 2, 2), "conv2a": (2, 2, 2), "conv3b": (2, 2, 2),
              "conv4b": (2, 2, 2), "conv5b": (2, 2, 2)}
# BGR per-channel means of C3D's training clips (used when no mean file is given).
CHANNEL_MEAN_BGR = (90.25164795, 97.65701294, 101.4083252)
DOWNLOAD_HELP = (
    "C3D weights are not downloaded by tfvidgen. Get TGAN's UCF101 C3D weights "
    "conv3d_deepnetA_ucf.npz and the mean clip mean2.npz (links in the README of "
    "github.com/pfnet-research/tgan and github.com/rezoo/tgan2: "
    "https://github.com/rezoo/tgan2/releases/download/v1.0/conv3d_deepnetA_ucf.npz and "
    ".../mean2.npz) and pass --c3d_path=/path/to/conv3d_deepnetA_ucf.npz "
    "--c3d_mean_path=/path/to/mean2.npz, or a c3d .weights.h5 written by "
    "tfvidgen.metrics.c3d.convert_c3d.")


class C3D(keras.Model):
    """C3D: float clips [N, 16, 112, 112, 3] (BGR, mean-subtracted) -> (fc7, fc8 logits).

    ``widths`` and ``fc_units`` default to the paper's; tests shrink them.
    """

    def __init__(self, num_classes=NUM_CLASSES, widths=WIDTHS, fc_units=4096, name="c3d",
                 **kwargs):
        super().__init__(name=name, **kwargs)
        self.num_classes = num_classes
        self.widths = tuple(widths)
        self.fc_units = fc_units
        for conv, width in zip(CONVS, self.widths):
            setattr(self, conv, layers.Conv3D(width, 3, padding="same", activation="relu",
                                              name=conv))
        self.fc6 = layers.Dense(fc_units, activation="relu", name="fc6")
        self.fc7 = layers.Dense(fc_units, activation="relu", name="fc7")
        self.fc8 = layers.Dense(num_classes, name="fc8")

    def call(self, x, training=False):
        return self.features_and_logits(x, "fc7")

    def features_and_logits(self, x, layer="fc7"):
        """(fc6 or fc7 activations after ReLU, fc8 logits) of preprocessed clips."""
        if layer not in ("fc6", "fc7"):
            raise ValueError(f"C3D features are fc6 or fc7, got {layer!r}")
        for conv in CONVS:
            x = getattr(self, conv)(x)
            if conv in POOL_AFTER:
                window = POOL_AFTER[conv]
                x = tf.nn.max_pool3d(x, [1, *window, 1], [1, *window, 1], "SAME")
        x = tf.reshape(x, [-1, int(np.prod(x.shape[1:]))])
        fc6 = self.fc6(x)
        fc7 = self.fc7(fc6)
        return (fc6 if layer == "fc6" else fc7), self.fc8(fc7)


def build_c3d(num_classes=NUM_CLASSES, widths=WIDTHS, fc_units=4096) -> C3D:
    model = C3D(num_classes, widths, fc_units)
    model(tf.zeros([1, NUM_FRAMES, CROP, CROP, 3]), training=False)
    return model


def assign_chainer_weights(model: C3D, weights) -> None:
    """Assigns Chainer C3D arrays (``conv1a/W``, ``conv1a/b``, ..., ``fc8/b``) to ``model``."""
    def get(key):
        for k in (key, key.replace("/", "_"), "predictor/" + key):
            if k in weights:
                return np.asarray(weights[k], np.float32)
        raise ValueError(f"C3D weights have no {key!r} (keys: {sorted(weights)[:8]}...)")

    assignments = []
    for conv in CONVS:
        layer = getattr(model, conv)
        kernel = get(f"{conv}/W").transpose(2, 3, 4, 1, 0)  # [out, in, t, h, w] -> [t, h, w, in, out]
        assignments += [(layer.kernel, kernel), (layer.bias, get(f"{conv}/b"))]
    # fc6's inputs: Chainer flattens [C, T, H, W]; the Keras model flattens [T, H, W, C].
    fc6 = get("fc6/W")
    width = model.widths[-1]
    spatial = fc6.shape[1] // width
    t = 1
    side = int(round(np.sqrt(spatial // t)))
    fc6 = fc6.reshape(fc6.shape[0], width, t, side, side).transpose(2, 3, 4, 1, 0)
    assignments += [(model.fc6.kernel, fc6.reshape(-1, fc6.shape[-1])),
                    (model.fc6.bias, get("fc6/b"))]
    for fc in ("fc7", "fc8"):
        layer = getattr(model, fc)
        assignments += [(layer.kernel, get(f"{fc}/W").T), (layer.bias, get(f"{fc}/b"))]
    problems = [f"{w.path}: {v.shape} vs {tuple(w.shape)}" for w, v in assignments
                if tuple(v.shape) != tuple(w.shape)]
    if problems:
        raise ValueError("C3D weights do not match the architecture: " + "; ".join(problems))
    for w, v in assignments:
        w.assign(v)


def load_mean(mean_path=None) -> np.ndarray:
    """The BGR mean clip [16, 112, 112, 3] subtracted from C3D's inputs."""
    if mean_path is None:
        return np.broadcast_to(np.asarray(CHANNEL_MEAN_BGR, np.float32),
                               [NUM_FRAMES, CROP, CROP, 3]).copy()
    if not os.path.exists(mean_path):
        raise WeightsMissingError(f"C3D mean clip not found at {mean_path!r}. " + DOWNLOAD_HELP)
    with np.load(mean_path) as d:
        mean = np.asarray(d["mean"], np.float32)
    mean = mean.reshape(3, NUM_FRAMES, RESIZE, -1)            # [C, T, H, W], BGR
    left = (mean.shape[-1] - RESIZE) // 2                       # 171 -> 128 centre columns
    mean = mean[..., left:left + RESIZE]
    off = (RESIZE - CROP) // 2
    return mean[:, :, off:off + CROP, off:off + CROP].transpose(1, 2, 3, 0).copy()


def preprocess(videos, mean: np.ndarray):
    """uint8 RGB [N, 16, H, W, 3] -> BGR float [N, 16, 112, 112, 3] minus the mean clip."""
    videos = tf.convert_to_tensor(videos)
    shape = tf.shape(videos)
    frames = tf.cast(tf.reshape(videos, tf.concat([[-1], shape[2:]], axis=0)), tf.float32)
    frames = tf.image.resize(frames, [RESIZE, RESIZE], method="bicubic")
    off = (RESIZE - CROP) // 2
    frames = frames[:, off:off + CROP, off:off + CROP, ::-1]
    clips = tf.reshape(frames, tf.concat([shape[:2], [CROP, CROP, 3]], axis=0))
    return clips - tf.constant(mean, tf.float32)


def load_c3d(path, **build_kwargs) -> C3D:
    """C3D with weights from TGAN's Chainer .npz or a .weights.h5."""
    if not path or not os.path.isfile(path):
        where = f" at {path!r}" if path else " (no --c3d_path given)"
        raise WeightsMissingError(f"C3D weights not found{where}. " + DOWNLOAD_HELP)
    model = build_c3d(**build_kwargs)
    if path.endswith(".h5"):
        model.load_weights(path)
    elif path.endswith(".npz"):
        with np.load(path) as d:
            assign_chainer_weights(model, {k: d[k] for k in d.files})
    else:
        raise WeightsMissingError(f"{path!r}: expected a .npz or .weights.h5. " + DOWNLOAD_HELP)
    return model


def convert_c3d(npz_path, h5_path, **build_kwargs) -> str:
    """Writes the Chainer weights at ``npz_path`` as a Keras ``.weights.h5``."""
    model = load_c3d(npz_path, **build_kwargs)
    model.save_weights(h5_path)
    logging.info("C3D: wrote %s", h5_path)
    return h5_path


class _LayerOutputs:
    """model(x) -> (activations of ``layer``, logits), the Extractor's model interface."""

    def __init__(self, model: C3D, layer: str):
        self.model, self.layer = model, layer

    def __call__(self, x, training=False):
        return self.model.features_and_logits(x, self.layer)


class C3DExtractor(Extractor):
    """16-frame clips -> fc7 (or fc6) activations (4096) and fc8 logits (101).

    ``features="fc6"`` is seed 004's FID (section 8.3: C3D's fc6, 4096-d,
    instead of pool5's 8192); its name is ``c3d-fc6``, so metric names say
    which layer (``fd_c3d-fc6_10000v_16f``).
    """

    def __init__(self, model: C3D, mean: np.ndarray | None = None, batch_size=16,
                 features: str = "fc7"):
        mean = load_mean() if mean is None else mean
        if features not in ("fc6", "fc7"):
            raise ValueError(f"C3D features are fc6 or fc7, got {features!r}")
        name = "c3d" if features == "fc7" else f"c3d-{features}"
        super().__init__(_LayerOutputs(model, features), lambda v: preprocess(v, mean),
                         name=name, kind="video", num_frames=NUM_FRAMES,
                         batch_size=batch_size, feature_dim=model.fc_units,
                         num_classes=model.num_classes)
        self.c3d = model


@register_extractor("c3d")
def c3d_extractor(path=None, mean_path=None, **kwargs) -> C3DExtractor:
    return C3DExtractor(load_c3d(path), load_mean(mean_path), **kwargs)


@register_extractor("c3d-fc6")
def c3d_fc6_extractor(path=None, mean_path=None, **kwargs) -> C3DExtractor:
    """C3D with fc6 activations: seed 004's FID (section 8.3)."""
    return C3DExtractor(load_c3d(path), load_mean(mean_path), features="fc6", **kwargs)
